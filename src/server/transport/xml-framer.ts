/**
 * Cuts an XMPP byte stream into its stream header, top-level elements and stream close, before
 * any XML parser sees the bytes: the parser then gets one complete element at a time, bounded in
 * size and depth, with no `<!` (comments, CDATA, DTDs) and no `<?` but the XML declaration.
 *
 * It works on bytes, not text: every character that matters for framing (`<`, `>`, `/`, quotes,
 * `?`, `!`, white space) is ASCII, and a UTF-8 multi-byte sequence never contains an ASCII byte,
 * so the bytes counted are the bytes received and a character split across packets cannot be
 * misread. Each byte is looked at once, and the bytes of the element being framed are copied
 * once into a buffer that grows by doubling: framing costs time linear in the bytes received
 * however the peer cuts them (one byte per packet included).
 *
 * It checks framing only; whether the element is well-formed XML with namespaces (names,
 * characters, entities, attributes) is the strict parser's job (strict-xml.ts).
 */

export type FramerEvent =
  | { kind: "header"; text: string }
  | { kind: "element"; text: string }
  | { kind: "close" };

/** Characters XML 1.0 forbids (lone surrogates included, with the u flag). */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
/** Most characters of the peer's own text a message quotes (a tag name), so an answer stays small. */
const MAX_QUOTED = 64;

/**
 * What the peer sent, fit to be quoted in a stream error's <text/>: characters XML forbids become
 * U+FFFD and a long run is cut, so the answer to a malformed stream is itself well-formed.
 */
export function quoted(text: string): string {
  const cut = [...text.slice(0, 2 * MAX_QUOTED)].slice(0, MAX_QUOTED).join("");
  return `${cut.replace(NOT_XML_CHAR, "\uFFFD")}${cut.length < text.length ? "…" : ""}`;
}

export class FramingError extends Error {
  override readonly name = "FramingError";
  constructor(readonly condition: "not-well-formed" | "restricted-xml" | "policy-violation", message: string) {
    super(message);
  }
}

/** Nesting deeper than this inside a stanza is refused: serialising it again recurses per level. */
export const DEFAULT_MAX_DEPTH = 64;

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f; // /
const BANG = 0x21; // !
const QUESTION = 0x3f; // ?
const DQUOTE = 0x22;
const SQUOTE = 0x27;

/** XML's own white space (not JavaScript's \s, which also matches U+00A0, U+2028 and others). */
function isXmlSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Where the framer is: in text (between or inside elements), just after `<`, reading a tag's
 * name, inside a tag after its name, or inside `<? ... ?>`.
 */
type State = "text" | "lt" | "name" | "tag" | "declaration";

/** The bytes of the unit being framed, copied once into storage that doubles as it grows. */
class ByteBuffer {
  private bytes: Buffer | null = null;
  length = 0;

  /** Storage larger than `keepBytes` is released when the buffer is emptied. */
  constructor(private readonly keepBytes = 4096) {}

