/**
 * The one password-hash format of the project: `scrypt$N$r$p$salt$hash` (salt and hash in
 * base64, a 32-byte key, the text NFKC-normalised first). The demo's sign-in passwords
 * (`x-token hash-password`, `demo.users[].passwordHash`) and the PINs of one-time password
 * credentials (src/auth/otp/pin.ts) are both kept in it: only a check is ever needed, so
 * whoever reads the configuration or the database does not learn the secret.
 * Asynchronous (libuv's pool), so a check never blocks other requests or streams.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/** What new hashes use (N = 2^14, r = 8, p = 1: about 16 MiB and 50 ms each). */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_BYTES = 16;
/** Memory scrypt may use for one check; stored parameters that need more are refused, not tried. */
const MAX_MEMORY = 64 * 1024 * 1024;
const FORMAT = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

function derive(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret.normalize("NFKC"), salt, KEY_LENGTH, { ...options, maxmem: MAX_MEMORY }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A new hash of `secret`, with a random salt. */
export async function hashPassword(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = SCRYPT_DEFAULTS;
  const hash = await derive(secret, salt, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Whether `text` has the shape hashPassword writes (a configuration check; an export of ours carries these). */
export function isPasswordHash(text: string): boolean {
  return FORMAT.test(text);
}

/**
 * Parameters scrypt can run within MAX_MEMORY, from a stored hash: N a power of two from 2 to
 * 2^20, r 1..32, p 1..16. Anything else is a malformed (or hostile) hash, refused before any
 * work: a stored value cannot make a check take gigabytes or minutes.
 */
function usableParameters(N: number, r: number, p: number): boolean {
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r > 32 || p > 16) return false;
  return 128 * N * r <= MAX_MEMORY;
}

/** True when `secret` matches `stored`; false for a wrong secret or a malformed hash (never throws for one). */
export async function verifyPassword(secret: string, stored: string): Promise<boolean> {
  if (!FORMAT.test(stored)) return false;
  const parts = stored.split("$");
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!usableParameters(N, r, p)) return false;
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (expected.length !== KEY_LENGTH) return false;
  const actual = await derive(secret, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}
