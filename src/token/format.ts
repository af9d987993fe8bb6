/**
 * The X-TOKEN wire format: `otp nonce SP signature`, as Prosody's mod_auth_token reads it.
 * Parsing is strict and total: any string yields either the parts or null, never an exception.
 */

export const OTP_DIGITS = 8;
export const MINTED_NONCE_DIGITS = 32;
/** The longest token we read; a minted one is 85 characters. Bounds work on hostile input. */
export const MAX_TOKEN_LENGTH = 512;

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export interface TokenParts {
  otp: string;
  nonce: string;
  /** The 32 signature bytes, base64-decoded. */
  signature: Buffer;
}

// 8 otp digits, >= 1 nonce digit, one space, 44 characters of padded standard base64 of 32 bytes.
const TOKEN_SHAPE = /^\d{9,} [A-Za-z0-9+/]{43}=$/;

export function parseToken(token: unknown): TokenParts | null {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE.test(token)) return null;
  const space = token.length - 45;
  // 43 characters carry 258 bits for 256: the last character's two low bits must be zero, or
  // a second text would decode to the same signature (non-canonical base64).
  if (BASE64_ALPHABET.indexOf(token[space + 43]!) & 3) return null;
  return {
    otp: token.slice(0, OTP_DIGITS),
    nonce: token.slice(OTP_DIGITS, space),
    signature: Buffer.from(token.slice(space + 1), "base64"),
  };
}

export function formatToken(otp: string, nonce: string, signature: Buffer): string {
  return `${otp}${nonce} ${signature.toString("base64")}`;
}

/** The message the signature covers: otp || nonce || bare JID, UTF-8. */
export function signedMessage(otp: string, nonce: string, bareJid: string): string {
  return otp + nonce + bareJid;
}
