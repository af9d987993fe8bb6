/**
 * The strict XML stage: every header and element the framer cut out is parsed by saxes, a
 * conforming XML 1.0 + Namespaces parser, into @xmpp/xml Elements. Anything that is not
 * well-formed and namespace-well-formed (a name outside the XML Name production, a character
 * outside Char in text or an attribute value, an unknown entity, a duplicate attribute, an
 * unbound prefix, `a=1` without quotes, ...) is a NotWellFormedError, which the transports
 * answer with the stream error `not-well-formed`. So what the server relays to other clients
 * always parses under a strict parser (ltx, which @xmpp/xml uses, checks none of this).
 *
 * A stream keeps only the namespaces its TCP header declared (stanzas inherit them), so an idle
 * connection holds no parser state. The saxes parsers themselves are shared by every stream whose
 * header declared the same namespaces (nearly all of them declare the same two): parsing is
 * synchronous, one header or element at a time, and a parser is reset after each one, so sharing
 * leaks nothing between streams, and a login no longer builds four parsers. A parser that met an
 * error is dropped, never reused. A prefix a stanza uses but that only the header declares is
 * declared on the stanza itself, so it stays namespace-well-formed when relayed into another stream.
 */
import { SaxesParser, type SaxesTagNS } from "saxes";
import { Element } from "@xmpp/xml";

export class NotWellFormedError extends Error {
  override readonly name = "NotWellFormedError";
}

const OPTIONS = { xmlns: true, fragment: true, position: false, forceXMLVersion: true, defaultXMLVersion: "1.0" } as const;

/** What the shared parsers' events go to: the parse under way (there is one at a time). */
interface ParseSink {
  onOpen(tag: SaxesTagNS): void;
  onClose(): void;
  onText(text: string): void;
}

let sink: ParseSink | null = null;

/** A bounded map, most recently kept last: past its size, the oldest entry goes. */
class RecentlyKept<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly max: number) {}

  /** The entry for `key`, taken out; keep() puts it back as the most recent. */
  take(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) this.entries.delete(key);
    return value;
  }

  keep(key: string, value: V): void {
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
}

/**
 * Idle saxes parsers by the namespaces they start with (see namespaceKey). Bounded: streams that
 * each declare other namespaces only push older entries out.
 */
const sharedParsers = new RecentlyKept<SaxesParser>(16);

function newParser(namespaces: Record<string, string>): SaxesParser {
  const parser = new SaxesParser({ ...OPTIONS, additionalNamespaces: namespaces });
  parser.on("opentag", (tag) => sink!.onOpen(tag));
  parser.on("closetag", () => sink!.onClose());
  parser.on("text", (t) => sink!.onText(t));
  parser.on("error", (err) => {
    // saxes would go on after an error; stop at the first.
    throw new NotWellFormedError(err.message);
  });
  return parser;
}

/**
 * A key naming a set of namespace bindings: the same bindings always give the same key, and
 * different ones different keys (NUL, the separator, is no XML character, so it is in no prefix
 * or URI).
 */
function namespaceKey(namespaces: Record<string, string>): string {
  let key = "";
  for (const prefix of Object.keys(namespaces).sort()) key += `${prefix}\0${namespaces[prefix]}\0`;
  return key;
}

/**
 * Feeds `text` to an idle parser for `namespaces`, with events going to `to`, then `complete()`
 * checks the result. The parser goes back to the shared set only after a parse without error,
 * reset: `closing()` is what closes what the text left open (a stream header's end tag, so no
 * error is made for it), then saxes' close() re-initialises everything but the options and the
 * starting namespaces.
 */
function parseWith(namespaces: Record<string, string>, key: string, text: string, to: ParseSink, complete: () => void, closing = () => ""): void {
  const parser = sharedParsers.take(key) ?? newParser(namespaces);
  sink = to;
  try {
    parser.write(text);
    complete();
    parser.write(closing()).close();
  } finally {
    sink = null;
  }
  // Only reached without an exception: the parser is clean and idle again.
  sharedParsers.keep(key, parser);
}

const NO_NAMESPACES_KEY = namespaceKey({});

/** What parsing a stream header gave: its name and attributes, and the namespaces stanzas inherit. */
interface ParsedHeader {
  name: string;
  attrs: Readonly<Record<string, string>>;
  declared: Readonly<Record<string, string>>;
  declaredKey: string;
}

/**
 * Headers already parsed, by their exact text. The parser is a function of the text alone, so the
 * same text has the same reading; and clients of one library on one domain (a web app's users)
 * send byte-identical headers, twice a login (again after SASL). Only headers that parsed are
 * kept; bounded, so varied headers only push older entries out.
 */
const parsedHeaders = new RecentlyKept<ParsedHeader>(64);
/** Longer header texts are parsed every time, not kept. */
const MAX_CACHED_HEADER_LENGTH = 512;

