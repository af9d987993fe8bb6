/**
 * The server's costs per byte and per connection, each against a baseline measured in the same run:
 * - memory: the real server (its own process, scripts/lib/measured-server.ts) holds 200 connections of each kind
 *   in their worst state (before authentication: an unterminated element of
 *   maxStanzaBytesBeforeAuth on TCP, a WebSocket message as big as ws may buffer; after: bound
 *   and idle); its growth after a full GC over the baseline just before, per connection;
 * - framing: CPU to frame one maxStanzaBytes element fed in 1-byte chunks vs in one chunk (the
 *   ratio stays flat as the element grows when framing is linear in the bytes received);
 * - strict parsing: CPU per stanza of the strict parser vs ltx (what @xmpp/xml uses).
 * Usage: npm run bench (runs after the verification benchmark)
 */
import net from "node:net";
import parse from "@xmpp/xml/lib/parse.js";
import { mintToken } from "../src/core/token/mint.js";
import { WEBSOCKET_PAYLOAD_SLACK } from "../src/server/transport/websocket.js";
import { fork } from "node:child_process";
import { rawLogin, streamHeader } from "./lib/raw-login.js";
import { DEFAULT_LIMITS } from "../src/app/config/load.js";
import { XmlFramer } from "../src/server/transport/xml-framer.js";
import { StrictXmlParser } from "../src/server/transport/strict-xml.js";

const HEADER = Buffer.from("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='1.0'>");

/** CPU milliseconds (user + system) spent in fn. */
function cpuMs(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** A message whose body fills exactly `bytes` bytes, mixed ASCII and multi-byte text. */
function elementOf(bytes: number): Buffer {
  const open = "<message to='bob@example.test' type='chat'><body>";
  const close = "</body></message>";
  const unit = "jürgen 😀 & more text ";
  const fill = bytes - Buffer.byteLength(open + close);
  let body = unit.repeat(Math.ceil(fill / Buffer.byteLength(unit))).replace(/&/g, "+");
  while (Buffer.byteLength(body) > fill) body = body.slice(0, -1);
  body += "x".repeat(fill - Buffer.byteLength(body));
  return Buffer.from(open + body + close);
}

function frameWhole(element: Buffer, max: number): void {
  const framer = new XmlFramer(max);
  framer.push(HEADER);
  if (framer.push(element).length !== 1) throw new Error("the element was not framed");
}

function frameBytewise(element: Buffer, max: number): void {
  const framer = new XmlFramer(max);
  framer.push(HEADER);
  let events = 0;
  for (let i = 0; i < element.length; i++) events += framer.push(element.subarray(i, i + 1)).length;
  if (events !== 1) throw new Error("the element was not framed");
}

function framing(): void {
  const max = DEFAULT_LIMITS.maxStanzaBytes;
  console.log(`XML framing, Node ${process.version}: CPU for one element of maxStanzaBytes (${max} bytes), best of 3`);
  for (const size of [max / 4, max]) {
    const element = elementOf(size);
    frameWhole(element, max); // warm-up
    frameBytewise(element, max);
    let whole = Infinity;
    let bytewise = Infinity;
    for (let round = 0; round < 3; round++) {
      whole = Math.min(whole, cpuMs(() => { for (let k = 0; k < 20; k++) frameWhole(element, max); }) / 20);
      bytewise = Math.min(bytewise, cpuMs(() => frameBytewise(element, max)));
    }
    console.log(`  ${String(size).padStart(7)} bytes: one chunk ${whole.toFixed(2)} ms, 1-byte chunks ${bytewise.toFixed(1)} ms`);
    console.log(`  framer 1-byte/one-chunk CPU ratio (${size} bytes): ${(bytewise / whole).toFixed(1)}`);
  }
}

function parsing(): void {
  const stanzas = [
    "<message to='bob@example.test/phone' type='chat' id='m1'><body>Hello Bob, how are you? &lt;3 &amp; more</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<presence><show>away</show><status>Out</status><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversejs.org' ver='Q6gKa8oF1L8YyOuT+lkOm3BF3kY='/></presence>",
    "<iq type='get' id='ping1' to='example.test'><ping xmlns='urn:xmpp:ping'/></iq>",
  ];
  const rounds = 20_000;
  const strict = new StrictXmlParser("stream");
  strict.parseHeader(HEADER.toString());
  const run = (fn: (s: string) => unknown) => cpuMs(() => { for (let i = 0; i < rounds; i++) for (const s of stanzas) fn(s); }) * 1000 / (rounds * stanzas.length);
  run((s) => parse(s));
  run((s) => strict.parseElement(s));
  let ltx = Infinity;
  let saxes = Infinity;
  for (let round = 0; round < 3; round++) {
    ltx = Math.min(ltx, run((s) => parse(s)));
    saxes = Math.min(saxes, run((s) => strict.parseElement(s)));
  }
  console.log(`Stanza parsing (typical message, presence, iq), best of 3:`);
  console.log(`  ltx (not strict) ${ltx.toFixed(2)} µs/stanza, strict parser (saxes) ${saxes.toFixed(2)} µs/stanza`);
  console.log(`  strict/ltx CPU ratio: ${(saxes / ltx).toFixed(1)}`);
}

const CONNECTIONS = 200;
const DOMAIN = "bench.test";
const KEY = { tokenSecret: "bench-token-secret-of-enough-length", otpSeed: "XVGR73KMZH2M4XMY" };
const settle = () => new Promise((r) => setTimeout(r, 1500));

/** A masked client WebSocket frame header (mask key 0: the payload goes as it is). */
function wsFrameHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header; // bytes 10..13: the zero mask key
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
    socket.on("data", () => {}); // read what the server says
  });
}

