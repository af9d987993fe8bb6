/**
 * PINs of one-time password credentials, kept as scrypt hashes (`scrypt$N$r$p$salt$hash`, the
 * format of the demo's passwords, src/web/demo/password.ts): a login only needs to check a PIN,
 * so nobody who reads the database learns it. Asynchronous (libuv's pool), so a check never
 * blocks other streams.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

const DEFAULTS = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const FORMAT = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

function derive(pin: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(pin.normalize("NFKC"), salt, KEY_LENGTH, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPin(pin: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(pin, salt, DEFAULTS);
  return `scrypt$${DEFAULTS.N}$${DEFAULTS.r}$${DEFAULTS.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Whether `text` is a PIN hash as hashPin writes it (an export of ours carries these). */
export function isPinHash(text: string): boolean {
  return FORMAT.test(text);
}

/** True when `pin` matches `stored`; false for a wrong PIN or a malformed hash. */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (expected.length !== KEY_LENGTH) return false;
  const actual = await derive(pin, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}
