/** The server's pure parts: framing, login policy, address preparation, one-line logs. */
import { describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import { FramingError, XmlFramer, type FramerEvent } from "../src/server/transport/xml-framer.js";
import { LoginLimiter } from "../src/auth/policy/login-limiter.js";
import { WindowCounter } from "../src/auth/policy/window-counter.js";
import { prepareAddress } from "../src/server/address.js";
import { oneLine } from "../src/server/log.js";

const STREAM =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='1.0'>" +
  " <message to='a@example.test' a='x>y' b=\"'\"><body>jürgen 😀 &amp; 1 > 0</body></message>\n" +
  "<presence/><iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>";

function frameInChunks(bytes: Buffer, cuts: number[]): FramerEvent[] {
  const framer = new XmlFramer(10_000);
  const events: FramerEvent[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...framer.push(bytes.subarray(start, cut)));
    start = cut;
  }
  return events;
}

describe("XmlFramer", () => {
  test("cuts a stream into header, elements and close", () => {
    const events = frameInChunks(Buffer.from(STREAM), []);
    expect(events.map((e) => e.kind)).toEqual(["header", "element", "element", "element", "close"]);
    expect(events[1]).toEqual({ kind: "element", text: "<message to='a@example.test' a='x>y' b=\"'\"><body>jürgen 😀 &amp; 1 > 0</body></message>" });
    expect(events[2]).toEqual({ kind: "element", text: "<presence/>" });
  });

  test("gives the same events however the bytes are cut (split UTF-8 included)", () => {
    const bytes = Buffer.from(STREAM);
    const whole = frameInChunks(bytes, []);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), (cuts) => {
        expect(frameInChunks(bytes, cuts.sort((a, b) => a - b))).toEqual(whole);
      }),
    );
    for (let cut = 1; cut < bytes.length; cut++) expect(frameInChunks(bytes, [cut])).toEqual(whole);
  });

  test("counts bytes, not characters, and a pending unterminated tag counts too", () => {
    const framer = new XmlFramer(20);
    framer.push(Buffer.from("<stream:stream>"));
    expect(() => framer.push(Buffer.from("<m>" + "é".repeat(9)))).toThrow(FramingError); // 3 + 18 bytes
    const again = new XmlFramer(20);
    again.push(Buffer.from("<stream:stream>"));
    expect(again.push(Buffer.from("<m>" + "é".repeat(6) + "</m>"))).toEqual([{ kind: "element", text: "<m>éééééé</m>" }]); // 19 bytes
    const open = new XmlFramer(20);
    open.push(Buffer.from("<stream:stream>"));
    open.push(Buffer.from("<message to='"));
    expect(() => open.push(Buffer.from("x".repeat(10)))).toThrow(/larger than 20 bytes/);
  });

  test("keeps failing after an error, and a raise of the limit applies to the next element", () => {
    const framer = new XmlFramer(10);
    framer.push(Buffer.from("<s:stream>"));
    expect(() => framer.push(Buffer.from("<!-- -->"))).toThrow(expect.objectContaining({ condition: "restricted-xml" }));
    expect(() => framer.push(Buffer.from("<a/>"))).toThrow(expect.objectContaining({ condition: "restricted-xml" }));
    const raised = new XmlFramer(10);
    raised.push(Buffer.from("<s:stream>"));
    raised.maxBytes = 100;
    expect(raised.push(Buffer.from(`<a>${"x".repeat(50)}</a>`))).toHaveLength(1);
  });

  test("reset() starts a new stream: a header again, and the declaration allowed again", () => {
    const framer = new XmlFramer(1000);
    framer.push(Buffer.from("<stream:stream>"));
    framer.reset();
    expect(framer.push(Buffer.from("<?xml version='1.0'?><stream:stream to='x'>")).map((e) => e.kind)).toEqual(["header"]);
  });

  test("singleElement accepts exactly one complete element", () => {
    expect(XmlFramer.singleElement(" <a x='1'><b/></a>\n", 100)).toBe("<a x='1'><b/></a>");
    for (const bad of ["<a/><b/>", "<a>", "<a/>x", "x<a/>", "</a>", "<a></b>", "<", ""]) {
      expect(() => XmlFramer.singleElement(bad, 100)).toThrow(FramingError);
    }
    expect(() => XmlFramer.singleElement("<a><!-- --></a>", 100)).toThrow(expect.objectContaining({ condition: "restricted-xml" }));
    expect(() => XmlFramer.singleElement("<a>" + "<b>".repeat(3) + "</b>".repeat(3) + "</a>", 100, 3)).toThrow(
      expect.objectContaining({ condition: "policy-violation" }),
    );
    expect(XmlFramer.singleElement("<a>" + "<b>".repeat(2) + "</b>".repeat(2) + "</a>", 100, 3)).toHaveLength(21);
  });
});

