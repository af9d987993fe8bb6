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
  // One pass over the text as given, so positions are the ones the user sees (spaces counted),
  // and characters are checked before any case mapping ("ß".toUpperCase() is "SS").
  const digits: number[] = [];
  let padding = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === " ") continue;
    if (ch === "=") {
      padding++;
      continue;
    }
    const digit = ALPHABET.indexOf(ch.length === 1 && ch >= "a" && ch <= "z" ? ch.toUpperCase() : ch);
    if (digit === -1) throw new Base32Error(`base32: invalid character at position ${i + 1}`);
    if (padding > 0) throw new Base32Error(`base32: padding '=' before position ${i + 1}; it may appear only at the end`);
    digits.push(digit);
  }
  // Valid unpadded lengths mod 8: 0, 2, 4, 5, 7 (RFC 4648 section 6).
  if ([1, 3, 6].includes(digits.length % 8)) {
    throw new Base32Error(`base32: invalid length ${digits.length}`);
  }
  if (padding > 0 && (digits.length + padding) % 8 !== 0) {
    throw new Base32Error("base32: padded input must be a multiple of 8 characters");
  }
  const out = Buffer.alloc(Math.floor((digits.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (const digit of digits) {
    value = ((value << 5) | digit) & 0xfff;
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
