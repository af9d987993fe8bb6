/**
 * Bounded outbound queues (issue 7 #2): a peer that does not read its replies stops being read
 * from, so what the server holds for it stays near `maxOutboundBytes`; stanzas routed to a
 * session that does not read are dropped, and messages bounce with resource-constraint. TCP,
 * STARTTLS and WebSocket. No timing: loops are bounded by bytes and end on what is observed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { DOMAIN, RawClient, WsClient, loginRaw, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

const MAX_OUTBOUND = 64 * 1024;
/**
 * What may come on top of the bound: the replies to what was read before reading stopped (one
 * socket read, 64 KiB of requests, answered with replies of about the same size).
 */
const SLACK = 4 * 64 * 1024;
/** No loop writes more than this (the old server read and queued all of it). */
const WRITE_LIMIT = 96 * 1024 * 1024;

let plain: TestServer; // no TLS required
let secured: TestServer; // STARTTLS (the default)
const clients: RawClient[] = [];

beforeAll(async () => {
  plain = await startTestServer({ requireTls: false, limits: { maxOutboundBytes: MAX_OUTBOUND } });
  secured = await startTestServer({ limits: { maxOutboundBytes: MAX_OUTBOUND } });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await Promise.all([plain.close(), secured.close()]);
});

const tick = () => new Promise((r) => setTimeout(r, 10));
/** A message to oneself: each comes back as big as it went (fills both directions quickly). */
const toSelf = (jid: string, xmlns = "") => `<message${xmlns} to='${jid}' type='chat'><body>${"x".repeat(8000)}</body></message>`;

/**
 * A flooder: each call writes batches, one per tick, until `done()` holds; all its calls together
 * write at most WRITE_LIMIT bytes (the loop is bounded however the server behaves).
 * `write` sends one batch and returns its length.
 */
function flooder(write: () => number): (done: () => boolean) => Promise<void> {
  let written = 0;
  return async (done) => {
    while (!done() && written < WRITE_LIMIT) {
      written += write();
      await tick();
    }
  };
}

function pausedConnection(t: TestServer) {
  return t.server.connections().find((c) => c.outboundPaused);
}

/** Largest outbound queue the server holds for any connection right now. */
function largestQueue(t: TestServer): number {
  return Math.max(0, ...t.server.connections().map((c) => c.outboundBytes));
}