/** Before auth on TCP: header, then an element one byte short of ending, maxStanzaBytesBeforeAuth long. */
async function preAuthTcp(port: number): Promise<net.Socket> {
  const socket = await connect(port);
  const open = "<message to='x@bench.test'><body>";
  socket.write(streamHeader(DOMAIN) + open + "x".repeat(DEFAULT_LIMITS.maxStanzaBytesBeforeAuth - open.length - 1));
  return socket;
}

/** Before auth on WebSocket: upgrade, then a message as big as ws takes before auth, all but its last byte. */
async function preAuthWebSocket(port: number): Promise<net.Socket> {
  const socket = await connect(port);
  const upgraded = new Promise<void>((resolve, reject) => {
    let head = "";
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      if (head.startsWith("HTTP/1.1 101")) resolve();
      else reject(new Error(head.split("\r\n")[0]));
    };
    socket.on("data", onData);
  });
  socket.write(
    "GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
  );
  await upgraded;
  const length = DEFAULT_LIMITS.maxStanzaBytesBeforeAuth + WEBSOCKET_PAYLOAD_SLACK;
  socket.write(Buffer.concat([wsFrameHeader(length), Buffer.alloc(length - 1, 0x78)]));
  return socket;
}

async function authenticatedIdle(port: number, i: number): Promise<net.Socket> {
  const user = `idle${i}`;
  const { socket } = await rawLogin({ port, domain: DOMAIN, user, token: mintToken({ jid: `${user}@${DOMAIN}`, key: KEY }), keepOpen: true });
  return socket!;
}

interface Memory {
  heapUsed: number;
  external: number;
  rss: number;
}

async function memory(): Promise<void> {
  const config = { domains: { [DOMAIN]: { keys: [KEY] } }, requireTls: false, listeners: { c2sPort: 0, httpPort: 0 }, limits: { maxAuthFailuresPerIpPerMinute: 1_000_000 } };
  const child = fork(new URL("./lib/measured-server.js", import.meta.url).pathname, [JSON.stringify(config)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = <T>(type: string) => new Promise<T>((resolve, reject) => {
    const onMessage = (m: { type: string }) => m.type === type && (child.off("message", onMessage), resolve(m as T));
    child.on("message", onMessage);
    child.once("exit", () => reject(new Error("the measured server exited")));
  });
  const measure = () => {
    const answer = next<Memory>("memory");
    child.send({ type: "measure" });
    return answer;
  };
  const { c2s, http } = await next<{ c2s: number; http: number }>("ready");
  const kinds: [string, (i: number) => Promise<net.Socket>][] = [
    [`pre-auth TCP (an unterminated ${DEFAULT_LIMITS.maxStanzaBytesBeforeAuth}-byte element each)`, () => preAuthTcp(c2s)],
    [`pre-auth WebSocket (a ${DEFAULT_LIMITS.maxStanzaBytesBeforeAuth + WEBSOCKET_PAYLOAD_SLACK}-byte message, all but 1 byte)`, () => preAuthWebSocket(http)],
    ["authenticated idle TCP (bound, plain)", (i) => authenticatedIdle(c2s, i)],
  ];
  console.log(`Memory per connection: the server's growth with ${CONNECTIONS} connections held, after a full GC, over the baseline just before`);
  console.log("  (heap + external = what the server's objects and buffers hold; RSS includes allocator slack)");
  try {
    // Warm-up: every kind once, so code and pools are in place before the baseline.
    for (const [, open] of kinds) (await Promise.all(Array.from({ length: 10 }, (_, i) => open(1000 + i)))).forEach((s) => s.destroy());
    await settle();
    for (const [name, open] of kinds) {
      const before = await measure();
      const sockets: net.Socket[] = [];
      for (let i = 0; i < CONNECTIONS; i += 20) sockets.push(...(await Promise.all(Array.from({ length: 20 }, (_, k) => open(i + k)))));
      await settle();
      const after = await measure();
      const kib = (bytes: number) => (bytes / CONNECTIONS / 1024).toFixed(1);
      console.log(`  ${name}: ${kib(after.heapUsed + after.external - before.heapUsed - before.external)} KiB per connection (RSS ${kib(after.rss - before.rss)} KiB)`);
      for (const s of sockets) s.destroy();
      await settle();
    }
  } finally {
    child.send({ type: "stop" });
  }
}

framing();
parsing();
await memory();
