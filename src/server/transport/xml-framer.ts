/**
 * Cuts a TCP XMPP stream into its stream header, top-level elements and stream close, before
 * any XML parser sees the bytes. ltx (under @xmpp/xml) buffers an unterminated tag without limit,
 * throws on bad entities, and silently swallows DTDs, comments and processing instructions; so
 * this layer counts bytes first, refuses `<!` and `<?`, and hands the parser one bounded
 * element at a time. A StringDecoder keeps a UTF-8 character split across packets intact.
 */
import { StringDecoder } from "node:string_decoder";

export type FramerEvent =
  | { kind: "header"; text: string }
  | { kind: "element"; text: string }
  | { kind: "close" };

export class FramingError extends Error {
  override readonly name = "FramingError";
  constructor(readonly condition: "not-well-formed" | "restricted-xml" | "policy-violation", message: string) {
    super(message);
  }
}

function utf8Length(code: number): number {
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  if (code >= 0xd800 && code <= 0xdfff) return 2; // half of a 4-byte pair
  return 3;
}

/** Nesting deeper than this inside a stanza is refused: serialising it again recurses per level. */
export const DEFAULT_MAX_DEPTH = 64;

/** XML's own white space (not JavaScript's \s, which also matches U+00A0, U+2028 and others). */
function isXmlSpace(ch: string): boolean {
  return ch === " " || ch === "\n" || ch === "\r" || ch === "\t";
}

export class XmlFramer {
  /** Largest element (or pending text between elements) in UTF-8 bytes; changeable after auth. */
  maxBytes: number;
  /** Deepest element nesting allowed, the stream element not counted. */
  readonly maxDepth: number;
  private decoder = new StringDecoder("utf8");
  private buffer = "";
  /** Index in `buffer` up to which characters were scanned. */
  private scanned = 0;
  private pendingBytes = 0;
  private depth = 0;
  private elementStart = -1;
  private tagStart = -1;
  private inTag = false;
  private quote = "";
  private seenHeader = false;
  /** Names of the open elements, the stream's first; closing tags must match. */
  private openNames: string[] = [];
  private inDeclaration = false;
  private declarationStart = -1;
  private failed: FramingError | null = null;

  constructor(maxBytes: number, { maxDepth = DEFAULT_MAX_DEPTH }: { maxDepth?: number } = {}) {
    this.maxBytes = maxBytes;
    this.maxDepth = maxDepth;
  }

  /**
   * Checks that `text` (one WebSocket message, RFC 7395) is exactly one complete element, with
   * the same guards as a TCP stream, and returns it trimmed. ltx alone would accept `<a>` as `<a/>`
   * and nest a second top-level element inside the first.
   */
  static singleElement(text: string, maxBytes: number, maxDepth = DEFAULT_MAX_DEPTH): string {
    const framer = new XmlFramer(maxBytes, { maxDepth });
    // As if inside a stream: the message's element is a stanza-level element.
    framer.seenHeader = true;
    framer.depth = 1;
    framer.openNames = ["#message"];
    const events = framer.scan(text);
    if (framer.inTag || framer.inDeclaration || framer.depth !== 1 || framer.buffer.trim() !== "") {
      throw new FramingError("not-well-formed", "a WebSocket message must hold one complete element");
    }
    const elements = events.filter((e) => e.kind === "element");
    if (elements.length !== 1 || events.length !== 1) {
      throw new FramingError("not-well-formed", "a WebSocket message must hold exactly one element");
    }
    return (elements[0] as { text: string }).text;
  }

  /** Starts over for a stream restart (after STARTTLS or SASL success). */
  reset(): void {
    this.decoder = new StringDecoder("utf8");
    this.buffer = "";
    this.scanned = 0;
    this.pendingBytes = 0;
    this.depth = 0;
    this.elementStart = -1;
    this.tagStart = -1;
    this.inTag = false;
    this.quote = "";
    this.seenHeader = false;
    this.inDeclaration = false;
    this.declarationStart = -1;
    this.openNames = [];
  }

  /** Feeds raw bytes; returns what became complete. Throws FramingError, and keeps failing after. */
  push(chunk: Buffer): FramerEvent[] {
    if (this.failed) throw this.failed;
    try {
      return this.scan(this.decoder.write(chunk));
    } catch (err) {
      if (err instanceof FramingError) this.failed = err;
      throw err;
    }
  }

