/**
 * Before authentication a WebSocket connection holds no more than maxStanzaBytesBeforeAuth (plus
 * a little framing slack) of one message, as TCP does (issue 7 #4): ws refuses a bigger message
 * from its frame header, without buffering its payload; after authentication the stream's own
 * limit is raised to maxStanzaBytes.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { WEBSOCKET_PAYLOAD_SLACK } from "../src/server/transport/websocket.js";
import { WsClient, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ requireTls: false });
});
afterAll(async () => {
  await t.close();
});

/** A WebSocket upgrade by hand, so the test can send a frame header without its payload. */
async function rawUpgrade(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, "127.0.0.1");
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    "GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n`,
  );
  let head = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 101")) reject(new Error(head.split("\r\n")[0]));
      else resolve();
    };
    socket.on("data", onData);
  });
  return { socket, closed };
}

/** The header of a masked client text frame announcing `length` bytes of payload, and its mask. */
function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x81; // FIN, text
  header[1] = 0x80 | 127; // masked, 64-bit length
  header.writeBigUInt64BE(BigInt(length), 2);
  randomBytes(4).copy(header, 10);
  return header;
}

test("before authentication, a message announced bigger than the limit is refused from its header (1009), its payload never buffered", async () => {
  const limit = t.config.limits.maxStanzaBytesBeforeAuth + WEBSOCKET_PAYLOAD_SLACK;
  const { socket, closed } = await rawUpgrade(t.server.ports.http!);
  let reply = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => (reply = Buffer.concat([reply, d])));
  // Announce 200 KB (well under the old 2 x maxStanzaBytes) and send only 1 KB of it.
  socket.write(Buffer.concat([frameHeader(200_000), randomBytes(1024)]));
  await closed; // the old server waited for the other 199 KB
  // A close frame (opcode 8) with status 1009, "message too big".
  expect(reply[0]).toBe(0x88);
  expect(reply.readUInt16BE(2)).toBe(1009);
  expect(limit).toBeLessThan(200_000);
});

test("before authentication, a message just over maxStanzaBytesBeforeAuth still gets the stream error policy-violation", async () => {
  const ws = await WsClient.connect(t.server.ports.http!);
  try {
    ws.send(wsOpen());
    await ws.next(/<stream:features/);
    ws.send(`<message xmlns='jabber:client'><body>${"x".repeat(t.config.limits.maxStanzaBytesBeforeAuth)}</body></message>`);
    await ws.next(/<policy-violation /);
  } finally {
    ws.close();
  }
});

test("after authentication the stream's limit is maxStanzaBytes: a 100 KB stanza is delivered", async () => {
  const ws = await WsClient.connect(t.server.ports.http!);
  try {
    ws.send(wsOpen());
    await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
    ws.send(saslAuth("bigsender", t.mint("bigsender")));
    await ws.next(/<success/);
    ws.send(wsOpen());
    await ws.next(/<bind /);
    ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>");
    const jid = /<jid>([^<]+)<\/jid>/.exec(await ws.next(/<jid>/))![1]!;
    const body = "y".repeat(100_000);
    ws.send(`<message xmlns='jabber:client' to='${jid}' id='big'><body>${body}</body></message>`);
    expect(await ws.next(/id="big"/)).toContain(body);
    expect(ws.closeCode).toBeNull();
  } finally {
    ws.close();
  }
});
