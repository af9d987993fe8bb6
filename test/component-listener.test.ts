/** Our server's XEP-0114 component listener, attacked with raw sockets: handshake, addressing, bounds, chunking. */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import net from "node:net";
import { handshakeDigest } from "../src/server/component-stream.js";
import { DOMAIN, loginRaw, RawClient, startTestServer, type TestServer } from "./helpers/server.js";

const COMPONENT = "tokens.example.test";
const SECRET = "listener-test-secret";
const OTHER_COMPONENT = "bots.example.test";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ components: { [COMPONENT]: SECRET, [OTHER_COMPONENT]: "other-secret" }, limits: { authTimeoutSeconds: 2 } });
});
afterAll(async () => {
  await t.close();
});

function header(to = COMPONENT, ns = "jabber:component:accept"): string {
  return `<?xml version='1.0'?><stream:stream xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams' to='${to}'>`;
}

async function open(to = COMPONENT): Promise<{ client: RawClient; id: string }> {
  const client = await RawClient.connect(t.server.ports.component!);
  client.write(header(to));
  const text = await client.waitFor(/<stream:stream [^>]*>/);
  const id = /id='([^']+)'/.exec(text)![1]!;
  return { client, id };
}

/** A component stream past the handshake. */
async function connected(domain = COMPONENT, secret = SECRET): Promise<RawClient> {
  const { client, id } = await open(domain);
  client.write(`<handshake>${handshakeDigest(id, secret)}</handshake>`);
  await client.waitFor("<handshake/>");
  client.clear();
  return client;
}

async function streamError(client: RawClient, condition: string): Promise<void> {
  await client.waitFor(new RegExp(`<stream:error><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"`));
  await client.waitForClose();
}

describe("handshake", () => {
  test("the server's header: component namespace, the component's domain, an id, no version", async () => {
    const { client } = await open();
    expect(client.received).toMatch(/xmlns='jabber:component:accept'/);
    expect(client.received).toMatch(new RegExp(`from='${COMPONENT}'`));
    expect(client.received).not.toMatch(/<stream:stream[^>]*version=/);
    client.destroy();
  });

  test("wrong secret: not-authorized, logged without the digest", async () => {
    const { client, id } = await open();
    const wrong = handshakeDigest(id, "guess");
    client.write(`<handshake>${wrong}</handshake>`);
    await streamError(client, "not-authorized");
    expect(t.logLines.join("\n")).not.toContain(wrong);
  });

  test.each([
    ["empty", ""],
    ["too short", "abc"],
    ["the digest of another stream id", handshakeDigest("other-id", SECRET)],
    ["the secret itself", SECRET],
    ["41 characters", `${"0".repeat(41)}`],
  ])("handshake %s: not-authorized", async (_label, text) => {
    const { client } = await open();
    client.write(`<handshake>${text}</handshake>`);
    await streamError(client, "not-authorized");
  });

  test("upper-case hex is the same digest; the handshake may arrive one byte at a time", async () => {
    const { client, id } = await open();
    for (const byte of Buffer.from(`<handshake>${handshakeDigest(id, SECRET).toUpperCase()}</handshake>`)) client.write(Buffer.from([byte]));
    await client.waitFor("<handshake/>");
    client.destroy();
    await new Promise((r) => setTimeout(r, 50));
  });

  test("a stanza before the handshake: not-authorized", async () => {
    const { client } = await open();
    client.write(`<message from='${COMPONENT}' to='alice@${DOMAIN}'><body>hi</body></message>`);
    await streamError(client, "not-authorized");
  });

  test("a client namespace, or an unknown or user domain: invalid-namespace / host-unknown", async () => {
    const wrongNs = await RawClient.connect(t.server.ports.component!);
    wrongNs.write(header(COMPONENT, "jabber:client"));
    await streamError(wrongNs, "invalid-namespace");
    for (const to of ["nobody.example.test", DOMAIN, `sub.${COMPONENT}`, ""]) {
      const client = await RawClient.connect(t.server.ports.component!);
      client.write(header(to));
      await streamError(client, "host-unknown");
    }
  });

  test("an element larger than the pre-handshake limit: policy-violation", async () => {
    const { client } = await open();
    client.write(`<handshake>${"a".repeat(t.config.limits.maxStanzaBytesBeforeAuth + 10)}</handshake>`);
    await streamError(client, "policy-violation");
  });

  test("no handshake in time: connection-timeout", async () => {
    const { client } = await open();
    await streamError(client, "connection-timeout");
  }, 10_000);

  test("one live stream per domain: the second gets conflict while the first answers the server's ping; the first stays", async () => {
    const first = await connected();
    const second = await open();
    second.client.write(`<handshake>${handshakeDigest(second.id, SECRET)}</handshake>`);
    // The server asks the first whether it is still there (XEP-0199); it answers.
    const ping = await first.waitFor(/<iq [^>]*type="get"[^>]*><ping xmlns="urn:xmpp:ping"\/><\/iq>/);
    const id = /id="([^"]+)"/.exec(ping)![1]!;
    const from = /from="([^"]+)"/.exec(ping)![1]!;
    first.write(`<iq type='result' id='${id}' from='${COMPONENT}' to='${from}'/>`);
    await streamError(second.client, "conflict");
    // The first still works: a user reaches it.
    const { client: alice } = await loginRaw(t, "alice");
    alice.write(`<message to='${COMPONENT}' id='m1'><body>still there?</body></message>`);
    await first.waitFor("still there?");
    first.destroy();
    alice.destroy();
  });
});

