/**
 * The fuzzer's inputs: a corpus of valid XMPP traffic (stream headers, STARTTLS, SASL with valid
 * tokens, bind, iq/message/presence, WebSocket `<open/>`), extauth requests and SASL payloads; a
 * mutation engine over it (bit flips, bytes XML and UTF-8 care about, a dictionary of tokens that
 * matter to XML parsers, repeats that make deep nesting and huge attribute counts, splices); a
 * small XML grammar; and chunkings of bytes at random boundaries. All are fast-check arbitraries,
 * so inputs are reproducible from a seed and shrink.
 */
import fc from "fast-check";

export const DOMAIN = "example.test";
export const OTHER_DOMAIN = "other.test";

export const NS = {
  stream: "http://etherx.jabber.org/streams",
  client: "jabber:client",
  sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
  tls: "urn:ietf:params:xml:ns:xmpp-tls",
  bind: "urn:ietf:params:xml:ns:xmpp-bind",
  session: "urn:ietf:params:xml:ns:xmpp-session",
  framing: "urn:ietf:params:xml:ns:xmpp-framing",
} as const;

/** Placeholders a session input may carry; filled with a fresh token when the input runs. */
export const AUTH_MARK = "@@AUTH@@";
export const AUTHZ_MARK = "@@AUTHZ@@";
export const TOKEN_MARK = "@@TOKEN@@";
/**
 * Where a client waits for the server's answer before it goes on (after `<auth/>`: a client may
 * not send the restarted stream's header before `<success/>`); the session targets split there.
 */
export const WAIT_MARK = "@@WAIT@@";

export const HEADERS = [
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${NS.stream}' to='${DOMAIN}' version='1.0'>`,
  `<stream:stream xmlns="jabber:client" xmlns:stream="${NS.stream}" to="${DOMAIN}" version="1.0" xml:lang="en" from="fuzz0@${DOMAIN}">`,
  `<?xml version="1.0" encoding="UTF-8"?>\n<stream:stream to='${DOMAIN}' xmlns:stream='${NS.stream}' version='1.0' xmlns='jabber:client'>`,
  `<s:stream xmlns:s='${NS.stream}' xmlns='jabber:client' to='${DOMAIN.toUpperCase()}' version='1.0'>`,
  `<stream xmlns='${NS.stream}' to='${DOMAIN}' version='1.0'>`,
  `<stream:stream xmlns='jabber:client' xmlns:stream='${NS.stream}' xmlns:x='urn:x' to='${OTHER_DOMAIN}' version='1.0'>`,
  `<stream:stream xmlns='jabber:client' xmlns:stream='${NS.stream}' to='${DOMAIN}'>`,
];
export const HEADER = HEADERS[0]!;

