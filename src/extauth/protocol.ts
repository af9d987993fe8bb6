/**
 * The external-authentication protocols of existing XMPP servers, as pure functions and state
 * machines (no I/O): framing of requests and answers, and parsing of the request text.
 *
 * - ejabberd (and MongooseIM, which kept its protocol): each request is a 2-byte big-endian
 *   length and that many bytes; each answer is the 2-byte length 2 and a 16-bit 1 or 0.
 * - Prosody's mod_auth_external(_insecure) "generic" protocol: one request per line ending in
 *   "\n"; the answer is "1\n" or "0\n".
 *
 * Requests: `auth:USER:SERVER:PASSWORD` (split on the first three colons only: the password may
 * contain colons, a prepared username or domain cannot), `isuser:USER:SERVER`,
 * `setpass:USER:SERVER:PASSWORD`, `tryregister:USER:SERVER:PASSWORD`, `removeuser:USER:SERVER`,
 * `removeuser3:USER:SERVER:PASSWORD`, `certauth:USER:SERVER:CERTIFICATE`.
 *
 * A reader never loses its place: every request, including one that is too big, not UTF-8 or
 * not understood, yields exactly one item, so every request gets exactly one answer.
 */

/** Which server's protocol: ejabberd's framing (also MongooseIM's) or Prosody's lines. */
export type ExtauthProtocol = "ejabberd" | "prosody";
export const EXTAUTH_PROTOCOLS: readonly ExtauthProtocol[] = ["ejabberd", "prosody"];

/** Requests carry a username, a domain and a token; 4 KiB is far above any honest one. */
export const DEFAULT_MAX_REQUEST_BYTES = 4096;

/** One request as read off the wire: its bytes, or the fact that it was longer than the bound. */
export type RequestFrame = { kind: "request"; bytes: Buffer } | { kind: "oversized"; bytes: number };

export interface RequestReader {
  /** Takes the next chunk (any cut of the stream) and returns the requests it completed. */
  push(chunk: Uint8Array): RequestFrame[];
  /** Bytes of an unfinished request at the end of input (0 when the stream ended cleanly). */
  readonly pendingBytes: number;
}

function checkBound(maxRequestBytes: number): number {
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 1 || maxRequestBytes > 65535) {
    throw new RangeError("maxRequestBytes must be an integer from 1 to 65535");
  }
  return maxRequestBytes;
}

/**
 * ejabberd's framing. The length is read before the body, so a frame over the bound is skipped
 * byte for byte without being kept, and the next frame starts where it should.
 */
export class LengthPrefixedReader implements RequestReader {
  private readonly maxRequestBytes: number;
  /** Header bytes seen of the current frame (0, 1 or 2) and their value so far. */
  private headerBytes = 0;
  private length = 0;
  /** Body bytes still to come for the current frame. */
  private remaining = 0;
  /** Parts of a body within the bound (null while skipping an oversized one). */
  private parts: Buffer[] | null = null;
  private partsBytes = 0;

  constructor({ maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES }: { maxRequestBytes?: number } = {}) {
    this.maxRequestBytes = checkBound(maxRequestBytes);
  }

  get pendingBytes(): number {
    return this.headerBytes + (this.headerBytes === 2 ? this.length - this.remaining : 0);
  }

  push(chunk: Uint8Array): RequestFrame[] {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const frames: RequestFrame[] = [];
    let at = 0;
    while (at < data.length) {
      if (this.headerBytes < 2) {
        this.length = (this.length << 8) | data[at++]!;
        if (++this.headerBytes < 2) continue;
        this.remaining = this.length;
        this.parts = this.length <= this.maxRequestBytes ? [] : null;
        this.partsBytes = 0;
      }
      const take = Math.min(this.remaining, data.length - at);
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, pushing an empty piece changes nothing
      if (this.parts && take > 0) {
        this.parts.push(data.subarray(at, at + take));
        this.partsBytes += take;
      }
      at += take;
      this.remaining -= take;
      if (this.remaining === 0) {
        frames.push(this.parts ? { kind: "request", bytes: Buffer.concat(this.parts, this.partsBytes) } : { kind: "oversized", bytes: this.length });
        this.headerBytes = 0;
        this.length = 0;
        this.parts = null;
      }
    }
    return frames;
  }
}

/**
 * Prosody's lines. A line longer than the bound is dropped as it streams in (never kept) and
 * answered 0 at its newline; a "\r" before the "\n" is tolerated.
 */
export class LineReader implements RequestReader {
  private readonly maxRequestBytes: number;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Bytes of the current line when it went over the bound (then counted, not kept). */
  private overflow = 0;

  constructor({ maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES }: { maxRequestBytes?: number } = {}) {
    this.maxRequestBytes = checkBound(maxRequestBytes);
  }

