/**
 * The one rule for what makes a shared secret too weak to use: token secrets, OTP seeds, the
 * demo's session secret and XEP-0114 component secrets all go through `secretWeakness`. Each
 * caller chooses only the minimum length; the rest of the rule is the same everywhere.
 *
 * A secret is refused when it is
 * - shorter than the minimum, counted in bytes (UTF-8 for text, decoded bytes for an OTP seed);
 * - only whitespace;
 * - made of fewer than MIN_DISTINCT_BYTES different byte values ("aaaa…", "abab…", "1212…");
 * - one piece repeated: a piece at most half as long as the secret, repeated to fill it
 *   ("abcabcabc…", "passwordpassword", "123456789012345678").
 * This catches typed and placeholder secrets; it cannot tell a random secret from a guessable
 * phrase of the same length, so generate secrets (`x-token keygen`) rather than write them.
 */

/** Token secrets (HMAC-SHA256 keys, used as their UTF-8 bytes): 128 bits. */
export const MIN_TOKEN_SECRET_BYTES = 16;
/** OTP seeds, counted after base32 decoding: 80 bits, so mod_auth_token's `XVGR73KMZH2M4XMY` works. */
export const MIN_OTP_SEED_BYTES = 10;
/** XEP-0114 component secrets (the handshake is SHA-1 over stream id + secret). */
export const MIN_COMPONENT_SECRET_BYTES = 16;
/** The demo's session secret (signs session cookies). */
export const MIN_SESSION_SECRET_BYTES = 32;
/** Fewer different byte values than this is a repeated-character secret. */
export const MIN_DISTINCT_BYTES = 6;

/** What to tell the operator after a weakness, so the line says how to make a good secret. */
export const STRONG_SECRET_HINT = "make a strong one with x-token keygen";

/**
 * The reason `secret` is too weak, in words that fit after the setting's name ("is shorter
 * than 16 bytes"), or null when it is acceptable. Never includes the secret or its length.
 */
export function secretWeakness(secret: string | Uint8Array, minBytes: number): string | null {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
  if (bytes.length < minBytes) return `is shorter than ${minBytes} bytes`;
  if (typeof secret === "string" && secret.trim() === "") return "is only whitespace";
  if (new Set(bytes).size < MIN_DISTINCT_BYTES) return `has fewer than ${MIN_DISTINCT_BYTES} different bytes`;
  if (smallestPeriod(bytes) * 2 <= bytes.length) return "is a short piece repeated";
  return null;
}

/** `secretWeakness` with the hint appended: one line for a configuration or key error. */
export function weakSecretProblem(secret: string | Uint8Array, minBytes: number): string | null {
  const weakness = secretWeakness(secret, minBytes);
  return weakness === null ? null : `${weakness} (${STRONG_SECRET_HINT})`;
}

/**
 * The smallest p such that bytes[i] === bytes[i + p] for every i (the length when there is
 * none shorter), from the Knuth-Morris-Pratt failure function: linear time, whatever the input.
 */
function smallestPeriod(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n === 0) return 0;
  const border = new Uint32Array(n);
  for (let i = 1, k = 0; i < n; i++) {
    while (k > 0 && bytes[i] !== bytes[k]) k = border[k - 1]!;
    if (bytes[i] === bytes[k]) k++;
    border[i] = k;
  }
  return n - border[n - 1]!;
}