const SASL = NS.sasl;
const SASL2 = "urn:xmpp:sasl:2";
export const STANZAS = [
  `<presence/>`,
  `<presence type='unavailable'/>`,
  `<presence><show>away</show><status>Out &amp; about 😀</status><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversejs.org' ver='Q6gKa8oF1L8YyOuT+lkOm3BF3kY='/></presence>`,
  `<presence to='fuzz1@${DOMAIN}' type='subscribe'/>`,
  `<presence to='fuzz0@${DOMAIN}' type='subscribed'/>`,
  `<message to='fuzz0@${DOMAIN}/fuzz' type='chat' id='m1'><body>Hello &lt;3 &amp; jürgen 😀 &#x1F600; &#65;</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
  `<message to='fuzz0@${DOMAIN}' type='normal'><subject>s</subject><body xml:lang='de'>Grüße</body><thread>t1</thread></message>`,
  `<message to='fuzz1@${DOMAIN}'><body>offline</body></message>`,
  `<message to='nobody@${OTHER_DOMAIN}/r'><body>x</body></message>`,
  `<message to='${DOMAIN}'><body>to the server</body></message>`,
  `<message type='groupchat' to='room@conference.${DOMAIN}'><body>g</body><x:y xmlns:x='urn:x' x:a='1'/></message>`,
  `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`,
  `<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='fuzz1@${DOMAIN}' name='One &amp; only'><group>Friends</group><group>Work</group></item></query></iq>`,
  `<iq type='set' id='r3'><query xmlns='jabber:iq:roster'><item jid='fuzz1@${DOMAIN}' subscription='remove'/></query></iq>`,
  `<iq type='get' id='p1' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`,
  `<iq type='get' id='d1' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
  `<iq type='get' id='d2' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
  `<iq type='get' id='d3' to='fuzz0@${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
  `<iq type='get' id='v1' to='fuzz1@${DOMAIN}/x'><vCard xmlns='vcard-temp'/></iq>`,
  `<iq type='set' id='ps1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='a'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish></pubsub></iq>`,
  `<iq type='result' id='x1' to='fuzz0@${DOMAIN}/fuzz'/>`,
  `<iq type='error' id='x2'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
  `<iq type='set' id='s1'><session xmlns='${NS.session}'/></iq>`,
  `<r xmlns='urn:xmpp:sm:3'/>`,
  `<enable xmlns='urn:xmpp:sm:3'/>`,
  `<message xmlns='jabber:client' to="fuzz0@${DOMAIN}"><body a="it's" b='"q"'>a &gt; b &apos;&quot;</body></message>`,
];

export const BINDS = [
  `<iq type='set' id='b1'><bind xmlns='${NS.bind}'><resource>fuzz</resource></bind></iq>`,
  `<iq type='set' id='b2'><bind xmlns='${NS.bind}'/></iq>`,
  `<iq type='set' id='b3'><bind xmlns='${NS.bind}'><resource>Phone 📱 ${"r".repeat(40)}</resource></bind></iq>`,
];

export const NEGOTIATION = [
  `<starttls xmlns='${NS.tls}'/>`,
  `<auth xmlns='${SASL}' mechanism='X-TOKEN'>${AUTH_MARK}</auth>`,
  `<auth xmlns='${SASL}' mechanism='PLAIN'>${AUTH_MARK}</auth>`,
  `<auth xmlns='${SASL}' mechanism='X-TOKEN'>${AUTHZ_MARK}</auth>`,
  `<auth xmlns='${SASL}' mechanism='X-TOKEN'/>`,
  `<response xmlns='${SASL}'>${AUTH_MARK}</response>`,
  `<response xmlns='${SASL}'/>`,
  `<abort xmlns='${SASL}'/>`,
  `<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'>biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>`,
  `<auth xmlns='${SASL}' mechanism='X-TOKEN'>=</auth>`,
  `<auth xmlns='${SASL}' mechanism='X-TOKEN'>AGZ1enowAA==</auth>`,
  // 11-15: SASL2 (XEP-0388) with Bind 2 and FAST inline; no stream restart after its success.
  `<authenticate xmlns='${SASL2}' mechanism='X-TOKEN'><initial-response>${AUTH_MARK}</initial-response><user-agent id='fuzz-agent'><software>fuzz</software></user-agent><bind xmlns='urn:xmpp:bind:0'><tag>fuzz</tag></bind><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate>`,
  `<authenticate xmlns='${SASL2}' mechanism='HT-SHA-256-NONE'><initial-response>ZnV6ejAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==</initial-response><user-agent id='fuzz-agent'/><fast xmlns='urn:xmpp:fast:0' invalidate='true'/></authenticate>`,
  `<authenticate xmlns='${SASL2}' mechanism='X-TOKEN'/>`,
  `<response xmlns='${SASL2}'>${AUTH_MARK}</response>`,
  `<abort xmlns='${SASL2}'/>`,
];

