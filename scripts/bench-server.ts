/**
 * The server's costs per byte and per connection, each against a baseline measured in the same run:
 * - framing: CPU to frame one maxStanzaBytes element fed in 1-byte chunks vs in one chunk (the
 *   ratio stays flat as the element grows when framing is linear in the bytes received);
 * - strict parsing: CPU per stanza of the strict parser vs ltx (what @xmpp/xml uses).
 * Usage: npm run bench (runs after the verification benchmark)
 */
import parse from "@xmpp/xml/lib/parse.js";
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

framing();
parsing();
