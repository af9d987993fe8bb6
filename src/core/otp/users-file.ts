/**
 * The users file of Apache mod_authn_otp and OATH Toolkit's pam_oath: one credential a line,
 * `TYPE USER PIN KEY [COUNTER [LASTOTP [LASTTIME]]]`, whitespace-separated, `#` comment lines.
 * - TYPE: `HOTP` (= `HOTP/E/6`), `HOTP/E`, `HOTP/E/8` (event: a counter), `HOTP/T30`,
 *   `HOTP/T30/8`, `HOTP/T60/6` (time: 30 or 60 s steps); 6 or 8 digits; HMAC-SHA1 always.
 * - PIN: `-` for none; anything else is the PIN (for our own exports, `scrypt$…`: its hash).
 * - KEY: the secret in hex.
 * - COUNTER: the next counter value the server expects (event tokens); for time tokens the
 *   tools' "offset", which must be 0 here.
 * - LASTOTP: read and ignored (we never keep a code); LASTTIME: when the last code was used
 *   (`2009-06-12T17:52:32L`, local time; `Z` for UTC): time tokens take no code of that step or
 *   earlier.
 * Parsing is all or nothing: the first bad line throws, named by its number, and no error ever
 * repeats what is on the line (a key, a PIN).
 */
import { hotp } from "./hotp.js";
import { timeStep } from "./totp.js";

export class UsersFileError extends Error {
  override readonly name = "UsersFileError";
  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

export interface UsersFileEntry {
  /** 1-based line number in the file. */
  line: number;
  kind: "hotp" | "totp";
  digits: 6 | 8;
  /** Step in seconds for time tokens, null for event tokens. */
  period: 30 | 60 | null;
  /** USER as written (a localpart or a bare JID; the caller prepares it). */
  user: string;
  /** The PIN as written, or null for `-`. */
  pin: string | null;
  key: Buffer;
  /** Event tokens: the next expected counter value; 0 for time tokens. */
  counter: number;
  /** LASTTIME as unix seconds, or null. */
  lastTime: number | null;
}

const TYPE = /^HOTP(?:\/(E|T(\d+)))?(?:\/(\d+))?$/;
const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([LZ])$/;

function parseType(text: string, line: number): Pick<UsersFileEntry, "kind" | "digits" | "period"> {
  const match = TYPE.exec(text);
  if (!match) throw new UsersFileError(line, "TYPE must be HOTP, HOTP/E, HOTP/E/6, HOTP/E/8, HOTP/T30, HOTP/T30/6, HOTP/T30/8, HOTP/T60, HOTP/T60/6 or HOTP/T60/8");
  const digits = match[3] === undefined ? 6 : Number(match[3]);
  if (digits !== 6 && digits !== 8) throw new UsersFileError(line, "only 6 or 8 digits are supported");
  if (match[2] === undefined) return { kind: "hotp", digits, period: null };
  const period = Number(match[2]);
  if (period !== 30 && period !== 60) throw new UsersFileError(line, "time tokens must have a step of 30 or 60 seconds (T30, T60)");
  return { kind: "totp", digits, period };
}

function parseTime(text: string, line: number): number {
  const match = TIME.exec(text);
  if (!match) throw new UsersFileError(line, "LASTTIME must look like 2009-06-12T17:52:32L (local time) or end in Z (UTC)");
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = match[7] === "Z" ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
  const check = new Date(ms);
  const same = match[7] === "Z" ? check.getUTCDate() === d && check.getUTCMonth() === mo - 1 : check.getDate() === d && check.getMonth() === mo - 1;
  if (!Number.isFinite(ms) || !same || h > 23 || mi > 59 || s > 60) throw new UsersFileError(line, "LASTTIME is not a valid date and time");
  return Math.floor(ms / 1000);
}

/** Parses the whole file; throws UsersFileError for the first line that is wrong. */
export function parseUsersFile(text: string): UsersFileEntry[] {
  const entries: UsersFileEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const content = lines[i]!.trim();
    if (content === "" || content.startsWith("#")) continue;
    const fields = content.split(/[ \t]+/);
    if (fields.length < 4) throw new UsersFileError(line, `expected TYPE USER PIN KEY [COUNTER [LASTOTP [LASTTIME]]], found ${fields.length} field${fields.length === 1 ? "" : "s"}`);
    if (fields.length > 7) throw new UsersFileError(line, `expected at most 7 fields (TYPE USER PIN KEY COUNTER LASTOTP LASTTIME), found ${fields.length}`);
    const [type, user, pin, key, counter, , lastTime] = fields as [string, string, string, string, string?, string?, string?];
    const shape = parseType(type, line);
    if (!/^[0-9a-fA-F]+$/.test(key) || key.length % 2 !== 0) throw new UsersFileError(line, "KEY must be an even number of hex digits");
    if (key.length > 256) throw new UsersFileError(line, "KEY is longer than 128 bytes");
    let next = 0;
    if (counter !== undefined) {
      if (!/^\d{1,15}$/.test(counter)) throw new UsersFileError(line, "COUNTER must be a non-negative integer");
      next = Number(counter);
      if (shape.kind === "totp" && next !== 0) throw new UsersFileError(line, "a time offset (COUNTER other than 0) is not supported for time tokens");
    }
    entries.push({ line, ...shape, user, pin: pin === "-" ? null : pin, key: Buffer.from(key, "hex"), counter: next, lastTime: lastTime === undefined || lastTime === "-" ? null : parseTime(lastTime, line) });
  }
  return entries;
}

export interface UsersFileLine {
  kind: "hotp" | "totp";
  digits: number;
  period: number | null;
  user: string;
  /** What goes in the PIN column: "-" for none. */
  pin: string;
  /** The key, or null to write "-" (an export without secrets). */
  key: Uint8Array | null;
  /** HOTP: the next expected value. */
  counter: number;
  /** TOTP: the last step used, or null. */
  lastStep: number | null;
}

/** `2009-06-12T17:52:32L`: the tools' local time. */
function formatLocalTime(seconds: number): string {
  const t = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())}T${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}L`;
}

/**
 * One line of the file. With the key, LASTOTP is the last code used (computed from the key, as
 * the tools write it); without it both are `-`.
 */
export function formatUsersFileLine({ kind, digits, period, user, pin, key, counter, lastStep }: UsersFileLine): string {
  const type = kind === "hotp" ? `HOTP/E/${digits}` : `HOTP/T${period}/${digits}`;
  const keyText = key ? Buffer.from(key).toString("hex") : "-";
  const fields = [type, user, pin, keyText, String(kind === "hotp" ? counter : 0)];
  if (kind === "hotp" && counter > 0) fields.push(key ? hotp(key, counter - 1, { digits }) : "-");
  if (kind === "totp" && lastStep !== null && period !== null) {
    const seconds = lastStep * period;
    fields.push(key ? hotp(key, timeStep(seconds, { step: period }), { digits }) : "-", formatLocalTime(seconds));
  }
  return fields.join(" ");
}