const W = WAIT_MARK;
/** Whole client streams: what a client sends from connect to close (tokens filled in at run time). */
export const SESSIONS = [
  HEADER + NEGOTIATION[1] + W + HEADER + BINDS[0] + STANZAS[0] + STANZAS[5] + STANZAS[11] + STANZAS[14] + `</stream:stream>`,
  HEADER + NEGOTIATION[1] + W + HEADER + BINDS[1] + STANZAS[2] + STANZAS[12] + STANZAS[3] + STANZAS[7] + STANZAS[15] + STANZAS[1] + `</stream:stream>`,
  HEADER + NEGOTIATION[2] + W + HEADERS[1] + BINDS[2] + STANZAS[6] + STANZAS[10] + STANZAS[19] + STANZAS[13] + STANZAS[22] + STANZAS[16],
  HEADER + NEGOTIATION[4] + W + NEGOTIATION[5] + W + HEADER + BINDS[0] + BINDS[0] + STANZAS[25] + STANZAS[8] + STANZAS[9] + STANZAS[17] + STANZAS[18],
  HEADER + NEGOTIATION[3] + W + HEADER + BINDS[0] + STANZAS[0] + STANZAS[1] + STANZAS[0] + STANZAS[4] + STANZAS[20] + STANZAS[21] + " \n\t " + `</stream:stream>`,
  HEADER + NEGOTIATION[10] + NEGOTIATION[1] + W + HEADER + BINDS[0] + STANZAS[23] + STANZAS[24] + STANZAS[5],
  HEADER + NEGOTIATION[0] + NEGOTIATION[1],
  HEADER + NEGOTIATION[8] + NEGOTIATION[7] + NEGOTIATION[9] + NEGOTIATION[1] + W + HEADER + BINDS[0],
  HEADER + STANZAS[5] + NEGOTIATION[1],
  HEADERS[2] + NEGOTIATION[1] + W + HEADERS[3] + BINDS[0] + STANZAS[0],
  HEADERS[4] + NEGOTIATION[1],
  HEADERS[5] + NEGOTIATION[1] + W + HEADERS[5] + BINDS[0] + STANZAS[10],
  HEADERS[6] + NEGOTIATION[1],
  HEADER + "   \n" + NEGOTIATION[6] + NEGOTIATION[1] + W + HEADER + " " + BINDS[0] + " " + STANZAS[0] + " ",
  HEADER + NEGOTIATION[12] + NEGOTIATION[11] + W + STANZAS[0] + STANZAS[5] + `</stream:stream>`,
  HEADER + NEGOTIATION[13] + W + NEGOTIATION[15] + NEGOTIATION[13] + W + NEGOTIATION[14] + W + BINDS[0] + STANZAS[0],
];

/** WebSocket (RFC 7395) conversations: one element per message. */
export const WS_OPEN = `<open xmlns='${NS.framing}' to='${DOMAIN}' version='1.0'/>`;
export const WS_CLOSE = `<close xmlns='${NS.framing}'/>`;
export const WS_SESSIONS: string[][] = [
  [WS_OPEN, NEGOTIATION[1]!, WS_OPEN, BINDS[0]!, STANZAS[0]!, STANZAS[5]!, STANZAS[11]!, WS_CLOSE],
  [WS_OPEN, NEGOTIATION[4]!, NEGOTIATION[5]!, WS_OPEN, BINDS[1]!, STANZAS[12]!, STANZAS[3]!, STANZAS[2]!],
  [WS_OPEN, NEGOTIATION[2]!, WS_OPEN, BINDS[0]!, " ", STANZAS[6]!, WS_CLOSE],
  [WS_OPEN, STANZAS[5]!, NEGOTIATION[1]!],
  [STANZAS[0]!, WS_OPEN],
  [`<open xmlns='${NS.framing}' to='${DOMAIN}' version='1.0'></open>`, NEGOTIATION[1]!],
  [WS_OPEN, NEGOTIATION[11]!, STANZAS[0]!, STANZAS[5]!, WS_CLOSE],
];