describe("routing", () => {
  test("user -> component: stamped from, the component namespace; component -> user: delivered", async () => {
    const component = await connected();
    const { client: alice, jid } = await loginRaw(t, "alice", { resource: "phone" });
    alice.write(`<iq type='get' id='q1' to='${COMPONENT}' from='mallory@${DOMAIN}/x'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const got = await component.waitFor(/<iq [^>]*id="q1"[^>]*>/);
    expect(got).toContain(`from="${jid}"`);
    expect(got).not.toContain("mallory");
    expect(got).toContain('xmlns="jabber:component:accept"');
    // Any JID on the component's domain is the component's too.
    alice.write(`<message to='bot@${COMPONENT}/r' id='m2'><body>to a node</body></message>`);
    await component.waitFor("to a node");
    component.write(`<iq type='result' id='q1' from='${COMPONENT}' to='${jid}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const answer = await alice.waitFor(/<iq [^>]*id=["']q1["'][^>]*>/);
    expect(answer).toContain(`from="${COMPONENT}"`);
    component.write(`<message from='bot@${COMPONENT}' to='alice@${DOMAIN}'><body>hello from a node</body></message>`);
    await alice.waitFor("hello from a node");
    component.destroy();
    alice.destroy();
  });

  test("a component sends only from its own domain: invalid-from", async () => {
    for (const from of [`alice@${DOMAIN}`, DOMAIN, OTHER_COMPONENT, `x.${COMPONENT}`, "", "not@@valid"]) {
      const component = await connected();
      component.write(`<message ${from ? `from='${from}' ` : ""}to='alice@${DOMAIN}'><body>spoof</body></message>`);
      await streamError(component, "invalid-from");
    }
  });

  test("no to: improper-addressing; a bad to: jid-malformed; another server: remote-server-not-found; an offline user: service-unavailable", async () => {
    const noTo = await connected();
    noTo.write(`<message from='${COMPONENT}'><body>x</body></message>`);
    await streamError(noTo, "improper-addressing");
    const component = await connected();
    component.write(`<iq type='get' id='a' from='${COMPONENT}' to='a@@b'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await component.waitFor(/id="a"[^>]*>.*<jid-malformed/);
    component.write(`<iq type='get' id='b' from='${COMPONENT}' to='someone@elsewhere.example'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await component.waitFor(/id="b"[^>]*>.*<remote-server-not-found/);
    component.write(`<message type='chat' id='c' from='${COMPONENT}' to='nobody@${DOMAIN}'><body>x</body></message>`);
    await component.waitFor(/id="c"[^>]*>.*<service-unavailable/);
    component.destroy();
  });

  test("a component reaches another component; a stopped component is no route (service-unavailable)", async () => {
    const tokens = await connected();
    const bots = await connected(OTHER_COMPONENT, "other-secret");
    tokens.write(`<message from='${COMPONENT}' to='${OTHER_COMPONENT}'><body>between components</body></message>`);
    await bots.waitFor("between components");
    bots.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const { client: alice } = await loginRaw(t, "alice");
    alice.write(`<iq type='get' id='gone' to='${OTHER_COMPONENT}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    await alice.waitFor(/id=["']gone["'][^>]*>.*<service-unavailable/);
    tokens.destroy();
    alice.destroy();
  });

  test("a user's stanza to a subdomain of a component is not the component's", async () => {
    const component = await connected();
    const { client: alice } = await loginRaw(t, "alice");
    alice.write(`<iq type='get' id='sub' to='x.${COMPONENT}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    await alice.waitFor(/id=["']sub["']/);
    expect(component.received).not.toContain("sub");
    component.destroy();
    alice.destroy();
  });
});

describe("a component that never reads", () => {
  test("stanzas for it are dropped once its queue is full (users' messages bounce resource-constraint); it is not closed, and gets stanzas again once it reads", async () => {
    const server = await startTestServer({ components: { [COMPONENT]: SECRET }, limits: { maxOutboundBytes: 64 * 1024 } });
    const socket = net.connect(server.server.ports.component!, "127.0.0.1");
    let received = "";
    socket.on("data", (d) => (received += d.toString()));
    socket.write(header());
    await until(() => /id='([^']+)'/.test(received), "the header");
    socket.write(`<handshake>${handshakeDigest(/id='([^']+)'/.exec(received)![1]!, SECRET)}</handshake>`);
    await until(() => received.includes("<handshake/>"), "the handshake");
    socket.pause(); // from now on it reads nothing
    const { client: alice } = await loginRaw(server, "alice");
    try {
      const body = "x".repeat(100 * 1024);
      let sent = 0;
      // Bounded: the kernel's buffers plus 64 KiB fill up long before this many.
      while (!alice.received.includes("resource-constraint") && sent < 1000) {
        for (let i = 0; i < 20; i++) alice.write(`<message to='${COMPONENT}' id='m${sent++}'><body>${body}</body></message>`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await alice.waitFor(/type=["']error["'][^>]*>.*<resource-constraint/s);
      // The server still answers alice, and the component was not disconnected.
      alice.clear();
      alice.write("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>");
      await alice.waitFor(/id=["']still["']/);
      expect(socket.destroyed).toBe(false);
      // Once it reads, it gets stanzas again.
      socket.resume();
      await new Promise((r) => setTimeout(r, 300));
      alice.write(`<message to='${COMPONENT}' id='after'><body>read me</body></message>`);
      await until(() => received.includes("read me"), "the component to get a message again", 15_000);
    } finally {
      alice.destroy();
      socket.destroy();
      await server.close();
    }
  }, 60_000);
});

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