export class StrictXmlParser implements ParseSink {
  /** The TCP stream header, once parsed; WebSocket messages have none. */
  private header: Element | null = null;
  /** Namespace bindings the header declared, by prefix ("" for the default one). */
  private inherited: Readonly<Record<string, string>> = {};
  private inheritedKey = NO_NAMESPACES_KEY;
  /** The elements of the stanza being parsed, outermost first. */
  private readonly open: Element[] = [];
  private readonly complete: Element[] = [];
  /** While the header is parsed: where its start tag goes. */
  private onHeaderTag: ((tag: SaxesTagNS) => void) | null = null;

  /**
   * `stream`: a TCP stream, header first, then its top-level elements;
   * `messages`: WebSocket messages (RFC 7395), each one element standing alone.
   */
  constructor(private readonly mode: "stream" | "messages") {}

  /** Parses the stream header's start tag (TCP): an Element without children. */
  parseHeader(text: string): Element {
    if (this.mode !== "stream" || this.header) throw new NotWellFormedError("unexpected stream header");
    const parsed = parsedHeaders.take(text) ?? this.readHeader(text);
    if (text.length <= MAX_CACHED_HEADER_LENGTH) parsedHeaders.keep(text, parsed);
    // A new Element each time: what a session does to its header never reaches another's.
    const header = new Element(parsed.name, { ...parsed.attrs });
    this.header = header;
    this.inherited = parsed.declared;
    this.inheritedKey = parsed.declaredKey;
    return header;
  }

  private readHeader(text: string): ParsedHeader {
    let header: Element | null = null;
    let declared: Record<string, string> = {};
    let endTag = "";
    this.onHeaderTag = (tag) => {
      header = this.element(tag);
      // `xmlns=""` undeclares; nothing to inherit then.
      for (const prefix in tag.ns) if (tag.ns[prefix] !== "") declared[prefix] = tag.ns[prefix]!;
      // Written after the header to reset the parser; saxes checked the name, so it is one.
      endTag = tag.isSelfClosing ? "" : `</${tag.name}>`;
    };
    try {
      parseWith(
        {},
        NO_NAMESPACES_KEY,
        text,
        this,
        () => {
          if (!header) throw new NotWellFormedError("the stream header is incomplete");
        },
        () => endTag,
      );
    } finally {
      this.onHeaderTag = null;
    }
    if (!header) throw new NotWellFormedError("the stream header is incomplete");
    const { name, attrs } = header as Element;
    return { name, attrs: Object.freeze({ ...attrs }), declared: Object.freeze(declared), declaredKey: namespaceKey(declared) };
  }

  /** Parses one complete top-level element (a stanza, a nonza, or `<open/>` on WebSocket). */
  parseElement(text: string): Element {
    if (this.mode === "stream" && !this.header) throw new NotWellFormedError("no stream header");
    this.open.length = 0;
    this.complete.length = 0;
    try {
      parseWith(this.inherited, this.inheritedKey, text, this, () => {
        if (this.complete.length !== 1 || this.open.length !== 0) throw new NotWellFormedError("expected exactly one complete element");
      });
      return this.complete[0]!;
    } finally {
      this.open.length = 0;
      this.complete.length = 0;
    }
  }

  onText(text: string): void {
    this.open.at(-1)?.children.push(text);
  }

  private element(tag: SaxesTagNS): Element {
    const element = new Element(tag.name);
    const attrs = element.attrs;
    for (const name in tag.attributes) attrs[name] = tag.attributes[name]!.value;
    return element;
  }

  onOpen(tag: SaxesTagNS): void {
    if (this.onHeaderTag) return this.onHeaderTag(tag);
    const element = this.element(tag);
    this.open.at(-1)?.append(element);
    this.open.push(element);
    this.declareInheritedPrefixes(tag);
  }

  onClose(): void {
    const element = this.open.pop();
    if (!element) return;
    if (this.open.length === 0) {
      element.parent = null;
      this.complete.push(element);
    }
  }

  /**
   * A prefix used here but declared outside the stanza (on the stream header) is declared on the
   * stanza's top element, with the URI saxes resolved it to.
   */
  private declareInheritedPrefixes(tag: SaxesTagNS): void {
    this.declarePrefix(tag.prefix, tag.uri);
    for (const name in tag.attributes) {
      const attr = tag.attributes[name]!;
      this.declarePrefix(attr.prefix, attr.uri);
    }
  }

  private declarePrefix(prefix: string, uri: string): void {
    if (prefix === "" || prefix === "xml" || prefix === "xmlns") return;
    const declaration = `xmlns:${prefix}`;
    if (this.open.some((e) => Object.hasOwn(e.attrs, declaration))) return;
    this.open[0]!.attrs[declaration] = uri;
  }
}