/** Tokens, lists of attributes and oddities XML parsers and UTF-8 decoders trip on. */
const DICTIONARY_TEXT = [
  "<", ">", "/>", "</", "<?", "?>", "<!--", "-->", "<![CDATA[", "]]>", "<!DOCTYPE s [<!ENTITY a 'b'>]>",
  "<!ENTITY x SYSTEM 'file:///etc/passwd'>", "&x;", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#0;", "&#x0;", "&#xD800;",
  "&#xDFFF;", "&#xFFFE;", "&#x110000;", "&#65;", "&#x1F600;", "&#99999999999999999999;", "&foo;", "&", "&#;", "&#x;", "&amp;lt;",
  "xmlns=''", "xmlns:a='urn:a'", "xmlns:xml='x'", "xmlns:xmlns='x'", "xml:lang='en'", "a:b", ":", "x:", ":x", "='", '="', "'", '"',
  "=", " a='1'", " a='1' a='2'", ' b="2"', " c=3", " xmlns:p='urn:p' p:q='1'", " q:r='1'", "\0", "\t", "\r\n", "\r", "\n", " ",
  "\u0085", "\u2028", "\u00a0", "\ufeff", "\u202e", "\u0001", "\u001b", "\u007f",
  "</stream:stream>", "</stream>", HEADER, "<stream:stream>", "<?xml version='1.0'?>", "<?xml version='1.1'?>", "<?xml-stylesheet a?>",
  ...NEGOTIATION, ...BINDS, ...STANZAS.slice(0, 8), WS_OPEN, WS_CLOSE, AUTH_MARK, TOKEN_MARK,
  "version='1.0'", "version='2.0'", `to='${OTHER_DOMAIN}'`, "to='EXAMPLE.TEST'", "to='ex\u00e4mple.test'", "to='a..b'", "to=''",
  "mechanism='X-TOKEN'", "mechanism='PLAIN'", "mechanism=''", "mechanism='x-token'", "id=''", "type='error'", "type='result'",
  "=", "==", "===", "AA==", "AAA=", "AB==", "ABC=", "AGZ1enowAA", "AGZ1enow", "AGFsaWNlAA==",
  "a".repeat(300), "é".repeat(100), "😀".repeat(50), `fuzz0@${DOMAIN}/fuzz`, `@${DOMAIN}`, "/", "@",
];
const DICTIONARY_BYTES = [
  [0xc0, 0xaf], [0xc0, 0x80], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xef, 0xbf, 0xbe], [0xef, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff], [0xfe], [0x80], [0xbf], [0xc2], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xef, 0xbb, 0xbf], [0xc3, 0xa9],
  [0xf0, 0x9f, 0x98, 0x80], [0x00, 0x00], [0xe2, 0x80, 0xae],
];
export const DICTIONARY: Buffer[] = [...DICTIONARY_TEXT.map((t) => Buffer.from(t)), ...DICTIONARY_BYTES.map((b) => Buffer.from(b))];

/** Single bytes worth putting anywhere. */
const INTERESTING = [0x00, 0x3c, 0x3e, 0x26, 0x22, 0x27, 0x2f, 0x3f, 0x21, 0x3d, 0x3a, 0x20, 0x09, 0x0a, 0x0d, 0x23, 0x3b, 0x5b, 0x5d,
  0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xfe, 0xff, 0x7f, 0x01, 0x1f, 0x41, 0x61, 0x7a];

/** Code points worth a character reference. */
const CHAR_REFS = [0, 1, 8, 9, 0xa, 0xb, 0xd, 0x1f, 0x20, 0x26, 0x3c, 0x7f, 0x85, 0xa0, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd,
  0xfffe, 0xffff, 0x10000, 0x1f600, 0x10ffff, 0x110000, 0x7fffffff, 0xffffffff];

export interface MutationOp {
  kind: number;
  a: number;
  b: number;
  c: number;
}

export const mutationOp: fc.Arbitrary<MutationOp> = fc.record({ kind: fc.nat(17), a: fc.nat(), b: fc.nat(), c: fc.nat() });

/** Largest input the mutations build (repeats stop there). */
export const MAX_INPUT_BYTES = 64 * 1024;

/**
 * Applies `ops` to `base` in order. Positions and lengths come from the ops' numbers modulo the
 * current length, so every op applies to every input and shrinking an op's numbers moves it to
 * the start and makes it smaller.
 */