  append(chunk: Buffer, from: number, to: number): void {
    const need = this.length + (to - from);
    if (!this.bytes || need > this.bytes.length) {
      // Slow (unpooled) allocation: a long-lived small buffer must not pin a shared 8 KB slab.
      const grown = Buffer.allocUnsafeSlow(Math.max(256, need, (this.bytes?.length ?? 0) * 2));
      this.bytes?.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    chunk.copy(this.bytes, this.length, from, to);
    this.length = need;
  }

  /** The stored bytes (a view, valid until the next append or clear). */
  bytesView(): Buffer {
    return this.bytes ? this.bytes.subarray(0, this.length) : Buffer.alloc(0);
  }

  text(from = 0, to = this.length): string {
    return this.bytes ? this.bytes.toString("utf8", from, to) : "";
  }

  /** Empties it; storage grown past keepBytes is released (an idle stream holds little). */
  clear(): void {
    this.length = 0;
    if (this.bytes && this.bytes.length > this.keepBytes) this.bytes = null;
  }
}

/**
 * Where every framer collects a unit that starts and ends within one push(), which is nearly every
 * unit: push() is synchronous, so one framer uses it at a time. Only a unit still incomplete when
 * its chunk ends moves to storage of its own stream (see scan), so a connection holds no buffer
 * between units, and a login allocates none.
 */
const sharedUnit = new ByteBuffer(64 * 1024);

export class XmlFramer {
  /** Largest element (or stream header) in bytes; changeable after auth. */
  maxBytes: number;
  /** Deepest element nesting allowed, the stream element not counted. */
  readonly maxDepth: number;
  private state: State = "text";
  /** A unit (the header, the declaration, a top-level element or the stream close) is being framed. */
  private inUnit = false;
  /** Its bytes received so far (those before the current chunk are in `unit`). */
  private unitBytes = 0;
  /** The unit's bytes: the shared buffer, or this stream's own while a unit spans chunks. */
  private unit = sharedUnit;
  /** Index in the current chunk from which bytes still have to be copied into `unit`. */
  private copyFrom = 0;
  /** Where the current tag's name starts and ends in `unit`. */
  private nameStart = 0;
  private nameEnd = 0;
  private closingTag = false;
  private quote = 0;
  private previous = 0;
  /** The first bytes after `<?`: only `xml` and white space make the XML declaration. */
  private declarationHead = "";
  private depth = 0;
  private seenHeader = false;
  /** Names of the open elements, the stream's first; closing tags must match. */
  private openNames: string[] = [];
  /**
   * The name of the stream a SASL restart replaced (replaceStream), until the new header: on the
   * same bytes the peer's old header is still open, so its closing tag there is well-formed, and
   * is the peer leaving instead of restarting.
   */
  private replacedName: string | null = null;
  private failed: FramingError | null = null;

  constructor(maxBytes: number, { maxDepth = DEFAULT_MAX_DEPTH }: { maxDepth?: number } = {}) {
    this.maxBytes = maxBytes;
    this.maxDepth = maxDepth;
  }

  /**
   * Checks that `data` (one WebSocket message, RFC 7395) is exactly one complete element, with
   * the same guards as a TCP stream, and returns it trimmed. ltx alone would accept `<a>` as `<a/>`
   * and nest a second top-level element inside the first.
   */
  static singleElement(data: string | Buffer, maxBytes: number, maxDepth = DEFAULT_MAX_DEPTH): string {
    const framer = new XmlFramer(maxBytes, { maxDepth });
    // As if inside a stream: the message's element is a stanza-level element.
    framer.seenHeader = true;
    framer.depth = 1;
    framer.openNames = ["#message"];
    const events = framer.scan(typeof data === "string" ? Buffer.from(data) : data);
    if (framer.state !== "text" || framer.inUnit || framer.depth !== 1) {
      throw new FramingError("not-well-formed", "a WebSocket message must hold one complete element");
    }
    const [first] = events;
    if (events.length !== 1 || first?.kind !== "element") {
      throw new FramingError("not-well-formed", "a WebSocket message must hold exactly one element");
    }
    return first.text;
  }

  /**
   * Starts over for a stream restart on the same bytes (SASL success): a new header is expected,
   * or the replaced stream's closing tag, which is the peer closing (a "close" event).
   */
  replaceStream(): void {
    const name = this.seenHeader ? (this.openNames[0] ?? null) : null;
    this.reset();
    this.replacedName = name;
  }

  /** Starts over for a new stream on new bytes (STARTTLS: nothing is open on TLS's bytes yet). */
  reset(): void {
    this.replacedName = null;
    this.state = "text";
    this.inUnit = false;
    this.unitBytes = 0;
    this.unit.clear();
    this.unit = sharedUnit;
    this.quote = 0;
    this.previous = 0;
    this.depth = 0;
    this.seenHeader = false;
    this.openNames = [];
  }

  /** Feeds raw bytes; returns what became complete. Throws FramingError, and keeps failing after. */
  push(chunk: Buffer): FramerEvent[] {
    if (this.failed) throw this.failed;
    try {
      return this.scan(chunk);
    } catch (err) {
      if (err instanceof FramingError) this.failed = err;
      throw err;
    }
  }

