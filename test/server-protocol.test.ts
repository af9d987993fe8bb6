/** The server's stream handling, spoken to with raw sockets: negotiation, errors and XML guards. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { WebSocket } from "ws";
import { DOMAIN, RawClient, WsClient, loginRaw, saslAuth, startTestServer, streamHeader, wsOpen, type TestServer } from "./helpers/server.js";

let t: TestServer; // require TLS (the default); WebSocket from loopback counts as TLS-protected (loopbackWebSocketIsSecure)
let open: TestServer; // XMPP_REQUIRE_TLS=false, short timeouts and small limits
const clients: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ loopbackWebSocketIsSecure: true });
  open = await startTestServer({
    requireTls: false,
    limits: { authTimeoutSeconds: 1, maxStanzaBytesBeforeAuth: 2048, maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIpPerMinute: 1000 },
  });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await Promise.all([t.close(), open.close()]);
});

async function connect(server: TestServer = open): Promise<RawClient> {
  const client = await RawClient.connect(server.server.ports.c2s!);
  clients.push(client);
  return client;
}

/** Opens a stream and waits for its features. */
async function opened(server: TestServer = open): Promise<RawClient> {
  const client = await connect(server);
  client.write(streamHeader());
  await client.waitFor("</stream:features>");
  return client;
}

async function expectStreamError(client: RawClient, condition: string): Promise<void> {
  await client.waitFor(`<${condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`);
  await client.waitForClose();
}

