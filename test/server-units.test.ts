/** The server's pure parts: framing, login policy, address preparation, one-line logs. */
import { describe, expect, jest, test } from "@jest/globals";
import fc from "fast-check";
import { FramingError, XmlFramer, type FramerEvent } from "../src/server/transport/xml-framer.js";
import { LoginLimiter } from "../src/auth/policy/login-limiter.js";
import { WindowCounter } from "../src/auth/policy/window-counter.js";
import { prepareAddress } from "../src/server/address.js";
import { randomHex } from "../src/server/random-id.js";
import { Writable } from "node:stream";
import { oneLine, stderrLogger } from "../src/server/log.js";

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

  test("the limit holds to the byte in long text and long attribute values, however the bytes are cut", () => {
    const limit = 40;
    const frame = (element: string, cuts: number[]) => {
      const framer = new XmlFramer(limit);
      framer.push(Buffer.from("<s:stream>"));
      const bytes = Buffer.from(element);
      let from = 0;
      const events: FramerEvent[] = [];
      for (const cut of [...cuts, bytes.length]) {
        events.push(...framer.push(bytes.subarray(from, cut)));
        from = cut;
      }
      return events;
    };
    for (let size = limit - 3; size <= limit + 3; size++) {
      for (const element of [`<m>${"t".repeat(size - 7)}</m>`, `<m a='${"v".repeat(size - 9)}'/>`, `<m b="${"é".repeat((size - 9) / 2)}"/>`]) {
        const bytes = Buffer.byteLength(element);
        if (bytes !== size) continue; // the two-byte é does not fit every size
        for (let cut = 0; cut <= bytes; cut++) {
          if (size <= limit) expect(frame(element, [cut])).toEqual([{ kind: "element", text: element }]);
          else expect(() => frame(element, [cut])).toThrow(expect.objectContaining({ condition: "policy-violation" }));
        }
      }
    }
  });

  test("streams framed in turn, each with elements cut across its packets, never see each other's bytes", () => {
    const streams = ["a", "b", "c"].map((who) => {
      const text = `<s:stream to='${who}'><message id='${who}1'><body>${who.repeat(300)}</body></message><presence id='${who}2'/><iq id='${who}3'><q xmlns='urn:${who}'/></iq></s:stream>`;
      return { who, bytes: Buffer.from(text), expected: frameInChunks(Buffer.from(text), []), framer: new XmlFramer(10_000), at: 0, events: [] as FramerEvent[] };
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 120 })), { minLength: 1, maxLength: 200 }), (turns) => {
        for (const s of streams) {
          s.framer = new XmlFramer(10_000);
          s.at = 0;
          s.events = [];
        }
        for (const [which, size] of [...turns, ...streams.map((_, i) => [i, 100_000] as [number, number])]) {
          const s = streams[which]!;
          if (s.at >= s.bytes.length) continue;
          s.events.push(...s.framer.push(s.bytes.subarray(s.at, s.at + size)));
          s.at += size;
        }
        for (const s of streams) expect(s.events).toEqual(s.expected);
      }),
      { numRuns: 300 },
    );
  });

  test("a '<' in an attribute value is refused wherever it falls in a long value", () => {
    for (let at = 0; at < 30; at++) {
      const value = "v".repeat(at) + "<" + "v".repeat(30 - at);
      const framer = new XmlFramer(1000);
      framer.push(Buffer.from("<s:stream>"));
      expect(() => framer.push(Buffer.from(`<m a='${value}'/>`))).toThrow(/'<' in an attribute value/);
      const other = new XmlFramer(1000);
      other.push(Buffer.from("<s:stream>"));
      expect(() => other.push(Buffer.from(`<m a="${value}"/>`))).toThrow(/'<' in an attribute value/);
    }
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

  test("after a SASL restart (replaceStream), the replaced stream's closing tag in place of the new header is the peer closing", () => {
    // On the same bytes the peer's old header is still open: its close is well-formed there.
    const replaced = new XmlFramer(1000);
    replaced.push(Buffer.from("<stream:stream to='x'>"));
    replaced.replaceStream();
    expect(replaced.push(Buffer.from(" </stream:stream>"))).toEqual([{ kind: "close" }]);
    // Only that name, and only before a new header: anything else at depth 0 is still refused.
    const other = new XmlFramer(1000);
    other.push(Buffer.from("<stream:stream>"));
    other.replaceStream();
    expect(() => other.push(Buffer.from("</s:stream>"))).toThrow(/expected a stream header/);
    const restarted = new XmlFramer(1000);
    restarted.push(Buffer.from("<stream:stream>"));
    restarted.replaceStream();
    expect(restarted.push(Buffer.from("<stream:stream><a/></stream:stream>")).map((e) => e.kind)).toEqual(["header", "element", "close"]);
    expect(() => restarted.push(Buffer.from("</stream:stream>"))).toThrow(/expected a stream header/);
    // STARTTLS (reset) starts new bytes, TLS's: nothing is open on them to close.
    const tls = new XmlFramer(1000);
    tls.push(Buffer.from("<stream:stream>"));
    tls.reset();
    expect(() => tls.push(Buffer.from("</stream:stream>"))).toThrow(/expected a stream header/);
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

  test("LoginLimiter: the IP limit refuses before the check; aborts are not its business; per-connection budget", async () => {
    // The in-memory counters (rate-limiter-flexible) read Date.now and expire keys with timers.
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    try {
      await ipLimitScenario();
    } finally {
      jest.useRealTimers();
    }
  });

  async function ipLimitScenario() {
    const limiter = new LoginLimiter({
      limits: { maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIpPerMinute: 3, maxAuthFailuresPerJidPerMinute: 2 },
    });
    expect(await limiter.admit("10.0.0.1")).toBe(true);
    await limiter.settle({ ip: "10.0.0.1", jid: "a@x", result: "refused" });
    await limiter.settle({ ip: "10.0.0.1", result: "failed" }); // malformed, no JID known
    expect(await limiter.admit("10.0.0.1")).toBe(true);
    await limiter.settle({ ip: "10.0.0.1", result: "failed" }); // refused by the IP limit itself: still counts for the IP
    expect(await limiter.admit("10.0.0.1")).toBe(false); // the IP is used up, for anyone
    expect(await limiter.admit("10.0.0.2")).toBe(true);
    jest.advanceTimersByTime(59_000);
    expect(await limiter.admit("10.0.0.1")).toBe(false);
    jest.advanceTimersByTime(1_000);
    expect(await limiter.admit("10.0.0.1")).toBe(true);
    expect(limiter.maxFailuresPerConnection).toBe(3);
  }

  test("LoginLimiter: a valid token is never refused because of others' failures (issue 7 #5)", async () => {
    const limiter = new LoginLimiter({
      limits: { maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIpPerMinute: 1000, maxAuthFailuresPerJidPerMinute: 2 },
      holdBackSeconds: 2,
    });
    // Malformed attempts and attempts the IP limit refused never count against the JID.
    for (let i = 0; i < 10; i++) {
      expect(await limiter.settle({ ip: `10.0.1.${i}`, jid: "bob@x", result: "failed" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
    }
    // Refused checks do; from the limit on, failures are answered late and marked for the log...
    expect(await limiter.settle({ ip: "10.0.2.1", jid: "bob@x", result: "refused" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
    expect(await limiter.settle({ ip: "10.0.2.2", jid: "bob@x", result: "refused" })).toEqual({ jidOverLimit: true, holdBackSeconds: 2 });
    // ...but nothing is ever refused by the JID's count: admit() does not take a JID, and a success is answered at once.
    expect(await limiter.admit("10.0.3.1")).toBe(true);
    expect(await limiter.settle({ ip: "10.0.3.1", jid: "bob@x", result: "success" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
    // Another JID is untouched.
    expect(await limiter.settle({ ip: "10.0.2.2", jid: "carol@x", result: "refused" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
  });

  test("LoginLimiter takes other counters (a shared store), sync or async", async () => {
    const seen: string[] = [];
    const counter = (name: string) => ({
      record: async (key: string) => void seen.push(`${name} ${key}`),
      isOver: async (key: string) => key === "10.9.9.9",
    });
    const limiter = new LoginLimiter({
      limits: { maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIpPerMinute: 1, maxAuthFailuresPerJidPerMinute: 1 },
      counters: { byIp: counter("ip"), byJid: counter("jid") },
    });
    expect(await limiter.admit("10.9.9.9")).toBe(false);
    expect(await limiter.admit("10.0.0.1")).toBe(true);
    await limiter.settle({ ip: "10.0.0.1", jid: "a@x", result: "refused" });
    expect(seen).toEqual(["ip 10.0.0.1", "jid a@x"]);
  });
});

describe("addresses and log lines", () => {
  test("prepareAddress folds case and keeps the resource; refuses what is not a JID", () => {
    expect(prepareAddress("Bob@EXAMPLE.test/Phone")).toEqual({ bare: "bob@example.test", resource: "Phone", full: "bob@example.test/Phone", domain: "example.test" });
    expect(prepareAddress("Example.TEST")).toEqual({ bare: "example.test", resource: null, full: "example.test", domain: "example.test" });
    for (const bad of ["a@b@c", "bob@", "bob@example.test/", "bob@exa mple.test", "bob@example.test/\n"]) expect(prepareAddress(bad)).toBeNull();
  });

  test("oneLine turns control characters into visible escapes", () => {
    expect(oneLine("authentication failed for a\nwarn authenticated b\r")).toBe("authentication failed for a\\x0awarn authenticated b\\x0d");
    expect(oneLine("plain line")).toBe("plain line");
  });
});

describe("stderrLogger", () => {
  function capture(): { stream: NodeJS.WritableStream; writes: string[] } {
    const writes: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        writes.push(String(chunk));
        done();
      },
    });
    return { stream, writes };
  }

  test("lines are written together, within 100 ms, in order", async () => {
    const { stream, writes } = capture();
    const log = stderrLogger(stream);
    log.info("first");
    log.warn("second");
    expect(writes).toEqual([]);
    for (let i = 0; i < 50 && writes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\S+ info x-token: first\n\S+ warn x-token: second\n$/);
  });

  test("a flood within one turn is written in bounded batches and nothing is lost", async () => {
    const { stream, writes } = capture();
    const log = stderrLogger(stream);
    for (let i = 0; i < 1000; i++) log.warn(`line ${i}`);
    expect(writes.length).toBeGreaterThanOrEqual(3); // batches were forced during the turn
    for (let i = 0; i < 50 && writes.join("").split("\n").length <= 1000; i++) await new Promise((r) => setTimeout(r, 10));
    const lines = writes.join("").trimEnd().split("\n");
    expect(lines).toHaveLength(1000);
    expect(lines.every((line, i) => line.endsWith(` warn x-token: line ${i}`))).toBe(true);
    expect(Math.max(...writes.map((w) => w.split("\n").length - 1))).toBeLessThanOrEqual(256);
  });
});

describe("randomHex (stream ids, resources)", () => {
  test("hex of the asked length, never the same twice, across many refills of the block", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = randomHex(12);
      expect(id).toMatch(/^[0-9a-f]{24}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5000);
    expect(randomHex(1)).toMatch(/^[0-9a-f]{2}$/);
    expect(randomHex(4096)).toMatch(/^[0-9a-f]{8192}$/);
  });

  test("the bytes look uniform (each hex digit about 1/16 of 200 000)", () => {
    const counts = new Map<string, number>();
    for (const c of Array.from({ length: 25 }, () => randomHex(4000)).join("")) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(16);
    for (const n of counts.values()) expect(Math.abs(n / 200_000 - 1 / 16)).toBeLessThan(0.005);
  });

  test("a size outside 1..4096 is a RangeError", () => {
    for (const bad of [0, -1, 1.5, 4097, Number.NaN]) expect(() => randomHex(bad)).toThrow(RangeError);
  });
});
