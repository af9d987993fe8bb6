/**
 * Every stanza the server accepts is well-formed XML 1.0 with namespaces (issue 7 #3): the
 * strict parser refuses what ltx let through, a fuzzer drives framer + parser with arbitrary
 * bytes, and on the wire malformed stanzas end the sender's stream and never reach anyone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import { SaxesParser } from "saxes";
import { FramingError, XmlFramer } from "../src/server/transport/xml-framer.js";
import { NotWellFormedError, StrictXmlParser } from "../src/server/transport/strict-xml.js";
import { RawClient, WsClient, loginRaw, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='1.0'>";

/** The oracle: a fresh strict, namespace-aware parser over a whole document. */
function strictlyWellFormed(document: string): boolean {
  const parser = new SaxesParser({ xmlns: true });
  let ok = true;
  parser.on("error", () => {
    ok = false;
  });
  parser.write(document).close();
  return ok;
}

/** A stanza as another client receives it: inside that client's stream. */
function asRelayed(stanza: string): string {
  return `${HEADER.replace(/>$/, "")}>${stanza}</stream:stream>`;
}

function streamParser(): StrictXmlParser {
  const parser = new StrictXmlParser("stream");
  parser.parseHeader(HEADER);
  return parser;
}

// What ltx accepted and relayed (issue 7 #3), and more of the same kind.
const MALFORMED: [string, string][] = [
  ["a quote in an attribute name", `<message a''b="1"/>`],
  ["an attribute without a value", `<message q>r="1"</message>`],
  ["an entity in an element name", `<a&amp;b/>`],
  ["a control character in text", `<message><body>\u0001</body></message>`],
  ["a control character in an attribute value", `<message id="\u0001"/>`],
  ["a non-character in text", `<message><body>\uFFFE</body></message>`],
  ["a name starting with a digit", `<1message/>`],
  ["a name starting with a hyphen", `<-message/>`],
  ["a duplicate attribute", `<message id="1" id="2"/>`],
  ["an unquoted attribute value", `<message id=1/>`],
  ["attributes without space between them", `<message id="1"to="x"/>`],
  ["an unbound prefix", `<message><p:x/></message>`],
  ["an unbound attribute prefix", `<message p:id="1"/>`],
  ["undeclaring a prefix", `<message xmlns:p=""/>`],
  ["rebinding xml", `<message xmlns:xml="urn:x"/>`],
  ["]]> in text", `<message><body>]]></body></message>`],
  ["a dotted prefix with a colon", `<a.b:c/>`],
  ["an undefined entity", `<message>&foo;</message>`],
  ["a reference to a non-character", `<message>&#0;</message>`],
  ["a reference to U+FFFF", `<message>&#xFFFF;</message>`],
  ["a lone surrogate by reference", `<message>&#xD800;</message>`],
];

describe("StrictXmlParser", () => {
  test.each(MALFORMED)("refuses %s", (_what, xml) => {
    expect(() => streamParser().parseElement(xml)).toThrow(NotWellFormedError);
    expect(() => new StrictXmlParser("messages").parseElement(xml)).toThrow(NotWellFormedError);
  });

  test("accepts what XML 1.0 allows, and gives the same element ltx did", () => {
    const element = streamParser().parseElement(
      `<message to='b@example.test' xml:lang='en' id="a&amp;b&#x1F600;"><body>1 &lt; 2 &gt; 0 😀 é</body><x-é.ü_1 xmlns='urn:x'/></message>`,
    );
    expect(element.name).toBe("message");
    expect(element.attrs).toEqual({ to: "b@example.test", "xml:lang": "en", id: "a&b😀" });
    expect(element.getChildText("body")).toBe("1 < 2 > 0 😀 é");
    expect(element.getChild("x-é.ü_1")?.attrs.xmlns).toBe("urn:x");
    expect(element.parent).toBeNull();
  });

  test("the header's attributes come through; a header with an unbound prefix is not well-formed", () => {
    const header = new StrictXmlParser("stream").parseHeader(HEADER);
    expect(header.name).toBe("stream:stream");
    expect(header.attrs["xmlns:stream"]).toBe("http://etherx.jabber.org/streams");
    expect(() => new StrictXmlParser("stream").parseHeader("<stream:stream xmlns='jabber:client' version='1.0'>")).toThrow(NotWellFormedError);
  });

  test("a prefix declared only on the stream header is declared on the stanza, so it can be relayed", () => {
    const parser = new StrictXmlParser("stream");
    parser.parseHeader(HEADER.replace(">", " xmlns:ext='urn:example:ext'>"));
    const element = parser.parseElement("<message><ext:data ext:kind='x'>1</ext:data><stream:x/></message>");
    expect(element.attrs["xmlns:ext"]).toBe("urn:example:ext");
    expect(element.attrs["xmlns:stream"]).toBe("http://etherx.jabber.org/streams");
    expect(strictlyWellFormed(element.toString())).toBe(true);
  });

  test("exactly one complete element per call", () => {
    expect(() => streamParser().parseElement("<a/><b/>")).toThrow(NotWellFormedError);
    expect(() => streamParser().parseElement("<a>")).toThrow(NotWellFormedError);
    expect(() => new StrictXmlParser("stream").parseElement("<a/>")).toThrow("no stream header");
  });
});