  private scan(chunk: Buffer): FramerEvent[] {
    const events: FramerEvent[] = [];
    this.copyFrom = 0;
    for (let i = 0; i < chunk.length; i++) {
      // Runs of bytes that change nothing but the byte count (a stanza's text, a quoted attribute
      // value) are skipped to their end with indexOf, which is native: the bytes that matter there
      // are '<' and, in a value, its closing quote. The count and its limit are checked for the
      // run as a whole, with the same error the byte-by-byte loop gives.
      const runEnd = this.neutralRunEnd(chunk, i);
      if (runEnd > i) {
        this.countBytes(runEnd - i);
        i = runEnd;
        if (i === chunk.length) break;
      }
      const byte = chunk[i]!;
      if (this.inUnit) this.countBytes(1);
      switch (this.state) {
        case "text":
          if (byte === LT) {
            if (!this.inUnit) this.startUnit(i);
            this.state = "lt";
          } else if (this.depth <= 1 && !isXmlSpace(byte)) {
            // Between elements only white space (keepalives) may appear; it is dropped.
            throw new FramingError("not-well-formed", "text outside an element");
          }
          break;
        case "lt":
          if (byte === BANG) throw new FramingError("restricted-xml", "comments, CDATA and DTDs are not allowed");
          if (byte === QUESTION) {
            if (this.seenHeader || this.depth !== 0) throw new FramingError("restricted-xml", "processing instructions are not allowed");
            this.state = "declaration";
            this.declarationHead = "";
            this.previous = byte;
          } else if (byte === SLASH) {
            this.closingTag = true;
            this.startName(chunk, i + 1);
          } else {
            this.closingTag = false;
            this.startName(chunk, i);
            this.nameByte(chunk, i, byte, events);
          }
          break;
        case "name":
          this.nameByte(chunk, i, byte, events);
          break;
        case "tag":
          this.tagByte(chunk, i, byte, events);
          break;
        case "declaration":
          if (byte === GT && this.previous === QUESTION) {
            // Only the XML declaration itself; any other processing instruction is refused.
            if (!/^xml[ \t\r\n]$/.test(this.declarationHead)) throw new FramingError("restricted-xml", "processing instructions are not allowed");
            this.state = "text";
            this.endUnit(chunk, i);
          } else if (this.declarationHead.length < 4) {
            this.declarationHead += String.fromCharCode(byte);
            if (this.declarationHead.length === 4 && !/^xml[ \t\r\n]$/.test(this.declarationHead)) {
              throw new FramingError("restricted-xml", "processing instructions are not allowed");
            }
          }
          this.previous = byte;
          break;
      }
    }
    if (this.inUnit) {
      this.unit.append(chunk, this.copyFrom, chunk.length);
      // The unit goes on in a later chunk: its bytes move out of the shared buffer, which the
      // next push (of any stream) starts over. Offsets (the tag name's) stay as they are.
      if (this.unit === sharedUnit) {
        const own = new ByteBuffer();
        own.append(sharedUnit.bytesView(), 0, sharedUnit.length);
        sharedUnit.clear();
        this.unit = own;
      }
    }
    return events;
  }

  /**
   * Where the run of bytes from `i` that the loop below would only count ends: in text inside a
   * stanza, at the next '<'; in a quoted attribute value, at its closing quote or a '<' (which is
   * an error the loop reports). Elsewhere every byte matters, and the run is empty (`i`).
   */
  private neutralRunEnd(chunk: Buffer, i: number): number {
    if (this.state === "text") {
      // Between top-level elements only white space may appear, and each byte is checked.
      if (this.depth <= 1) return i;
      const lt = chunk.indexOf(LT, i);
      return lt === -1 ? chunk.length : lt;
    }
    if (this.state === "tag" && this.quote !== 0) {
      let end = chunk.indexOf(this.quote, i);
      if (end === -1) end = chunk.length;
      const lt = chunk.indexOf(LT, i);
      return lt !== -1 && lt < end ? lt : end;
    }
    return i;
  }

