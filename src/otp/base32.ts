/** RFC 4648 base32 (section 6), the encoding OTP seeds are exchanged in. */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export class Base32Error extends Error {
  override readonly name = "Base32Error";
}

/**
 * Decodes base32 text the way people paste it: case-insensitive, `=` padding optional,
 * spaces ignored. Any other character, misplaced padding or impossible length is an error.
 * The message names the position, never the value (seeds are secrets).
 */
export function base32Decode(text: string): Buffer {
  const compact = text.replace(/ /g, "").toUpperCase();
  const padStart = compact.indexOf("=");
  const data = padStart === -1 ? compact : compact.slice(0, padStart);
  if (padStart !== -1 && !/^=+$/.test(compact.slice(padStart))) {
    throw new Base32Error("base32: padding '=' may appear only at the end");
  }
  // Valid unpadded lengths mod 8: 0, 2, 4, 5, 7 (RFC 4648 section 6).
  if ([1, 3, 6].includes(data.length % 8)) {
    throw new Base32Error(`base32: invalid length ${data.length}`);
  }
  if (padStart !== -1 && compact.length % 8 !== 0) {
    throw new Base32Error("base32: padded input must be a multiple of 8 characters");
  }
  const out = Buffer.alloc(Math.floor((data.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (let i = 0; i < data.length; i++) {
    const digit = ALPHABET.indexOf(data[i]!);
    if (digit === -1) {
      throw new Base32Error(`base32: invalid character at position ${i + 1}`);
    }
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      out[index++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

/** Encodes bytes as unpadded upper-case base32, the form OTP tools (pyotp, Prosody) expect. */
export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= 0xff;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}