export function mutate(base: Buffer, ops: readonly MutationOp[], corpus: readonly Buffer[], maxBytes = MAX_INPUT_BYTES): Buffer {
  let data = base;
  for (const { kind, a, b, c } of ops) {
    const n = data.length;
    const at = n === 0 ? 0 : a % n;
    const gap = a % (n + 1);
    const insert = (piece: Buffer, where = gap) => Buffer.concat([data.subarray(0, where), piece, data.subarray(where)]);
    switch (kind) {
      case 0: // flip a bit
        if (n === 0) break;
        data = Buffer.from(data);
        data[at] = data[at]! ^ (1 << (b % 8));
        break;
      case 1: // an interesting byte
        if (n === 0) break;
        data = Buffer.from(data);
        data[at] = INTERESTING[b % INTERESTING.length]!;
        break;
      case 2: {
        // delete a range (short, or long one time in four)
        const len = 1 + (c % 4 === 0 ? b % Math.max(1, n) : b % 16);
        data = Buffer.concat([data.subarray(0, at), data.subarray(Math.min(n, at + len))]);
        break;
      }
      case 3:
      case 4: // insert a dictionary entry
        data = insert(DICTIONARY[b % DICTIONARY.length]!);
        break;
      case 5: {
        // replace a range with a dictionary entry
        const len = c % 8;
        data = Buffer.concat([data.subarray(0, at), DICTIONARY[b % DICTIONARY.length]!, data.subarray(Math.min(n, at + len))]);
        break;
      }
      case 6: {
        // copy a range elsewhere
        const piece = data.subarray(at, Math.min(n, at + 1 + (b % 64)));
        data = insert(Buffer.from(piece), c % (n + 1));
        break;
      }
      case 7: {
        // repeat a range many times (deep nesting, long runs)
        const piece = Buffer.from(data.subarray(at, Math.min(n, at + 1 + (b % 24))));
        const times = 2 + (c % 3 === 0 ? c % 5000 : c % 100);
        data = insert(repeatTo(piece, times, maxBytes - n), Math.min(n, at + piece.length));
        break;
      }
      case 8: {
        // splice in a slice of another corpus entry
        const other = corpus[b % corpus.length]!;
        const from = c % (other.length + 1);
        data = insert(other.subarray(from, Math.min(other.length, from + 1 + (c % 256))));
        break;
      }
      case 9: // truncate
        data = data.subarray(0, at);
        break;
      case 10: {
        // a few arbitrary bytes
        const bytes = Buffer.alloc(1 + (c % 4));
        for (let i = 0; i < bytes.length; i++) bytes[i] = (b >>> (i * 8)) & 0xff;
        data = insert(bytes);
        break;
      }
      case 11: {
        // a dictionary entry repeated (nesting `<a>`s, runs of `&#0;`, ...)
        const piece = DICTIONARY[b % DICTIONARY.length]!;
        data = insert(repeatTo(piece, 2 + (c % 3000), maxBytes - n));
        break;
      }
      case 12: {
        // many distinct attributes, or many namespace declarations
        const count = 1 + (c % 3 === 0 ? c % 20000 : c % 300);
        const parts: string[] = [];
        let size = 0;
        for (let i = 0; i < count && size < maxBytes - n; i++) {
          const attr = b % 3 === 0 ? ` xmlns:p${i}='urn:p${i}'` : b % 3 === 1 ? ` a${i}='${i}'` : ` p${i % 7}:a${i}='v'`;
          parts.push(attr);
          size += attr.length;
        }
        data = insert(Buffer.from(parts.join("")));
        break;
      }
      case 13: {
        // crossover: the rest replaced by another corpus entry's rest
        const other = corpus[b % corpus.length]!;
        data = Buffer.concat([data.subarray(0, gap), other.subarray(c % (other.length + 1))]);
        break;
      }
      case 14: {
        // toggle the case of an ASCII letter
        if (n === 0) break;
        const byte = data[at]!;
        if ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a) {
          data = Buffer.from(data);
          data[at] = byte ^ 0x20;
        }
        break;
      }
      case 15: {
        // a character reference
        const cp = c % 2 === 0 ? CHAR_REFS[b % CHAR_REFS.length]! : b % 0x110000;
        data = insert(Buffer.from(c % 4 < 2 ? `&#x${cp.toString(16)};` : `&#${cp};`));
        break;
      }
      case 16: {
        // a character as UTF-8 (or as the 3-byte form of a surrogate, which UTF-8 forbids)
        const cp = CHAR_REFS[b % CHAR_REFS.length]!;
        data = insert(cp >= 0xd800 && cp <= 0xdfff ? Buffer.from([0xed, 0xa0 | ((cp >> 6) & 0x1f), 0x80 | (cp & 0x3f)]) : cp <= 0x10ffff ? Buffer.from(String.fromCodePoint(cp)) : Buffer.from([0xf4, 0x90, 0x80, 0x80]));
        break;
      }
      case 17: {
        // swap two adjacent ranges
        const len1 = 1 + (b % 32);
        const len2 = 1 + (c % 32);
        if (at + len1 + len2 > n) break;
        data = Buffer.concat([data.subarray(0, at), data.subarray(at + len1, at + len1 + len2), data.subarray(at, at + len1), data.subarray(at + len1 + len2)]);
        break;
      }
    }
    if (data.length > maxBytes) data = data.subarray(0, maxBytes);
  }
  return data;
}

