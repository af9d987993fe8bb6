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

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export interface TokenParts {
  otp: string;
  nonce: string;
  /** The 32 signature bytes, base64-decoded. */
  signature: Buffer;
}

/** Base64 alphabet value of each ASCII code, -1 for characters outside it. */
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;

/** Length of the ` signature` tail: one space, 43 base64 characters and `=`. */
const TAIL_LENGTH = 45;

/**
 * The index of the space that starts the signature, or -1 when `token` is not exactly
 * 8 otp digits, >= 1 nonce digit (the verifier then demands its exact length), one space, and 44 characters of canonical padded standard
 * base64 of 32 bytes. A plain loop: this runs on every login, ahead of the one HMAC.
 */
export function tokenSignatureStart(token: unknown): number {
  if (typeof token !== "string") return -1;
  const length = token.length;
  if (length > MAX_TOKEN_LENGTH || length < OTP_DIGITS + 1 + TAIL_LENGTH) return -1;
  const space = length - TAIL_LENGTH;
  for (let i = 0; i < space; i++) {
    const c = token.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  if (token.charCodeAt(space) !== 32 || token.charCodeAt(length - 1) !== 61) return -1;
  let value = 0;
  for (let i = space + 1; i < length - 1; i++) {
    const c = token.charCodeAt(i);
    value = c < 128 ? BASE64_VALUE[c]! : -1;
    if (value < 0) return -1;
  }
  // 43 characters carry 258 bits for 256: the last character's two low bits must be zero, or
  // a second text would decode to the same signature (non-canonical base64).
  if (value & 3) return -1;
  return space;
}

/**
 * Decodes the 32 signature bytes of a token already checked by tokenSignatureStart into
 * `out`, without allocating (a login decodes one signature; Buffer.write costs more here).
 */
export function decodeSignatureInto(token: string, space: number, out: Uint8Array): void {
  let bits = 0;
  let value = 0;
  let index = 0;
  for (let i = space + 1; i < token.length - 1; i++) {
    value = ((value << 6) | BASE64_VALUE[token.charCodeAt(i)]!) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (value >>> bits) & 0xff;
    }
  }
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
