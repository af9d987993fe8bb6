import { decodeSignature, SIGNATURE_BYTES, SIGNATURE_TEXT_LENGTH, writeAscii } from "../replay/signature-text.js";

/**
 * The X-TOKEN wire format: `otp nonce SP signature`, as Prosody's mod_auth_token reads it.
 * Parsing is strict and total: any string yields either the parts or null, never an exception.
 */

export const OTP_DIGITS = 8;
/**
 * The nonce's length in decimal digits. Fixed, never "any": the signed message `otp || nonce ||
 * bare_jid` has no separators, so a verifier that took any length would let leading digits of a
 * localpart move into the nonce (a token for `1alice` would log in as `alice`). 32 is what this
 * minter, Prosody's README generator and the shared vectors produce; an operator whose generator
 * mints another fixed length may configure it, within these bounds (16 digits: about 53 bits).
 */
export const DEFAULT_NONCE_DIGITS = 32;
export const MIN_NONCE_DIGITS = 16;
export const MAX_NONCE_DIGITS = 128;

/** Why `digits` is not an acceptable nonce length, or null when it is. */
export function nonceDigitsProblem(digits: unknown): string | null {
  if (Number.isInteger(digits) && (digits as number) >= MIN_NONCE_DIGITS && (digits as number) <= MAX_NONCE_DIGITS) return null;
  return `nonceDigits must be an integer from ${MIN_NONCE_DIGITS} to ${MAX_NONCE_DIGITS}, got ${String(digits)}`;
}
/** The longest token we read; a minted one is 85 characters. Bounds work on hostile input. */
export const MAX_TOKEN_LENGTH = 512;

export interface TokenParts {
  otp: string;
  nonce: string;
  /** The 32 signature bytes, base64-decoded. */
  signature: Buffer;
}

/** Length of the ` signature` tail: one space, 43 base64 characters and `=`. */
const TAIL_LENGTH = 1 + SIGNATURE_TEXT_LENGTH;

/** Reused by tokenSignatureStart, which only wants the shape. */
const shapeScratch = new Uint8Array(SIGNATURE_BYTES);
/** The token's characters (see writeAscii). */
const tokenBytes = Buffer.alloc(3 * MAX_TOKEN_LENGTH);

/**
 * The index of the space that starts the signature, or -1 when `token` is not exactly
 * 8 otp digits, >= 1 nonce digit (the verifier then demands its exact length), one space, and
 * 44 characters of canonical padded standard base64 of 32 bytes.
 */
export function tokenSignatureStart(token: unknown): number {
  return readTokenSignature(token, shapeScratch);
}

/**
 * tokenSignatureStart and the signature's decoding in one pass: on success the 32 signature
 * bytes are in `out` (on -1, `out` holds nothing useful). The token is copied into bytes by one
 * native call and read from there, four base64 characters at a time: this runs on every login,
 * ahead of the one HMAC, and charCodeAt on the strings a login hands us (slices of a decoded
 * message) costs more than the copy. Allocates nothing; Buffer.from(..., "base64") would, and it
 * accepts what the format refuses.
 */
export function readTokenSignature(token: unknown, out: Uint8Array): number {
  if (typeof token !== "string") return -1;
  const length = token.length;
  if (length > MAX_TOKEN_LENGTH || length < OTP_DIGITS + 1 + TAIL_LENGTH) return -1;
  const bytes = tokenBytes;
  if (!writeAscii(token, bytes)) return -1;
  const space = length - TAIL_LENGTH;
  for (let i = 0; i < space; i++) {
    if ((bytes[i]! - 48) >>> 0 > 9) return -1;
  }
  if (bytes[space] !== 32 || bytes[length - 1] !== 61) return -1;
  return decodeSignature(bytes, space + 1, out) ? space : -1;
}

export function parseToken(token: unknown): TokenParts | null {
  const space = tokenSignatureStart(token);
  if (space < 0) return null;
  const text = token as string;
  return {
    otp: text.slice(0, OTP_DIGITS),
    nonce: text.slice(OTP_DIGITS, space),
    signature: Buffer.from(text.slice(space + 1), "base64"),
  };
}

export function formatToken(otp: string, nonce: string, signature: Buffer): string {
  return `${otp}${nonce} ${signature.toString("base64")}`;
}

/** The message the signature covers: otp || nonce || bare JID, UTF-8. */
export function signedMessage(otp: string, nonce: string, bareJid: string): string {
  return otp + nonce + bareJid;
}