function repeatTo(piece: Buffer, times: number, room: number): Buffer {
  if (piece.length === 0 || room <= 0) return Buffer.alloc(0);
  return Buffer.alloc(Math.min(piece.length * times, Math.max(0, room)), piece);
}

/** An entry of `corpus` with up to `maxOps` mutations (none, often: valid inputs run too). */
export function mutated(corpus: readonly Buffer[], maxOps = 8, mutationCorpus: readonly Buffer[] = corpus): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.nat(corpus.length - 1), fc.array(mutationOp, { maxLength: maxOps }))
    .map(([i, ops]) => mutate(corpus[i]!, ops, mutationCorpus));
}

// ---- a small XML grammar --------------------------------------------------------------------

const NAMES = ["a", "message", "body", "iq", "query", "item", "x:y", "stream:features", "_", "a-b.c", "é", "日本", "a:b:c", ":a", "a:", "1a", "-a", ".a", "a b", "xmlns", "xml", "XmL", "a\u00b7", "\u0300a", "a\u0000", "𐀀"];
const ATTR_NAMES = ["id", "to", "from", "type", "xmlns", "xmlns:x", "x:a", "xml:lang", "xmlns:xml", "a", "a", "b", "1", "é", "xmlns:", "xmlns:xmlns", "y:z"];
const VALUES = ["", "v", "urn:x", "jabber:client", "a&amp;b", "a&b", "a<b", "\"'", "&#0;", "&#x10FFFF;", "&#xD800;", "tab\there", "\u0000", "😀", "&lt;&gt;", "&undefined;", "x".repeat(100)];
const TEXTS = ["", "text", "a &amp; b", "&lt;", "1 > 0", "]]>", "&#x1F600;", "\u0000", "\r\n", "\u0001", "&#xFFFE;", "&bogus;", "é😀", " ", "&#13;"];

export const xmlTree: fc.Arbitrary<string> = fc.letrec<{ node: string; element: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { arbitrary: fc.constantFrom(...TEXTS), weight: 3 },
    { arbitrary: tie("element"), weight: 2 },
    { arbitrary: fc.constantFrom("<![CDATA[x]]>", "<!-- c -->", "<?pi x?>", "<!DOCTYPE x>"), weight: 1 },
  ),
  element: fc
    .record({
      name: fc.constantFrom(...NAMES),
      closeName: fc.option(fc.constantFrom(...NAMES), { freq: 8 }),
      attrs: fc.array(fc.tuple(fc.constantFrom(...ATTR_NAMES), fc.constantFrom(...VALUES), fc.constantFrom("'", '"', "")), { maxLength: 5 }),
      children: fc.array(tie("node"), { maxLength: 4 }),
      selfClose: fc.boolean(),
    })
    .map(({ name, closeName, attrs, children, selfClose }) => {
      const attrText = attrs.map(([n, v, q]) => ` ${n}=${q}${v}${q}`).join("");
      if (selfClose && children.length === 0) return `<${name}${attrText}/>`;
      return `<${name}${attrText}>${children.join("")}</${closeName ?? name}>`;
    }),
})).element;

// ---- chunking ---------------------------------------------------------------------------------

/** How to cut bytes into chunks: at these offsets (modulo the length), or into single bytes. */
export type Chunking = { cuts: number[] } | { bytewise: true };