describe("stream negotiation", () => {
  test("with TLS required, only STARTTLS is offered before TLS; after it, SASL", async () => {
    const client = await opened(t);
    expect(client.received).toMatch(/<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required\/><\/starttls>/);
    expect(client.received).not.toContain("mechanisms");
    client.clear();
    client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await client.waitFor("<proceed");
    await client.startTls(t.caCert);
    client.clear();
    client.write(streamHeader());
    await client.waitFor("</stream:features>");
    expect(client.received).toMatch(/<mechanism>X-TOKEN<\/mechanism><mechanism>PLAIN<\/mechanism>/);
    expect(client.received).not.toContain("starttls");
  });

  test("auth before STARTTLS when TLS is required -> encryption-required", async () => {
    const client = await opened(t);
    client.write(saslAuth("alice", t.mint("alice")));
    await client.waitFor("<encryption-required/>");
    await client.waitForClose();
  });

  test("full login on a plain stream when TLS is not required: success, restart, bind, session, ping", async () => {
    const client = await opened();
    expect(client.received).toContain("<mechanism>X-TOKEN</mechanism>");
    expect(client.received).not.toContain("<mechanism>PLAIN</mechanism>"); // PLAIN only under TLS
    client.write(saslAuth("alice", open.mint("alice")));
    await client.waitFor('<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>');
    client.clear();
    client.write(streamHeader());
    await client.waitFor("</stream:features>");
    expect(client.received).toContain('<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>');
    client.write("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    await client.waitFor(new RegExp(`<jid>alice@${DOMAIN.replace(".", "\\.")}/[^<]+</jid>`));
    client.write("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    await client.waitFor(/<iq [^>]*type="result" id="s1"/);
    client.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
    await client.waitFor(/<iq [^>]*type="result" id="p1"/);
    client.write("<iq type='get' id='v1'><query xmlns='jabber:iq:private'/></iq>");
    await client.waitFor(/<iq [^>]*type="error" id="v1"[^>]*><error type="cancel"><service-unavailable/);
    client.write("</stream:stream>");
    await client.waitFor("</stream:stream>");
    await client.waitForClose();
  });

  test("a client that closes its stream right after SASL success, before the restart, is answered with the close (no new stream, no error)", async () => {
    const client = await opened();
    client.write(saslAuth("alice", open.mint("alice")));
    await client.waitFor('<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>');
    client.clear();
    // Closes the header this client sent on these bytes (it has not restarted: it is leaving).
    client.write("</stream:stream>");
    await client.waitForClose();
    // What closes the header the server sent on these bytes, which the client still reads: a
    // new header with a stream error in it would leave the client waiting for a close of its own.
    expect(client.received).toBe("</stream:stream>");
  });

  test("a stanza before authentication -> not-authorized stream error", async () => {
    const client = await opened();
    client.write("<message to='bob@example.test'><body>hi</body></message>");
    await expectStreamError(client, "not-authorized");
  });

  test("unknown domain -> host-unknown; wrong namespace -> invalid-namespace; wrong version -> unsupported-version", async () => {
    const a = await connect();
    a.write(streamHeader("nowhere.test"));
    await expectStreamError(a, "host-unknown");
    const b = await connect();
    b.write("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='1.0'>");
    await expectStreamError(b, "invalid-namespace");
    const c = await connect();
    c.write("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='0.9'>");
    await expectStreamError(c, "unsupported-version");
  });

  test("SASL outcomes on the wire: incorrect-encoding, malformed-request, invalid-mechanism, aborted, empty challenge", async () => {
    const client = await opened();
    client.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'>not base64!</auth>");
    await client.waitFor("<incorrect-encoding/>");
    client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'>${Buffer.from("no separators").toString("base64")}</auth>`);
    await client.waitFor("<malformed-request/>");
    const other = await opened();
    other.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>");
    await other.waitFor("<invalid-mechanism/>");
    other.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'/>");
    await other.waitFor('<challenge xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>');
    other.write("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    await other.waitFor("<aborted/>");
    other.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'/>");
    await other.waitFor(/<challenge[^>]*\/>[\s\S]*<challenge[^>]*\/>/);
    const token = open.mint("dave");
    other.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(`\0dave\0${token}`).toString("base64")}</response>`);
    await other.waitFor("<success");
    // The mechanism named in the success line is the one <auth/> started, also when <response/> finished it.
    expect(open.logLines).toContain("info authenticated dave@example.test from 127.0.0.1 via X-TOKEN over tcp");
  });

  test("after too many failures on one connection the stream is closed", async () => {
    const client = await opened();
    for (let i = 0; i < 3; i++) client.write(saslAuth("alice", "00000000" + "1 " + "A".repeat(43) + "="));
    await expectStreamError(client, "policy-violation");
  });

  test("every failed login is one log line with JID, IP and reason, never the token", async () => {
    const token = open.mint("alice");
    const client = await opened();
    client.write(saslAuth("bob", token));
    await client.waitFor("<not-authorized/>");
    const line = open.logLines.find((l) => l.includes("authentication failed for bob@example.test"));
    expect(line).toBe("warn authentication failed for bob@example.test from 127.0.0.1: bad-signature");
    expect(open.logLines.join("\n")).not.toContain(token.split(" ")[1]!);
  });
});

describe("XML that must not hurt the server", () => {
  test.each([
    ["an undefined entity", "not-well-formed", "<message>&foo;</message>"],
    ["an illegal character reference", "not-well-formed", "<message>&#0;</message>"],
    ["a close tag before any open tag", "not-well-formed", "</message>"],
    ["mismatched tags", "not-well-formed", "<message><body></message>"],
    ["a comment", "restricted-xml", "<!-- hi -->"],
    ["a DTD", "restricted-xml", "<!DOCTYPE foo [<!ENTITY x 'y'>]>"],
    ["a processing instruction", "restricted-xml", "<?php ?>"],
    ["CDATA", "restricted-xml", "<message><![CDATA[x]]></message>"],
    ["text at stream level", "not-well-formed", "hello"],
    ["a non-XML space at stream level", "not-well-formed", "\u00a0"],
    ["an XML declaration", "restricted-xml", "<?xml version='1.0'?>"],
    ["elements nested 65 deep", "policy-violation", "<message>" + "<a>".repeat(64)],
  ])("%s after the header -> %s, and the server lives on", async (_what, condition, xml) => {
    const client = await opened();
    client.write(xml);
    await expectStreamError(client, condition);
    await opened(); // still serving
  });

  test("nesting up to the depth limit is fine", async () => {
    const { client } = await loginRaw(open, "nest", { resource: "r" });
    clients.push(client);
    const deep = "<a>".repeat(63) + "</a>".repeat(63);
    client.write(`<message to='nest@example.test/r' id='deep'>${deep}</message>`);
    await client.waitFor(/<message [^>]*id="deep"/);
    expect(client.received).toContain(deep.replace(/<a><\/a>/, "<a/>"));
  });

  test("only the XML declaration may come before the header, not another processing instruction", async () => {
    const client = await connect();
    client.write("<?xml-stylesheet href='x'?>");
    await expectStreamError(client, "restricted-xml");
    const fine = await connect();
    fine.write("<?xml version='1.0' encoding='UTF-8'?>\n" + streamHeader().replace(/^<\?xml[^>]*>/, ""));
    await fine.waitFor("</stream:features>");
  });

  test("a tag with no end is cut off at the size limit -> policy-violation", async () => {
    const client = await opened();
    client.write(`<message to='${"a".repeat(1500)}`);
    client.write("b".repeat(1500));
    await expectStreamError(client, "policy-violation");
  });

  test("an oversize stanza -> policy-violation", async () => {
    const client = await opened();
    client.write(`<message><body>${"x".repeat(3000)}</body></message>`);
    await expectStreamError(client, "policy-violation");
  });

  test("a UTF-8 character split across packets arrives whole", async () => {
    const { client: alice } = await loginRaw(open, "alice", { resource: "r" });
    clients.push(alice);
    const bytes = Buffer.from("<message to='alice@example.test/r'><body>jürgen 😀</body></message>");
    const split = bytes.indexOf(0xc3) + 1; // inside "ü"
    alice.write(bytes.subarray(0, split));
    await new Promise((r) => setTimeout(r, 50));
    alice.write(bytes.subarray(split));
    await alice.waitFor("</message>");
    expect(alice.received).toContain("<body>jürgen 😀</body>");
  });

  test("an idle unauthenticated connection is closed with connection-timeout", async () => {
    const client = await opened();
    await expectStreamError(client, "connection-timeout");
  });

  test("an idle connection without even a header is closed too", async () => {
    const client = await connect();
    await client.waitFor("<connection-timeout");
    await client.waitForClose();
  });
});

describe("WebSocket (RFC 7395)", () => {
  function wsConnect(server: TestServer, protocol = "xmpp") {
    const ws = new WebSocket(`ws://127.0.0.1:${server.server.ports.http}/xmpp-websocket`, protocol);
    const messages: string[] = [];
    ws.on("message", (d) => messages.push(d.toString()));
    const next = async (pattern: RegExp) => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const found = messages.find((m) => pattern.test(m));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${messages.join("\n")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const closed = new Promise((r) => ws.once("close", r));
    return { ws, messages, next, opened: new Promise((r) => ws.once("open", r)), closed };
  }

  test("open, log in with X-TOKEN, restart, bind, close", async () => {
    const c = wsConnect(t);
    await c.opened;
    const openFrame = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.test' version='1.0'/>";
    c.ws.send(openFrame);
    await c.next(/<mechanism>X-TOKEN<\/mechanism>/);
    c.ws.send(saslAuth("erin", t.mint("erin")));
    await c.next(/<success/);
    c.ws.send(openFrame);
    await c.next(/<bind/);
    c.ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    expect(await c.next(/<jid>/)).toMatch(/<jid>erin@example\.test\/[^<]+<\/jid>/);
    c.ws.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    await c.next(/<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"\/>/);
    await c.closed;
  });

  test.each([
    ["two elements in one message", "not-well-formed", "<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>"],
    ["an element left open", "not-well-formed", "<message xmlns='jabber:client'><body>hi"],
    ["text after the element", "not-well-formed", "<presence xmlns='jabber:client'/>trailing"],
    ["a bad entity", "not-well-formed", "<message xmlns='jabber:client'>&foo;</message>"],
    ["a processing instruction", "restricted-xml", "<?xml version='1.0'?>"],
    ["deep nesting", "policy-violation", "<message xmlns='jabber:client'>" + "<a>".repeat(70) + "</a>".repeat(70) + "</message>"],
    ["a second <open/> mid-stream", "bad-format", "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.test' version='1.0'/>"],
  ])("%s -> %s", async (_what, condition, frame) => {
    const c = wsConnect(t);
    await c.opened;
    c.ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.test' version='1.0'/>");
    await c.next(/<stream:features/);
    c.ws.send(" "); // a whitespace keepalive is ignored, not an error
    c.ws.send(frame);
    await c.next(new RegExp(`<${condition} `));
    expect(c.messages.filter((m) => m.includes("<stream:error"))).toHaveLength(1);
    await c.closed;
  });

  test("a stanza before <open/> -> the stream is opened, then bad-format", async () => {
    const c = wsConnect(t);
    await c.opened;
    c.ws.send("<message xmlns='jabber:client'/>");
    await c.next(/<bad-format /);
    expect(c.messages[0]).toMatch(/^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"/);
    await c.closed;
  });

  test("without the xmpp subprotocol the upgrade is refused", async () => {
    await expect(WsClient.connect(t.server.ports.http!, { protocol: "chat" })).rejects.toThrow("HTTP 400");
    await expect(WsClient.connect(t.server.ports.http!, { path: "/elsewhere" })).rejects.toThrow("HTTP 404");
  });

  test("a comment in a frame -> restricted-xml; an oversize frame -> policy-violation", async () => {
    for (const [frame, condition] of [["<!-- x -->", "restricted-xml"], [`<message>${"x".repeat(10_300)}</message>`, "policy-violation"]] as const) {
      const c = wsConnect(t);
      await c.opened;
      c.ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.test' version='1.0'/>");
      await c.next(/<stream:features/);
      c.ws.send(frame);
      await c.next(new RegExp(`<${condition} `));
      await c.closed;
    }
  });
});

describe("inherited object keys are no hosted domains (issue 7 #10)", () => {
  test.each(["constructor", "__proto__", "toString", "hasOwnProperty"])("to='%s' -> host-unknown", async (name) => {
    const client = await connect();
    client.write(streamHeader(name));
    await expectStreamError(client, "host-unknown");
  });
});

describe("abuse control across connections", () => {
  test("a valid token is never refused because of failures others caused; the per-IP limit stays (issue 7 #5)", async () => {
    const limited = await startTestServer({
      requireTls: false,
      limits: { maxAuthFailuresPerIpPerMinute: 16, maxAuthFailuresPerJidPerMinute: 2, maxAuthFailuresPerConnection: 100 },
    });
    try {
      const client = await RawClient.connect(limited.server.ports.c2s!);
      clients.push(client);
      client.write(streamHeader());
      await client.waitFor("</stream:features>");
      const attempt = async (user: string, token: string, answer: string) => {
        client.clear();
        client.write(saslAuth(user, token));
        await client.waitFor(`<${answer}`);
      };
      // Ten attempts for bob with no valid token shape at all: none counts against his JID.
      for (let i = 0; i < 10; i++) await attempt("bob", "garbage", "malformed-request");
      await attempt("bob", limited.mint("bob"), "success");

      const again = await RawClient.connect(limited.server.ports.c2s!);
      clients.push(again);
      const retry = async (user: string, token: string, answer: string) => {
        again.clear();
        again.write(saslAuth(user, token));
        await again.waitFor(`<${answer}`);
      };
      again.write(streamHeader());
      await again.waitFor("</stream:features>");
      // Three refused checks for frank put his JID over its limit: failures are marked (and answered late)...
      for (let i = 0; i < 3; i++) await retry("frank", limited.mint("someone-else"), "not-authorized");
      expect(limited.logLines.at(-1)).toBe(
        "warn authentication failed for frank@example.test from 127.0.0.1: bad-signature (the JID is over its failure limit)",
      );
      // ...but frank's own token still logs him in.
      await retry("frank", limited.mint("frank"), "success");
      expect(limited.logLines.at(-1)).toBe("info authenticated frank@example.test from 127.0.0.1 via X-TOKEN over tcp");

      // The per-IP limit stays: 10 + 3 failures so far, three more use up 127.0.0.1 for everyone.
      const third = await RawClient.connect(limited.server.ports.c2s!);
      clients.push(third);
      third.write(streamHeader());
      await third.waitFor("</stream:features>");
      for (const [user, token, answer] of [
        ["grace", "garbage", "malformed-request"],
        ["grace", "garbage", "malformed-request"],
        ["grace", "garbage", "malformed-request"],
        ["heidi", limited.mint("heidi"), "temporary-auth-failure"],
      ] as const) {
        third.clear();
        third.write(saslAuth(user, token));
        await third.waitFor(`<${answer}`);
      }
      expect(limited.logLines.at(-1)).toBe("warn authentication failed for (unknown) from 127.0.0.1: rate-limited");
    } finally {
      await limited.close();
    }
  });

  test("startServer takes another login policy: it is asked before each check and told every result", async () => {
    const calls: string[] = [];
    const policy = {
      maxFailuresPerConnection: 2,
      admit: async (ip: string) => (calls.push(`admit ${ip}`), calls.length < 2),
      settle: async (a: { ip: string; jid?: string; result: string }) => (calls.push(`settle ${a.jid ?? "-"} ${a.result}`), { jidOverLimit: false, holdBackSeconds: 0 }),
    };
    const custom = await startTestServer({ requireTls: false, loginPolicy: policy });
    try {
      const client = await RawClient.connect(custom.server.ports.c2s!);
      clients.push(client);
      client.write(streamHeader());
      await client.waitFor("</stream:features>");
      client.write(saslAuth("ann", custom.mint("someone-else")));
      await client.waitFor("<not-authorized/>");
      client.write(saslAuth("ann", custom.mint("ann")));
      await client.waitFor("<temporary-auth-failure/>"); // the policy said no before the check
      await expectStreamError(client, "policy-violation"); // and its budget of 2 per connection is used up
      expect(calls).toEqual(["admit 127.0.0.1", "settle ann@example.test refused", "admit 127.0.0.1", "settle - failed"]);
    } finally {
      await custom.close();
    }
  });

  test("<abort/> counts toward the per-connection failure cap (issue 7 #2)", async () => {
    const client = await opened();
    for (let i = 0; i < 3; i++) {
      client.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'/><abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    }
    await expectStreamError(client, "policy-violation");
    expect(client.received.match(/<aborted\/>/g)).toHaveLength(3);
  });

  test("SASL attempts per connection are capped even when each is abandoned for a new <auth/>", async () => {
    const client = await opened();
    // Each <auth/> without an initial response gets a challenge; the next <auth/> abandons it.
    for (let i = 0; i < 4; i++) client.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'/>");
    await expectStreamError(client, "policy-violation");
    expect(client.received.match(/<challenge /g)).toHaveLength(3);
  });

  test("direct TLS (XEP-0368) logs in without STARTTLS", async () => {
    const direct = await startTestServer({ directTls: true });
    try {
      const tls = await import("node:tls");
      const socket = tls.connect({ port: direct.server.ports.directTls!, host: "127.0.0.1", servername: DOMAIN, ca: [direct.caCert] });
      let received = "";
      socket.on("data", (d) => (received += d));
      const until = async (text: string) => {
        for (let i = 0; i < 100 && !received.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
        expect(received).toContain(text);
      };
      socket.write(streamHeader());
      await until("</stream:features>");
      expect(received).not.toContain("starttls");
      socket.write(saslAuth("ivan", direct.mint("ivan"), "PLAIN"));
      await until("<success");
      socket.destroy();
    } finally {
      await direct.close();
    }
  });
});
