/** RFC 6121 basics on the wire: messages, presence ("who is online"), iq between raw sessions, shutdown. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { DOMAIN, OTHER_DOMAIN, RawClient, WsClient, loginRaw, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

// WebSocket sessions from loopback count as TLS-protected (loopbackWebSocketIsSecure); presence goes to
// the whole domain ("who is online", presenceBroadcast: domain; the default, roster, is in server-im).
let t: TestServer;
const clients: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ loopbackWebSocketIsSecure: true, presenceBroadcast: "domain" });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await t.close();
});

async function login(localpart: string, options: { resource?: string; domain?: string } = {}) {
  const session = await loginRaw(t, localpart, options);
  clients.push(session.client);
  return session;
}

/** Sends initial presence and waits until the server has handled it (a ping after it is answered). */
async function available(session: { client: RawClient }): Promise<void> {
  session.client.write("<presence/><iq type='get' id='available'><ping xmlns='urn:xmpp:ping'/></iq>");
  await session.client.waitFor(/<iq [^>]*id="available"/);
}

describe("messages", () => {
  test("to a full JID reaches that resource, stamped with the sender's full JID", async () => {
    const alice = await login("alice");
    const bob = await login("bob", { resource: "phone" });
    // A forged from is replaced by the server.
    alice.client.write(`<message to='${bob.jid}' from='mallory@${DOMAIN}/x' type='chat' id='m1'><body>hello bob</body></message>`);
    const got = await bob.client.waitFor("</message>");
    expect(got).toContain(`from="${alice.jid}"`);
    expect(got).toContain(`to="${bob.jid}"`);
    expect(got).toContain("<body>hello bob</body>");
    expect(got).not.toContain("mallory");
  });

  test("to a bare JID, written in another case, reaches every available session of that user", async () => {
    const alice = await login("alice");
    const b1 = await login("bob", { resource: "one" });
    const b2 = await login("bob", { resource: "two" });
    // Sessions that have not sent presence are not available: a message then waits offline (offline-messages.test.ts).
    await available(b1);
    await available(b2);
    alice.client.write(`<message to='Bob@EXAMPLE.test' type='chat'><body>both</body></message>`);
    await b1.client.waitFor("<body>both</body>");
    await b2.client.waitFor("<body>both</body>");
  });

  test("to a bare JID, only available resources with non-negative priority get it when there are any", async () => {
    const alice = await login("alice");
    const shown = await login("carol", { resource: "shown" });
    const hidden = await login("carol", { resource: "hidden" });
    const negative = await login("carol", { resource: "negative" });
    shown.client.write("<presence/>");
    negative.client.write("<presence><priority>-1</priority></presence>");
    await shown.client.waitFor(`from="${negative.jid}"`); // both presences are in
    alice.client.write(`<message to='carol@${DOMAIN}' type='chat'><body>to the shown one</body></message>`);
    alice.client.write(`<message to='${hidden.jid}' type='chat'><body>marker</body></message>`);
    await shown.client.waitFor("<body>to the shown one</body>");
    await hidden.client.waitFor("<body>marker</body>"); // sent after, so the first would have arrived
    expect(hidden.client.received).not.toContain("to the shown one");
    expect(negative.client.received).not.toContain("to the shown one");
  });

  test("to a full JID that is offline falls back to the bare JID", async () => {
    const alice = await login("alice");
    const dave = await login("dave", { resource: "laptop" });
    await available(dave);
    alice.client.write(`<message to='dave@${DOMAIN}/gone' type='chat'><body>fallback</body></message>`);
    await dave.client.waitFor("<body>fallback</body>");
  });

  test("to nobody online: chat bounces with service-unavailable, headline is dropped silently", async () => {
    const alice = await login("alice");
    alice.client.write(`<message to='nobody@${DOMAIN}' type='headline' id='h1'><body>x</body></message>`);
    alice.client.write(`<message to='nobody@${DOMAIN}' type='chat' id='c1'><body>x</body></message>`);
    const got = await alice.client.waitFor(/id="c1"/);
    expect(got).toMatch(/<message [^>]*type="error"[^>]*><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
    expect(got).not.toContain('id="h1"');
  });

  test("a malformed address is answered with jid-malformed", async () => {
    const alice = await login("alice");
    alice.client.write(`<message to='a@b@c' type='chat' id='bad'><body>x</body></message>`);
    await alice.client.waitFor(/id="bad"[^>]*><error type="modify"><jid-malformed/);
  });

  test("a message from a TCP session reaches a WebSocket session", async () => {
    const ws = await WsClient.connect(t.server.ports.http!);
    try {
      ws.send(wsOpen());
      await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
      ws.send(saslAuth("wendy", t.mint("wendy")));
      await ws.next(/<success/);
      ws.send(wsOpen());
      await ws.next(/<bind /);
      ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>");
      await ws.next(/<jid>wendy@example\.test\/web<\/jid>/);
      const alice = await login("alice");
      alice.client.write(`<message to='wendy@${DOMAIN}/web' type='chat'><body>over ws</body></message>`);
      expect(await ws.next(/over ws/)).toMatch(/^<message [^>]*xmlns="jabber:client"/);
    } finally {
      ws.close();
    }
  });
});

describe("presence: who is online", () => {
  test("a newcomer learns who is online, the others learn of the newcomer, unavailable on disconnect", async () => {
    const erin = await login("erin");
    erin.client.write("<presence><status>here</status></presence>");
    const frank = await login("frank");
    frank.client.write("<presence/>");
    // Frank gets Erin's current presence; Erin gets Frank's.
    expect(await frank.client.waitFor(`from="${erin.jid}"`)).toContain("<status>here</status>");
    await erin.client.waitFor(`from="${frank.jid}"`);
    frank.client.destroy();
    const unavailableFromFrank = () =>
      (erin.client.received.match(/<presence [^>]*>/g) ?? []).some((tag) => tag.includes(`from="${frank.jid}"`) && tag.includes('type="unavailable"'));
    await erin.client.waitFor(unavailableFromFrank);
  });

  test("presence stays within its domain", async () => {
    const gina = await login("gina", { domain: OTHER_DOMAIN });
    gina.client.write("<presence/>");
    const hank = await login("hank");
    hank.client.write("<presence/>");
    const ivan = await login("ivan", { domain: OTHER_DOMAIN });
    ivan.client.write("<presence/>");
    await gina.client.waitFor(`from="${ivan.jid}"`);
    expect(gina.client.received).not.toContain(hank.jid);
    expect(hank.client.received).not.toContain(gina.jid);
  });
});

describe("iq", () => {
  test("ping to the server, an iq to another user's full JID and its result back", async () => {
    const alice = await login("alice");
    const bob = await login("bob");
    alice.client.write(`<iq type='get' id='ping1' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await alice.client.waitFor(/<iq [^>]*type="result"[^>]*id="ping1"|<iq [^>]*id="ping1"[^>]*type="result"/);
    alice.client.write(`<iq type='get' id='v1' to='${bob.jid}'><query xmlns='jabber:iq:version'/></iq>`);
    await bob.client.waitFor(/id="v1"/);
    expect(bob.client.received).toContain(`from="${alice.jid}"`);
    bob.client.write(`<iq type='result' id='v1' to='${alice.jid}'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>`);
    await alice.client.waitFor("<name>raw</name>");
  });

  test("other iq get/set, to the server or a bare JID, gets service-unavailable; an iq without a type bad-request", async () => {
    const alice = await login("alice");
    alice.client.write(`<iq type='get' id='r1'><query xmlns='jabber:iq:private'/></iq>`);
    alice.client.write(`<iq type='get' id='r2' to='bob@${DOMAIN}'><vCard xmlns='vcard-temp'/></iq>`);
    alice.client.write(`<iq id='r3'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await alice.client.waitFor(/id="r1"[^>]*><error type="cancel"><service-unavailable/);
    await alice.client.waitFor(/id="r2"[^>]*><error type="cancel"><service-unavailable/);
    await alice.client.waitFor(/id="r3"[^>]*><error type="modify"><bad-request/);
  });

  test("a second session asking for a taken resource gets a new one; the first keeps its own", async () => {
    const first = await login("judy", { resource: "desk" });
    const second = await login("judy", { resource: "desk" });
    expect(first.jid).toBe(`judy@${DOMAIN}/desk`);
    expect(second.jid).toMatch(new RegExp(`^judy@example\\.test/desk-[0-9a-f]{6}$`));
    first.client.write(`<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await first.client.waitFor('id="still"');
  });
});

describe("shutdown", () => {
  test("close() ends every stream with system-shutdown, closes TCP and WebSocket, and resolves", async () => {
    const own = await startTestServer({ loopbackWebSocketIsSecure: true });
    const tcp = await loginRaw(own, "kim");
    clients.push(tcp.client);
    const fresh = await RawClient.connect(own.server.ports.c2s!); // not even a header yet
    clients.push(fresh);
    const ws = await WsClient.connect(own.server.ports.http!);
    ws.send(wsOpen());
    await ws.next(/<stream:features/);
    await own.close();
    await tcp.client.waitFor(/<system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>[\s\S]*<\/stream:stream>/);
    await tcp.client.waitForClose();
    // An error before the client's header still comes inside an opened stream.
    expect(await fresh.waitFor("<system-shutdown")).toMatch(/^<\?xml[^>]*\?><stream:stream [^>]*><stream:error[ >]/);
    await fresh.waitForClose();
    await ws.next(/<system-shutdown /);
    await ws.next(/^<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"\/>$/);
    expect(await ws.waitForClose()).toBe(1000);
    await expect(RawClient.connect(own.server.ports.c2s!)).rejects.toThrow();
  });
});
