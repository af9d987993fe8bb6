/**
 * A token signature's text: 44 characters of canonical padded standard base64 of its 32 bytes.
 * Read here once, for the token format (core/token/format.ts) and for the in-memory replay store,
 * whose ids are these texts. It lives with the stores so that they import nothing from the token
 * room (which imports them).
 */

export const SIGNATURE_BYTES = 32;
export const SIGNATURE_TEXT_LENGTH = 44;

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Base64 alphabet value of each ASCII code, -1 for characters outside it. */
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;

/**
 * Copies `text` into `bytes` as UTF-8 and says whether it was all ASCII. `bytes` holds three bytes
 * per UTF-16 unit of the longest text it is given, so the copy is never cut short, and the text
 * was all ASCII exactly when as many bytes were written as it has characters. One native call:
 * cheaper than charCodeAt over the sliced strings a login hands us.
 */
export function writeAscii(text: string, bytes: Buffer): boolean {
  return bytes.write(text, 0, "utf8") === text.length;
}

const textBytes = Buffer.alloc(3 * SIGNATURE_TEXT_LENGTH);

/**
 * `text` is exactly a token's signature (44 characters of canonical padded base64 of 32 bytes):
 * then its 32 bytes are in `out` and the answer is true. The same reading readTokenSignature does,
 * for a signature held apart from its token (a replay id).
 */
export function readSignatureText(text: unknown, out: Uint8Array): boolean {
  if (typeof text !== "string" || text.length !== SIGNATURE_TEXT_LENGTH) return false;
  const bytes = textBytes;
  if (!writeAscii(text, bytes) || bytes[text.length - 1] !== 61) return false;
  return decodeSignature(bytes, 0, out);
}

/**
 * Decodes the 43 base64 characters at `bytes[at]` (ASCII: the caller has checked) into the 32
 * bytes of `out`; false when one is outside the alphabet or the text is not the canonical
 * spelling of its bytes.
 */
export function decodeSignature(bytes: Uint8Array, at: number, out: Uint8Array): boolean {
  // Ten groups of four characters (24 bits, three bytes), then three characters (18 bits: two
  // bytes and two bits that must be zero). A character outside the alphabet is -1, which makes
  // the OR of its group negative.
  let index = 0;
  for (let group = 0; group < 10; group++, at += 4) {
    const c0 = BASE64_VALUE[bytes[at]!]!;
    const c1 = BASE64_VALUE[bytes[at + 1]!]!;
    const c2 = BASE64_VALUE[bytes[at + 2]!]!;
    const c3 = BASE64_VALUE[bytes[at + 3]!]!;
    if ((c0 | c1 | c2 | c3) < 0) return false;
    const bits = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3;
    out[index++] = bits >>> 16;
    out[index++] = (bits >>> 8) & 0xff;
    out[index++] = bits & 0xff;
  }
  const c0 = BASE64_VALUE[bytes[at]!]!;
  const c1 = BASE64_VALUE[bytes[at + 1]!]!;
  const c2 = BASE64_VALUE[bytes[at + 2]!]!;
  if ((c0 | c1 | c2) < 0) return false;
  // 43 characters carry 258 bits for 256: the last character's two low bits must be zero, or
  // a second text would decode to the same signature (non-canonical base64).
  if (c2 & 3) return false;
  const bits = (c0 << 12) | (c1 << 6) | c2;
  out[index++] = bits >>> 10;
  out[index] = (bits >>> 2) & 0xff;
  return true;
}
