/**
 * Regressions found by the fuzzer (`npm run fuzz`, scripts/fuzz.ts), on a real server.
 *
 * 1. A stream error echoes client bytes that XML does not allow. A closing tag that does not close
 *    the open element is refused by the framer with the message `</NAME> does not close the open
 *    element` (src/server/transport/xml-framer.ts, endTag), NAME being the client's bytes as they
 *    came; the transports hand that message to XmppSession.streamError (src/server/session.ts) as
 *    the stream error's <text/>, and ltx escapes only & < > ' ". A NUL, another C0 control or
 *    U+FFFE/U+FFFF in the name therefore goes out raw, and the server's last words on the stream
 *    are not well-formed XML: a strict client cannot read why it was disconnected. Found by the
 *    `server` and `session` targets (seed 20261207), e.g. `</\0auth>` after `<auth>`; fixed by
 *    quoting the name (quoted() in xml-framer.ts: U+FFFD for what XML forbids, cut at 64).
 *    Whatever the server writes must parse under a strict parser, its errors included.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { WebSocket } from "ws";
import { RawClient, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";
import { FramingError, XmlFramer } from "../src/server/transport/xml-framer.js";
import { NotWellFormedError, StrictXmlParser } from "../src/server/transport/strict-xml.js";

/** Characters XML 1.0 allows nowhere (outside its Char production). */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Null when `output` (one TCP stream from the server) is well-formed as a strict client reads it, else why not. */
function streamProblem(output: string): string | null {
  const framer = new XmlFramer(1 << 30);
  const parser = new StrictXmlParser("stream");
  try {
    for (const event of framer.push(Buffer.from(output.replace(/^<\?xml[^>]*\?>/, "")))) {
      if (event.kind === "header") parser.parseHeader(event.text);
      else if (event.kind === "element") parser.parseElement(event.text);
    }
    return null;
  } catch (err) {
    if (err instanceof FramingError || err instanceof NotWellFormedError) return `${err.message}: ${JSON.stringify(output)}`;
    throw err;
  }
}

let t: TestServer;

beforeAll(async () => {
  // Without requireTls, so that a ws:// stream gets past <open/> (a server that requires TLS
  // refuses a plain WebSocket stream at its header).
  t = await startTestServer({ requireTls: false });
});

afterAll(async () => {
  await t.close();
});

describe("stream errors echo only characters XML allows (fuzz finding 1)", () => {
  const names: [string, string][] = [
    ["NUL", "\u0000auth"],
    ["a C0 control", "a\u0001uth"],
    ["ESC", "\u001bauth"],
    ["U+FFFE", "auth\ufffe"],
    ["U+FFFF", "auth\uffff"],
  ];

  test.each(names)("TCP: a closing tag whose name has %s gets a well-formed not-well-formed error", async (_what, name) => {
    const client = await RawClient.connect(t.server.ports.c2s!);
    client.write(streamHeader());
    await client.waitFor("</stream:features>");
    client.write(Buffer.from(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'>=</${name}>`));
    const received = await client.waitFor("</stream:stream>");
    expect(received).toContain("<not-well-formed");
    expect(received).not.toMatch(NOT_XML_CHAR);
    expect(streamProblem(received)).toBeNull();
    client.destroy();
  });

  test.each(names)("WebSocket: a closing tag whose name has %s gets a well-formed not-well-formed error", async (_what, name) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`, "xmpp");
    const messages: string[] = [];
    const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
    ws.on("message", (data: Buffer) => messages.push(data.toString("utf8")));
    ws.on("error", () => {});
    await new Promise<void>((resolve) => ws.once("open", () => resolve()));
    ws.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${t.domain}' version='1.0'/>`);
    ws.send(`<message><body>x</body></${name}>`); // a text frame
    await closed;
    const error = messages.find((m) => m.includes("not-well-formed"));
    expect({ error: error !== undefined, messages }).toMatchObject({ error: true });
    expect(error).not.toMatch(NOT_XML_CHAR);
    for (const message of messages) {
      expect(() => new StrictXmlParser("messages").parseElement(XmlFramer.singleElement(message, 1 << 30))).not.toThrow();
    }
  });
});
