/**
 * The X-TOKEN wire format: `otp nonce SP signature`, as Prosody's mod_auth_token reads it.
 * Parsing is strict and total: any string yields either the parts or null, never an exception.
 */

export const OTP_DIGITS = 8;
export const MINTED_NONCE_DIGITS = 32;
/** The longest token we read; a minted one is 85 characters. Bounds work on hostile input. */
export const MAX_TOKEN_LENGTH = 512;

export interface TokenParts {
  otp: string;
  nonce: string;
  /** The 32 signature bytes, base64-decoded. */
  signature: Buffer;
}

// 8 otp digits, >= 1 nonce digit, one space, 44 characters of padded standard base64 of 32 bytes.
const TOKEN_SHAPE = /^(\d{8})(\d+) ([A-Za-z0-9+/]{43}=)$/;

export function parseToken(token: unknown): TokenParts | null {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return null;
  const match = TOKEN_SHAPE.exec(token);
  if (!match) return null;
  const signature = Buffer.from(match[3]!, "base64");
  // Only canonical base64 (the last character's unused bits are zero) re-encodes the same.
  if (signature.length !== 32 || signature.toString("base64") !== match[3]) return null;
  return { otp: match[1]!, nonce: match[2]!, signature };
}

export function formatToken(otp: string, nonce: string, signature: Buffer): string {
  return `${otp}${nonce} ${signature.toString("base64")}`;
}

/** The message the signature covers: otp || nonce || bare JID, UTF-8. */
export function signedMessage(otp: string, nonce: string, bareJid: string): string {
  return otp + nonce + bareJid;
}