  /** Counts `n` more bytes of the unit against the limit. */
  private countBytes(n: number): void {
    this.unitBytes += n;
    if (this.unitBytes > this.maxBytes) throw new FramingError("policy-violation", `element larger than ${this.maxBytes} bytes`);
  }

  private startUnit(at: number): void {
    this.inUnit = true;
    this.unitBytes = 1;
    this.unit.clear();
    this.copyFrom = at;
  }

  /** Copies the unit's bytes of this chunk up to (not including) `to`. */
  private sync(chunk: Buffer, to: number): void {
    this.unit.append(chunk, this.copyFrom, to);
    this.copyFrom = to;
  }

  private startName(chunk: Buffer, at: number): void {
    this.sync(chunk, at);
    this.nameStart = this.unit.length;
    this.state = "name";
  }

  private nameByte(chunk: Buffer, i: number, byte: number, events: FramerEvent[]): void {
    if (byte === LT) throw new FramingError("not-well-formed", "'<' inside a tag");
    if (!(isXmlSpace(byte) || byte === SLASH || byte === GT)) return;
    this.sync(chunk, i);
    this.nameEnd = this.unit.length;
    if (this.nameEnd === this.nameStart) throw new FramingError("not-well-formed", "a tag without a name");
    this.state = "tag";
    this.previous = 0;
    this.quote = 0;
    this.tagByte(chunk, i, byte, events);
  }

  private tagByte(chunk: Buffer, i: number, byte: number, events: FramerEvent[]): void {
    if (this.quote) {
      if (byte === this.quote) this.quote = 0;
      else if (byte === LT) throw new FramingError("not-well-formed", "'<' in an attribute value");
    } else if (byte === DQUOTE || byte === SQUOTE) {
      this.quote = byte;
    } else if (byte === LT) {
      throw new FramingError("not-well-formed", "'<' inside a tag");
    } else if (byte === GT) {
      this.state = "text";
      const event = this.endTag(chunk, i, !this.closingTag && this.previous === SLASH);
      if (event) events.push(event);
    }
    this.previous = byte;
  }

  /** A tag ended at chunk[i]; returns an event when a header, element or close is complete. */
  private endTag(chunk: Buffer, i: number, selfClosing: boolean): FramerEvent | null {
    const name = this.unit.text(this.nameStart, this.nameEnd);
    if (this.depth === 0) {
      if (this.closingTag && name === this.replacedName) {
        this.replacedName = null;
        this.endUnit(chunk, i);
        return { kind: "close" };
      }
      if (this.closingTag || selfClosing) throw new FramingError("not-well-formed", "expected a stream header");
      this.replacedName = null;
      this.depth = 1;
      this.seenHeader = true;
      this.openNames = [name];
      return { kind: "header", text: this.endUnit(chunk, i) };
    }
    if (this.closingTag) {
      if (this.openNames[this.openNames.length - 1] !== name) {
        throw new FramingError("not-well-formed", `</${quoted(name)}> does not close the open element`);
      }
      this.openNames.pop();
      this.depth--;
      if (this.depth === 0) {
        this.endUnit(chunk, i);
        return { kind: "close" };
      }
      return this.depth === 1 ? { kind: "element", text: this.endUnit(chunk, i) } : null;
    }
    if (this.depth === 1 && selfClosing) return { kind: "element", text: this.endUnit(chunk, i) };
    if (!selfClosing) {
      if (this.depth > this.maxDepth) throw new FramingError("policy-violation", `elements nested deeper than ${this.maxDepth}`);
      this.openNames.push(name);
      this.depth++;
    }
    return null;
  }

  /** Finishes the unit with chunk[i] and returns its text. */
  private endUnit(chunk: Buffer, i: number): string {
    this.sync(chunk, i + 1);
    const text = this.unit.text();
    this.unit.clear();
    this.unit = sharedUnit;
    this.inUnit = false;
    this.unitBytes = 0;
    return text;
  }
}