export const chunking: fc.Arbitrary<Chunking> = fc.oneof(
  { arbitrary: fc.array(fc.nat(), { maxLength: 16 }).map((cuts) => ({ cuts })), weight: 6 },
  { arbitrary: fc.constant({ bytewise: true as const }), weight: 1 },
);

/** The chunks of `bytes` under `how` (bytewise only up to `maxBytewise` bytes; cut in 64 pieces past it). */
export function cut(bytes: Buffer, how: Chunking, maxBytewise = Infinity): Buffer[] {
  if ("bytewise" in how) {
    if (bytes.length <= maxBytewise) {
      const out: Buffer[] = [];
      for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
      return out;
    }
    const step = Math.ceil(bytes.length / 64);
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += step) out.push(bytes.subarray(i, i + step));
    return out;
  }
  const points = [...new Set(how.cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/**
 * Any UTF-16 string, lone surrogates included, up to `maxLength` code units or points. (fast-check's
 * own `unit: "binary"` strings build a table of every code point first: about 80 MiB of heap.)
 */
export function anyString(maxLength: number): fc.Arbitrary<string> {
  const unit = fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 0x7f }), weight: 4 },
    { arbitrary: fc.integer({ min: 0x80, max: 0xffff }), weight: 2 },
    { arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }), weight: 1 },
  );
  return fc.array(unit, { maxLength }).map((units) => units.map((u) => (u > 0xffff ? String.fromCodePoint(u) : String.fromCharCode(u))).join(""));
}

export const toBuffers = (texts: readonly string[]): Buffer[] => texts.map((t) => Buffer.from(t));

/** A stream input for the XML targets: a mutated client stream, or a header and generated elements. */
export function streamBytes(): fc.Arbitrary<Buffer> {
  const streams = toBuffers([...SESSIONS.map(fillWithDummyToken), ...HEADERS.map((h) => h + STANZAS.join("") + "</stream:stream>")]);
  const elements = toBuffers([...STANZAS, ...BINDS, ...NEGOTIATION.map(fillWithDummyToken), WS_OPEN, WS_CLOSE]);
  const all = [...streams, ...elements];
  return fc.oneof(
    { arbitrary: mutated(streams, 8, all), weight: 6 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...HEADERS), fc.array(fc.oneof(xmlTree, fc.constantFrom(...STANZAS)), { maxLength: 6 }), fc.boolean())
        .map(([h, els, close]) => Buffer.from(h + els.join("") + (close ? "</stream:stream>" : ""))),
      weight: 2,
    },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...HEADERS), fc.oneof(xmlTree, fc.constantFrom(...STANZAS)), fc.array(mutationOp, { maxLength: 4 }))
        .map(([h, el, ops]) => Buffer.concat([Buffer.from(h), mutate(Buffer.from(el), ops, all)])),
      weight: 2,
    },
  );
}

/** A standalone element (a WebSocket message, a stanza): mutated corpus, grammar, or both. */
export function elementBytes(): fc.Arbitrary<Buffer> {
  const elements = toBuffers([...STANZAS, ...BINDS, ...NEGOTIATION.map(fillWithDummyToken), WS_OPEN, WS_CLOSE]);
  return fc.oneof(
    { arbitrary: mutated(elements, 8), weight: 5 },
    { arbitrary: xmlTree.map((t) => Buffer.from(t)), weight: 2 },
    { arbitrary: fc.tuple(xmlTree, fc.array(mutationOp, { maxLength: 4 })).map(([t, ops]) => mutate(Buffer.from(t), ops, elements)), weight: 2 },
  );
}

/** The SASL placeholders with a well-formed but unusable token, for targets that mint nothing. */
export function fillWithDummyToken(text: string): string {
  const token = "12345678" + "9".repeat(32) + " " + "A".repeat(43) + "=";
  const payload = Buffer.from(`\0fuzz0\0${token}`).toString("base64");
  const authz = Buffer.from(`fuzz0@${DOMAIN}\0fuzz0\0${token}`).toString("base64");
  return text.split(AUTH_MARK).join(payload).split(AUTHZ_MARK).join(authz).split(TOKEN_MARK).join(token).split(WAIT_MARK).join("");
}