  get pendingBytes(): number {
    return this.overflow || this.partsBytes;
  }

  push(chunk: Uint8Array): RequestFrame[] {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const frames: RequestFrame[] = [];
    let at = 0;
    // Stryker disable next-line EqualityOperator: equivalent, at === data.length adds an empty piece and breaks
    while (at < data.length) {
      const newline = data.indexOf(0x0a, at);
      const end = newline === -1 ? data.length : newline;
      this.add(data.subarray(at, end));
      if (newline === -1) break;
      at = newline + 1;
      if (this.overflow > 0) {
        frames.push({ kind: "oversized", bytes: this.overflow });
      } else {
        let line = Buffer.concat(this.parts, this.partsBytes);
        // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, an empty line has no last byte to compare
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
        frames.push({ kind: "request", bytes: line });
      }
      this.parts = [];
      this.partsBytes = 0;
      this.overflow = 0;
    }
    return frames;
  }

  private add(piece: Buffer): void {
    // Stryker disable next-line ConditionalExpression: equivalent, an empty piece adds nothing either way
    if (piece.length === 0) return;
    if (this.overflow > 0) {
      this.overflow += piece.length;
    } else if (this.partsBytes + piece.length > this.maxRequestBytes) {
      this.overflow = this.partsBytes + piece.length;
      this.parts = [];
      this.partsBytes = 0;
    } else {
      this.parts.push(piece);
      this.partsBytes += piece.length;
    }
  }
}

export function createRequestReader(protocol: ExtauthProtocol, options: { maxRequestBytes?: number } = {}): RequestReader {
  return protocol === "ejabberd" ? new LengthPrefixedReader(options) : new LineReader(options);
}

const EJABBERD_YES = Buffer.from([0, 2, 0, 1]);
const EJABBERD_NO = Buffer.from([0, 2, 0, 0]);
const PROSODY_YES = Buffer.from("1\n");
const PROSODY_NO = Buffer.from("0\n");

/** The bytes that answer one request. */
export function encodeAnswer(protocol: ExtauthProtocol, yes: boolean): Buffer {
  if (protocol === "ejabberd") return yes ? EJABBERD_YES : EJABBERD_NO;
  return yes ? PROSODY_YES : PROSODY_NO;
}

/** Commands that manage accounts; a token verifier owns no accounts, so they are all refused. */
export const ACCOUNT_COMMANDS = ["setpass", "tryregister", "removeuser", "removeuser3", "certauth"] as const;
export type AccountCommand = (typeof ACCOUNT_COMMANDS)[number];

export type ExtauthRequest =
  | { command: "auth"; user: string; server: string; password: string }
  | { command: "isuser"; user: string; server: string }
  | { command: AccountCommand; user: string; server: string }
  /** Not a request we can read: not UTF-8, too long, an unknown command or missing fields. */
  | { command: "malformed"; why: "oversized" | "not-utf8" | "unknown-command" | "missing-fields" };

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** How many fields after the command name each command has (the last one keeps any colons). */
const FIELDS: Record<string, number> = { auth: 3, isuser: 2, setpass: 3, tryregister: 3, removeuser: 2, removeuser3: 3, certauth: 3 };

/** Splits `text` on its first `count - 1` colons into exactly `count` parts, or null. */
function splitFields(text: string, count: number): string[] | null {
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < count - 1; i++) {
    const colon = text.indexOf(":", at);
    if (colon === -1) return null;
    parts.push(text.slice(at, colon));
    at = colon + 1;
  }
  parts.push(text.slice(at));
  return parts;
}

/** Reads one request. Never throws: anything unreadable is a `malformed` request (answered 0). */
export function parseRequest(frame: RequestFrame): ExtauthRequest {
  if (frame.kind === "oversized") return { command: "malformed", why: "oversized" };
  let text: string;
  try {
    text = UTF8.decode(frame.bytes);
  } catch {
    return { command: "malformed", why: "not-utf8" };
  }
  const colon = text.indexOf(":");
  const name = colon === -1 ? text : text.slice(0, colon);
  const count = Object.hasOwn(FIELDS, name) ? FIELDS[name]! : 0;
  if (count === 0) return { command: "malformed", why: "unknown-command" };
  const fields = splitFields(text.slice(colon + 1), count);
  // Stryker disable next-line ConditionalExpression,UnaryOperator: equivalent, without a colon splitFields finds too few fields (every command has 2 or more)
  if (colon === -1 || !fields) return { command: "malformed", why: "missing-fields" };
  const [user, server] = fields as [string, string];
  if (name === "auth") return { command: "auth", user, server, password: fields[2]! };
  // For two-field commands a further colon stays in the domain, which then matches no host.
  // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, the last return builds the same object
  if (name === "isuser") return { command: "isuser", user, server };
  return { command: name as AccountCommand, user, server };
}