describe("parsers shared between streams", () => {
  const EXT_HEADER = HEADER.replace(">", " xmlns:ext='urn:example:ext'>");

  /** The outcome of one parse, as text: the element, or the error. */
  function outcome(parse: () => { toString(): string }): string {
    try {
      return `ok ${parse().toString()}`;
    } catch (err) {
      if (!(err instanceof NotWellFormedError)) throw err;
      return `refused ${err.message}`;
    }
  }

  test("a prefix one stream's header declares is unbound in another stream", () => {
    const withExt = new StrictXmlParser("stream");
    withExt.parseHeader(EXT_HEADER);
    const plain = streamParser();
    expect(withExt.parseElement("<message><ext:data/></message>").attrs["xmlns:ext"]).toBe("urn:example:ext");
    expect(() => plain.parseElement("<message><ext:data/></message>")).toThrow(NotWellFormedError);
    expect(() => new StrictXmlParser("messages").parseElement("<message xmlns='jabber:client'><ext:data/></message>")).toThrow(NotWellFormedError);
    expect(withExt.parseElement("<message><ext:data/></message>").attrs["xmlns:ext"]).toBe("urn:example:ext");
  });

  test("a prefix a stanza declares does not outlive the stanza", () => {
    const a = streamParser();
    const b = streamParser();
    expect(a.parseElement("<message xmlns:q='urn:q'><q:x/></message>").toString()).toBe('<message xmlns:q="urn:q"><q:x/></message>');
    expect(() => a.parseElement("<message><q:x/></message>")).toThrow(NotWellFormedError);
    expect(() => b.parseElement("<message><q:x/></message>")).toThrow(NotWellFormedError);
  });

  test("after a parse that failed half-way, the next stanza on any stream parses as on a fresh one", () => {
    for (const broken of ["<message><body>", "<message a='1' a='2'/>", "<message><q:x/></message>", "<message>&bogus;</message>", "<a/><b/>"]) {
      const a = streamParser();
      const b = streamParser();
      expect(() => a.parseElement(broken)).toThrow(NotWellFormedError);
      expect(b.parseElement("<message id='1'><body>hi</body></message>").toString()).toBe("<message id=\"1\"><body>hi</body></message>");
    }
    // Headers too: an incomplete or unbound one, then a good one.
    expect(() => new StrictXmlParser("stream").parseHeader("<stream:stream xmlns='jabber:client'")).toThrow(NotWellFormedError);
    expect(() => new StrictXmlParser("stream").parseHeader("<s:stream xmlns='jabber:client' version='1.0'>")).toThrow(NotWellFormedError);
    expect(new StrictXmlParser("stream").parseHeader(HEADER).name).toBe("stream:stream");
  });

  test("a header seen before reads the same, is a new Element each time, and a refused one stays refused", () => {
    const first = new StrictXmlParser("stream").parseHeader(EXT_HEADER);
    first.attrs.to = "changed.example";
    first.attrs["xmlns:ext"] = "urn:other";
    for (let i = 0; i < 3; i++) {
      const again = new StrictXmlParser("stream");
      const header = again.parseHeader(EXT_HEADER);
      expect(header).not.toBe(first);
      expect(header.attrs).toEqual({ xmlns: "jabber:client", "xmlns:stream": "http://etherx.jabber.org/streams", "xmlns:ext": "urn:example:ext", to: "example.test", version: "1.0" });
      // Its stanzas still inherit what the text declared, not what a session changed.
      expect(again.parseElement("<message><ext:data/></message>").attrs["xmlns:ext"]).toBe("urn:example:ext");
    }
    const unbound = "<stream:stream xmlns='jabber:client' version='1.0'>";
    for (let i = 0; i < 3; i++) expect(() => new StrictXmlParser("stream").parseHeader(unbound)).toThrow(NotWellFormedError);
  });

  test("history does not matter: any interleaving of stanzas over streams gives what a new stream gives", () => {
    const headers = [HEADER, EXT_HEADER, null]; // null: WebSocket messages
    const fresh = (kind: number) => {
      const header = headers[kind];
      const parser = new StrictXmlParser(header === null ? "messages" : "stream");
      if (header !== null) parser.parseHeader(header);
      return parser;
    };
    const stanza = fc.oneof(
      fc.constantFrom(
        "<message><ext:data/></message>",
        "<message xmlns:q='urn:q'><q:x/></message>",
        "<message><q:x/></message>",
        "<message xmlns='jabber:client'><body>x</body></message>",
        "<message><body>",
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        "<message a='1' a='2'/>",
        "<stream:x/>",
      ),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), stanza), { maxLength: 40 }), (steps) => {
        const longLived = headers.map((_, kind) => fresh(kind));
        for (const [kind, text] of steps) {
          expect(outcome(() => longLived[kind]!.parseElement(text))).toBe(outcome(() => fresh(kind).parseElement(text)));
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** XML-ish pieces, so that a fair share of the fuzzed streams frame and parse at all. */
const piece = fc.oneof(
  fc.constantFrom("<", ">", "/", "'", '"', "=", " ", "\n", ":", "&", ";", "<message>", "</message>", "<body>", "</body>", "<a/>", "<x:y/>"),
  fc.constantFrom(" id='1'", " xmlns='urn:x'", " xmlns:x='urn:x'", "&amp;", "&#1;", "&#x1F600;", "&lt;", "é", "😀", "\u0001", "\uFFFE", "]]>", "<!--", "<?"),
  fc.string({ maxLength: 3 }),
  fc.uint8Array({ maxLength: 3 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
);
/** Elements built from names, attributes and content that are each sometimes malformed. */
const mostlyValid = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: invalid, weight: 1 });
const name = mostlyValid(fc.constantFrom("message", "body", "a", "é", "a-b.c_1"), fc.constantFrom("x:y", "1a", "a&amp;b", "a'b", "-a", "a.b:c", "ext:data"));
const attribute = mostlyValid(
  fc.constantFrom(" id='1'", ' to="b@example.test"', " xmlns='urn:x'", " xmlns:x='urn:x'", " id='&amp;&lt;'", ` id="'"`, " id='>'", " xml:lang='en'"),
  fc.constantFrom(" q", " a''b='1'", " xmlns:ext=''", " x:z='1'", " id=1", " id='\u0001'", " id='&#0;'", " id='1' id='2'"),
);
const content = mostlyValid(
  fc.constantFrom("text", "&amp;", "😀", "<b/>", "<b>x</b>", "&#x1F600;", " > ", "\r\n"),
  fc.oneof(fc.constantFrom("&foo;", "\u0001", "<x:b/>", "<b>", "</b>", "]]>", "\uFFFE", "&#xD800;"), fc.string({ maxLength: 4 })),
);
const element: fc.Arbitrary<string> = fc
  .record({ name, attrs: fc.array(attribute, { maxLength: 3 }), content: fc.array(content, { maxLength: 4 }), empty: fc.boolean() })
  .map(({ name, attrs, content, empty }) => (empty ? `<${name}${attrs.join("")}/>` : `<${name}${attrs.join("")}>${content.join("")}</${name}>`));
const fuzzedStream = fc.record({
  body: fc
    .array(fc.oneof({ arbitrary: element, weight: 8 }, { arbitrary: piece, weight: 1 }, { arbitrary: fc.constantFrom(" ", "\n"), weight: 2 }), { maxLength: 8 })
    .map((parts) => Buffer.from(parts.join(""), "utf8")),
  cuts: fc.uniqueArray(fc.integer({ min: 1, max: 400 }), { maxLength: 6 }),
});

/** Feeds header + body through framer and strict parser the way TcpTransport does; returns what was accepted. */
function acceptStream(body: Buffer, cuts: number[]): { stanzas: string[]; error: string | null } {
  const framer = new XmlFramer(10_000);
  const parser = new StrictXmlParser("stream");
  const stanzas: string[] = [];
  const bytes = Buffer.concat([Buffer.from(HEADER), body]);
  let start = 0;
  try {
    for (const cut of [...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length]) {
      for (const event of framer.push(bytes.subarray(start, cut))) {
        if (event.kind === "header") parser.parseHeader(event.text);
        else if (event.kind === "element") stanzas.push(parser.parseElement(event.text).toString());
      }
      start = cut;
    }
  } catch (err) {
    // Anything else (a TypeError, a RangeError) is a bug the property reports.
    if (err instanceof FramingError || err instanceof NotWellFormedError) return { stanzas, error: err.name };
    throw err;
  }
  return { stanzas, error: null };
}

describe("framer + strict parser under fuzzed input", () => {
  test("only typed errors; every accepted stanza parses under a strict XML parser; chunking changes nothing", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fuzzedStream, ({ body, cuts }) => {
        const whole = acceptStream(body, []);
        for (const stanza of whole.stanzas) expect(strictlyWellFormed(asRelayed(stanza))).toBe(true);
        accepted += whole.stanzas.length;
        const cut = acceptStream(body, cuts);
        // Which error comes first may depend on the cuts (the framer sees a whole chunk before
        // the parser sees its elements); whether there is one does not.
        expect(cut.error === null).toBe(whole.error === null);
        // Without an error, the same stanzas; with one, the elements completed in the chunk that
        // failed are dropped with it, so one list is the start of the other.
        if (whole.error === null) expect(cut.stanzas).toEqual(whole.stanzas);
        else {
          const [shorter, longer] = cut.stanzas.length <= whole.stanzas.length ? [cut.stanzas, whole.stanzas] : [whole.stanzas, cut.stanzas];
          expect(longer.slice(0, shorter.length)).toEqual(shorter);
        }
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(300); // the generator does reach the accepting paths
  });

  test("WebSocket messages: only typed errors, and what is accepted is well-formed", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const text = pieces.join("");
        let element;
        try {
          element = new StrictXmlParser("messages").parseElement(XmlFramer.singleElement(text, 10_000));
        } catch (err) {
          if (err instanceof FramingError || err instanceof NotWellFormedError) return;
          throw err;
        }
        expect(strictlyWellFormed(element.toString())).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("on the wire", () => {
  let t: TestServer;
  const clients: RawClient[] = [];
  beforeAll(async () => {
    t = await startTestServer({ requireTls: false });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });
  afterAll(async () => {
    await t.close();
  });

  test.each(MALFORMED.slice(0, 6))("%s: the sender gets not-well-formed, nothing reaches the recipient", async (_what, xml) => {
    const bob = await loginRaw(t, "bob", { resource: "r" });
    const alice = await loginRaw(t, "alice");
    clients.push(bob.client, alice.client);
    const stanza = xml.replace(/^<(message|a&amp;b)/, `<$1 to='${bob.jid}'`);
    alice.client.write(stanza);
    await alice.client.waitFor('<not-well-formed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>');
    await alice.client.waitForClose();
    // A marker from someone else arrives after anything alice's stanza could have produced.
    const carol = await loginRaw(t, "carol");
    clients.push(carol.client);
    carol.client.write(`<message to='${bob.jid}' id='marker'><body>after</body></message>`);
    await bob.client.waitFor("id=\"marker\"");
    expect(bob.client.received).not.toContain(`from="${alice.jid}"`);
    expect(strictlyWellFormed(asRelayed(bob.client.received.replace(/<presence[^]*?(\/>|<\/presence>)/g, "")))).toBe(true);
  });

  test("over WebSocket too", async () => {
    const ws = await WsClient.connect(t.server.ports.http!);
    try {
      ws.send(wsOpen());
      await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
      ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN' x''y='1'>${saslAuth("a", t.mint("a")).replace(/^<auth[^>]*>|<\/auth>$/g, "")}</auth>`);
      await ws.next(/<not-well-formed /);
      expect(await ws.waitForClose()).toBe(1000);
    } finally {
      ws.close();
    }
  });
});