describe("login policy", () => {
  test("WindowCounter: over after `limit` events in the window, under again as they age out", () => {
    let now = 1000;
    const counter = new WindowCounter({ limit: 3, windowSeconds: 60, now: () => now });
    counter.record("ip");
    counter.record("ip");
    expect(counter.isOver("ip")).toBe(false);
    counter.record("ip");
    expect(counter.isOver("ip")).toBe(true);
    expect(counter.isOver("other")).toBe(false);
    now += 59;
    expect(counter.isOver("ip")).toBe(true);
    now += 1;
    expect(counter.isOver("ip")).toBe(false);
  });

  test("WindowCounter forgets the key seen longest ago when full (bounded memory)", () => {
    const counter = new WindowCounter({ limit: 1, maxKeys: 2, now: () => 0 });
    counter.record("a");
    counter.record("b");
    counter.record("a"); // a is now the most recent
    counter.record("c"); // b goes
    expect([counter.isOver("a"), counter.isOver("b"), counter.isOver("c")]).toEqual([true, false, true]);
  });

  test("LoginLimiter: IP and JID limits, aborts not counted, per-connection limit", () => {
    let now = 0;
    const limiter = new LoginLimiter({
      limits: { maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIpPerMinute: 3, maxAuthFailuresPerJidPerMinute: 2 },
      now: () => now,
    });
    expect(limiter.recordFailure("aborted", "10.0.0.1", "a@x")).toBe(false);
    expect(limiter.allows("10.0.0.1", "a@x")).toBe(true);
    limiter.recordFailure("not-authorized", "10.0.0.1", "a@x");
    limiter.recordFailure("not-authorized", "10.0.0.2", "a@x");
    expect(limiter.allows("10.0.0.3", "a@x")).toBe(false); // the JID is used up, from any IP
    expect(limiter.allows("10.0.0.1", "b@x")).toBe(true);
    limiter.recordFailure("malformed-request", "10.0.0.1"); // no JID known
    limiter.recordFailure("temporary-auth-failure", "10.0.0.1", "b@x");
    expect(limiter.allows("10.0.0.1", "c@x")).toBe(false); // the IP is used up, for anyone
    now += 60;
    expect(limiter.allows("10.0.0.1", "a@x")).toBe(true);
    expect([2, 3].map((n) => limiter.connectionExhausted(n))).toEqual([false, true]);
  });
});

describe("addresses and log lines", () => {
  test("prepareAddress folds case and keeps the resource; refuses what is not a JID", () => {
    expect(prepareAddress("Bob@EXAMPLE.test/Phone")).toEqual({ bare: "bob@example.test", resource: "Phone", full: "bob@example.test/Phone" });
    expect(prepareAddress("Example.TEST")).toEqual({ bare: "example.test", resource: null, full: "example.test" });
    for (const bad of ["a@b@c", "bob@", "bob@example.test/", "bob@exa mple.test", "bob@example.test/\n"]) expect(prepareAddress(bad)).toBeNull();
  });

  test("oneLine turns control characters into visible escapes", () => {
    expect(oneLine("authentication failed for a\nwarn authenticated b\r")).toBe("authentication failed for a\\x0awarn authenticated b\\x0d");
    expect(oneLine("plain line")).toBe("plain line");
  });
});
