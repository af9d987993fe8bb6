/**
 * The strict XML stage: every header and element the framer cut out is parsed by saxes, a
 * conforming XML 1.0 + Namespaces parser, into @xmpp/xml Elements. Anything that is not
 * well-formed and namespace-well-formed (a name outside the XML Name production, a character
 * outside Char in text or an attribute value, an unknown entity, a duplicate attribute, an
 * unbound prefix, `a=1` without quotes, ...) is a NotWellFormedError, which the transports
 * answer with the stream error `not-well-formed`. So what the server relays to other clients
 * always parses under a strict parser (ltx, which @xmpp/xml uses, checks none of this).
 *
 * A fresh saxes parser per header or element, dropped right after: a stream keeps only the
 * namespaces its TCP header declared (stanzas inherit them), so an idle connection holds no parser
 * state. A prefix a stanza uses but that only the header declares is declared on the stanza
 * itself, so it stays namespace-well-formed when relayed into another stream.
 */
import { SaxesParser, type SaxesTagNS } from "saxes";
import { Element } from "@xmpp/xml";

export class NotWellFormedError extends Error {
  override readonly name = "NotWellFormedError";
}

const OPTIONS = { xmlns: true, fragment: true, position: false, forceXMLVersion: true, defaultXMLVersion: "1.0" } as const;

export class StrictXmlParser {
  /** The TCP stream header, once parsed; WebSocket messages have none. */
  private header: Element | null = null;
  /** Namespace bindings the header declared, by prefix ("" for the default one). */
  private inherited: Record<string, string> = {};
  /** The elements of the stanza being parsed, outermost first. */
  private readonly open: Element[] = [];
  private readonly complete: Element[] = [];

  /**
   * `stream`: a TCP stream, header first, then its top-level elements;
   * `messages`: WebSocket messages (RFC 7395), each one element standing alone.
   */
  constructor(private readonly mode: "stream" | "messages") {}

  /** Parses the stream header's start tag (TCP): an Element without children. */
  parseHeader(text: string): Element {
    if (this.mode !== "stream" || this.header) throw new NotWellFormedError("unexpected stream header");
    let header: Element | null = null;
    this.run(text, {}, (tag) => {
      header = this.element(tag);
      // `xmlns=""` undeclares; nothing to inherit then.
      this.inherited = Object.fromEntries(Object.entries(tag.ns).filter(([, uri]) => uri !== ""));
    });
    if (!header) throw new NotWellFormedError("the stream header is incomplete");
    this.header = header;
    return header;
  }

  /** Parses one complete top-level element (a stanza, a nonza, or `<open/>` on WebSocket). */
  parseElement(text: string): Element {
    if (this.mode === "stream" && !this.header) throw new NotWellFormedError("no stream header");
    this.open.length = 0;
    this.complete.length = 0;
    try {
      this.run(text, this.inherited, (tag) => this.onOpen(tag));
      if (this.complete.length !== 1 || this.open.length !== 0) throw new NotWellFormedError("expected exactly one complete element");
      return this.complete[0]!;
    } finally {
      this.open.length = 0;
      this.complete.length = 0;
    }
  }

  private run(text: string, namespaces: Record<string, string>, onOpen: (tag: SaxesTagNS) => void): void {
    const parser = new SaxesParser({ ...OPTIONS, additionalNamespaces: namespaces });
    parser.on("opentag", onOpen);
    parser.on("closetag", () => this.onClose());
    parser.on("text", (t) => this.open.at(-1)?.children.push(t));
    parser.on("error", (err) => {
      // saxes would go on after an error; stop at the first.
      throw new NotWellFormedError(err.message);
    });
    parser.write(text);
  }

  private element(tag: SaxesTagNS): Element {
    const attrs: Record<string, string> = {};
    for (const attr of Object.values(tag.attributes)) attrs[attr.name] = attr.value;
    return new Element(tag.name, attrs);
  }

  private onOpen(tag: SaxesTagNS): void {
    const element = this.element(tag);
    this.open.at(-1)?.append(element);
    this.open.push(element);
    this.declareInheritedPrefixes(tag);
  }

  private onClose(): void {
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
    const names = [{ prefix: tag.prefix, uri: tag.uri }, ...Object.values(tag.attributes)];
    for (const { prefix, uri } of names) {
      if (prefix === "" || prefix === "xml" || prefix === "xmlns") continue;
      const declaration = `xmlns:${prefix}`;
      if (this.open.some((e) => Object.hasOwn(e.attrs, declaration))) continue;
      this.open[0]!.attrs[declaration] = uri;
    }
  }
}
