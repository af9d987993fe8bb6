/**
 * WebSocket's own outbound pause (src/server/transport/websocket.ts; issue 23): a WebSocket
 * client that does not read what the server sends it stops being read from — what it writes
 * next waits in the network and reaches nobody — and once it reads again, the server reads it
 * again and everything it wrote arrives, in order. Observed from outside: markers the client
 * sends to a reading TCP session (bob), between messages to itself that fill its own queue.
 * Loops are bounded by bytes; waits by deadlines.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { DOMAIN, WsClient, loginRaw, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

const MAX_OUTBOUND = 64 * 1024;
/** What may come on top of the bound: replies to what was read before reading stopped. */
const SLACK = 4 * 64 * 1024;
/** No loop writes more than this, however the server behaves. */
const WRITE_LIMIT = 64 * 1024 * 1024;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ requireTls: false, loopbackWebSocketIsSecure: true, limits: { maxOutboundBytes: MAX_OUTBOUND } });
});
afterAll(async () => {
  await t.close();
});

const tick = () => new Promise((r) => setTimeout(r, 10));
const wsConnection = () => t.server.connections().find((c) => c.kind === "websocket");
const marks = (text: string) => [...text.matchAll(/<body>mark-(\d+)<\/body>/g)].map((m) => Number(m[1]));

async function wsSession(localpart: string): Promise<{ ws: WsClient; jid: string }> {
  const ws = await WsClient.connect(t.server.ports.http!);
  ws.send(wsOpen());
  await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
  ws.send(saslAuth(localpart, t.mint(localpart)));
  await ws.next(/<success/);
  ws.send(wsOpen());
  await ws.next(/<bind /);
  ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  return { ws, jid: /<jid>([^<]+)<\/jid>/.exec(await ws.next(/<jid>/))![1]! };
}

test("a WebSocket client that does not read is not read from until it reads again; nothing it wrote is lost", async () => {
  const bob = await loginRaw(t, "bob", { resource: "reader" });
  const { ws, jid } = await wsSession("wally");
  try {
    let sent = 0;
    let written = 0;
    const filler = `<message xmlns='jabber:client' to='${jid}' type='chat'><body>${"x".repeat(8000)}</body></message>`;
    /** One batch: messages to itself (they come back as big as they went) and one marker to bob. */
    const batch = () => {
      for (let i = 0; i < 20; i++) ws.send(filler);
      ws.send(`<message xmlns='jabber:client' to='bob@${DOMAIN}/reader' type='chat'><body>mark-${sent++}</body></message>`);
      written += 20 * filler.length;
    };

    ws.ws.pause(); // wally stops reading
    while (!wsConnection()?.outboundPaused && written < WRITE_LIMIT) {
      batch();
      await tick();
    }
    expect(wsConnection()?.outboundPaused).toBe(true);

    // The server stops taking what wally writes: it waits in the network (then in wally's own
    // buffer), and what bob has been sent stops growing.
    while (ws.ws.bufferedAmount === 0 && written < WRITE_LIMIT) {
      batch();
      await tick();
    }
    expect(ws.ws.bufferedAmount).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    const before = marks(bob.client.received).length;
    const sentBefore = sent;
    for (let i = 0; i < 20; i++) {
      batch();
      await tick();
    }
    await new Promise((r) => setTimeout(r, 300));
    // Of the 20 markers written while paused, (almost) none got through: they were not read.
    expect(marks(bob.client.received).length - before).toBeLessThan((sent - sentBefore) / 2);
    expect(Math.max(...t.server.connections().map((c) => c.outboundBytes))).toBeLessThanOrEqual(MAX_OUTBOUND + SLACK);

    // Wally reads again: the server reads again, and every marker reaches bob, in order.
    ws.ws.resume();
    const all = Array.from({ length: sent }, (_, i) => i);
    await bob.client.waitFor(() => marks(bob.client.received).length === sent, 60_000);
    expect(marks(bob.client.received)).toEqual(all);
    ws.send(`<iq xmlns='jabber:client' type='get' id='last' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await ws.next(/id="last"/, 60_000);
    expect(wsConnection()?.outboundPaused).toBe(false);
  } finally {
    ws.close();
    bob.client.destroy();
  }
}, 120_000);