  private scan(text: string): FramerEvent[] {
    const events: FramerEvent[] = [];
    this.buffer += text;
    let i = this.scanned;
    while (i < this.buffer.length) {
      const buf = this.buffer;
      const ch = buf[i]!;
      this.pendingBytes += utf8Length(buf.charCodeAt(i));
      if (this.pendingBytes > this.maxBytes) {
        throw new FramingError("policy-violation", `element larger than ${this.maxBytes} bytes`);
      }
      if (this.inDeclaration) {
        if (ch === ">" && buf[i - 1] === "?") {
          this.inDeclaration = false;
          // Only the XML declaration itself; any other processing instruction is refused.
          if (!/^<\?xml[ \t\r\n]/.test(buf.slice(this.declarationStart, i + 1))) {
            throw new FramingError("restricted-xml", "processing instructions are not allowed");
          }
          i = this.dropThrough(i);
        } else i++;
        continue;
      }
      if (this.inTag) {
        if (this.quote) {
          if (ch === this.quote) this.quote = "";
          else if (ch === "<") throw new FramingError("not-well-formed", "'<' in an attribute value");
        } else if (ch === '"' || ch === "'") {
          this.quote = ch;
        } else if (ch === "<") {
          throw new FramingError("not-well-formed", "'<' inside a tag");
        } else if (ch === ">") {
          this.inTag = false;
          const closing = buf[this.tagStart + 1] === "/";
          const selfClosing = !closing && buf[i - 1] === "/";
          const event = this.endTag(closing, selfClosing, i);
          if (event) {
            events.push(event);
            i = this.dropThrough(i);
            continue;
          }
        }
        i++;
        continue;
      }
      if (ch === "<") {
        const next = buf[i + 1];
        if (next === undefined) {
          // Decide on the next chunk; do not count this character twice.
          this.pendingBytes -= 1;
          break;
        }
        if (next === "!") throw new FramingError("restricted-xml", "comments, CDATA and DTDs are not allowed");
        if (next === "?") {
          if (this.seenHeader || this.depth !== 0) {
            throw new FramingError("restricted-xml", "processing instructions are not allowed");
          }
          this.inDeclaration = true;
          this.declarationStart = i;
        } else {
          this.inTag = true;
          this.tagStart = i;
        }
        i++;
        continue;
      }
      if (this.depth <= 1) {
        // Between elements only white space (keepalives) may appear; it is dropped at once.
        if (!isXmlSpace(ch)) throw new FramingError("not-well-formed", "text outside an element");
        i = this.dropThrough(i);
        continue;
      }
      i++;
    }
    this.scanned = i;
    return events;
  }

  /** Handles a complete tag; returns an event when a header, element or close is complete. */
  private endTag(closing: boolean, selfClosing: boolean, end: number): FramerEvent | null {
    const tag = this.buffer.slice(this.tagStart, end + 1);
    const name = /^<\/?([^\s/>]+)/.exec(tag)?.[1];
    if (!name) throw new FramingError("not-well-formed", "a tag without a name");
    if (this.depth === 0) {
      if (closing || selfClosing) throw new FramingError("not-well-formed", "expected a stream header");
      this.depth = 1;
      this.seenHeader = true;
      this.openNames = [name];
      return { kind: "header", text: tag };
    }
    if (closing) {
      if (this.openNames[this.openNames.length - 1] !== name) {
        throw new FramingError("not-well-formed", `</${name}> does not close the open element`);
      }
      this.openNames.pop();
      this.depth--;
      if (this.depth === 0) return { kind: "close" };
      if (this.depth === 1) {
        const text = this.buffer.slice(this.elementStart, end + 1);
        this.elementStart = -1;
        return { kind: "element", text };
      }
      return null;
    }
    if (this.depth === 1) {
      if (selfClosing) return { kind: "element", text: tag };
      this.elementStart = this.tagStart;
    }
    if (!selfClosing) {
      if (this.depth > this.maxDepth) throw new FramingError("policy-violation", `elements nested deeper than ${this.maxDepth}`);
      this.openNames.push(name);
      this.depth++;
    }
    return null;
  }

  /** Forgets the buffer through index `end` (delivered or discarded); returns the next index, 0. */
  private dropThrough(end: number): number {
    this.buffer = this.buffer.slice(end + 1);
    this.pendingBytes = 0;
    this.tagStart = -1;
    return 0;
  }
}