describe("TCP: a client that never reads its replies", () => {
  test("is no longer read from, and what the server queues for it stays bounded", async () => {
    const t = plain;
    const { client, jid } = await loginRaw(t, "mallory");
    clients.push(client);
    client.pause();
    const batch = toSelf(jid).repeat(20);
    const flood = flooder(() => (client.write(batch), batch.length));
    // Write until the server stops reading (its side shows the pause; ours sees writes pile up).
    await flood(() => !!pausedConnection(t));
    expect(pausedConnection(t)).toBeDefined();
    // More input waits in the network, not in the server: once the kernel's buffers are full,
    // it piles up in the client.
    await flood(() => client.unsent > 0);
    expect(client.unsent).toBeGreaterThan(0);
    expect(largestQueue(t)).toBeLessThanOrEqual(MAX_OUTBOUND + SLACK);
    // Reading its replies again, it is read from again: its last ping is answered.
    client.write(`<iq type='get' id='last' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    client.resume();
    await client.waitFor('id="last"', 60_000);
    expect(pausedConnection(t)).toBeUndefined();
  }, 120_000);
});

test("WebSocket: a client that never reads its replies is no longer read from, and its queue stays bounded", async () => {
  const t = plain;
  const ws = await WsClient.connect(t.server.ports.http!);
  try {
    ws.send(wsOpen());
    await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
    ws.send(saslAuth("wally", t.mint("wally")));
    await ws.next(/<success/);
    ws.send(wsOpen());
    await ws.next(/<bind /);
    ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    const jid = /<jid>([^<]+)<\/jid>/.exec(await ws.next(/<jid>/))![1]!;
    ws.ws.pause();
    const ping = toSelf(jid, " xmlns='jabber:client'");
    const flood = flooder(() => {
      for (let i = 0; i < 20; i++) ws.send(ping);
      return 20 * ping.length;
    });
    await flood(() => !!pausedConnection(t));
    expect(pausedConnection(t)?.kind).toBe("websocket");
    await flood(() => ws.ws.bufferedAmount > 0);
    expect(ws.ws.bufferedAmount).toBeGreaterThan(0);
    expect(largestQueue(t)).toBeLessThanOrEqual(MAX_OUTBOUND + SLACK);
    ws.send(`<iq xmlns='jabber:client' type='get' id='last' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    ws.ws.resume();
    await ws.next(/id="last"/, 60_000);
  } finally {
    ws.close();
  }
}, 120_000);

test("STARTTLS: a client that never reads its replies is no longer read from; the queue counted is before encryption", async () => {
  const t = secured;
  const { client, jid } = await loginRaw(t, "tess");
  clients.push(client);
  client.pause();
  const batch = toSelf(jid).repeat(20);
  await flooder(() => (client.write(batch), batch.length))(() => !!pausedConnection(t));
  expect(pausedConnection(t)).toBeDefined();
  for (let i = 0; i < 10; i++) {
    client.write(batch);
    await tick();
  }
  // (Reading may resume for a moment when the kernel grows its buffers; the bound holds throughout.)
  expect(largestQueue(t)).toBeLessThanOrEqual(MAX_OUTBOUND + SLACK);
}, 120_000);

describe("stanzas for a session that does not read", () => {
  test("are dropped once its queue is full: messages bounce to the sender with resource-constraint; it is not disconnected", async () => {
    const t = plain;
    const bob = await loginRaw(t, "bob", { resource: "slow" });
    const alice = await loginRaw(t, "alice");
    clients.push(bob.client, alice.client);
    bob.client.pause();
    const message = `<message to='${bob.jid}' type='chat'><body>${"x".repeat(8000)}</body></message>`;
    await flooder(() => (alice.client.write(message.repeat(20)), message.length * 20))(() => alice.client.received.includes("<resource-constraint"));
    const bounce = /<message [^>]*type="error"[^>]*><error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/><\/error><\/message>/;
    expect(alice.client.received).toMatch(bounce);
    expect(alice.client.received).toContain(`from="${bob.jid}"`);
    // Bob's queue is at the bound (plus at most one stanza), however much more alice sends.
    for (let i = 0; i < 20; i++) {
      alice.client.write(message.repeat(20));
      await tick();
    }
    const bobs = t.server.connections().map((c) => c.outboundBytes);
    expect(Math.max(...bobs)).toBeLessThanOrEqual(MAX_OUTBOUND + message.length + 1024);
    // Alice reads, so she is never paused, and bob is still connected; once he reads, messages reach him again.
    expect(t.server.sessionCount).toBeGreaterThanOrEqual(2);
    bob.client.resume();
    await bob.client.waitFor(() => t.server.connections().every((c) => c.outboundBytes < MAX_OUTBOUND), 60_000);
    alice.client.write(`<message to='${bob.jid}' type='chat' id='later'><body>after</body></message>`);
    await bob.client.waitFor('id="later"', 60_000);
  }, 120_000);
});

describe("server-made stanzas for a session that does not read", () => {
  test("subscription requests (and what they carry) are dropped once its queue is full, like any presence", async () => {
    const t = plain;
    const bob = await loginRaw(t, "bobsub", { resource: "slow" });
    const mallory = await loginRaw(t, "mallorysub");
    clients.push(bob.client, mallory.client);
    bob.client.write("<presence/><iq type='get' id='in'><ping xmlns='urn:xmpp:ping'/></iq>");
    await bob.client.waitFor('id="in"'); // available, and then he stops reading
    bob.client.pause();
    // Each request is delivered with its children: a big status makes each one 8 KB for bob.
    const request = `<presence to='bobsub@${DOMAIN}' type='subscribe'><status>${"x".repeat(8000)}</status></presence>`;
    const ping = "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>";
    let rounds = 0;
    await flooder(() => {
      mallory.client.write(request.repeat(20) + ping);
      rounds++;
      return request.length * 20;
    })(() => rounds >= 60);
    // Mallory's own stream was read all along (she reads her replies): every request was handled.
    await mallory.client.waitFor(() => (mallory.client.received.match(/id="p"/g) ?? []).length >= rounds, 60_000);
    expect(Math.max(...t.server.connections().map((c) => c.outboundBytes))).toBeLessThanOrEqual(MAX_OUTBOUND + request.length + 1024);
    expect(t.server.sessionCount).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
