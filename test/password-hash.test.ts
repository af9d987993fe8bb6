/**
 * The one password-hash format (src/auth/password/scrypt-hash.ts), used by the demo's sign-in
 * passwords and by the PINs of one-time password credentials: hashes written before the two were
 * merged (by src/web/demo/password.ts and src/auth/otp/pin.ts) keep verifying, a hash computed
 * here with node:crypto directly verifies, and malformed or hostile stored values are refused
 * without work.
 */
import { describe, expect, test } from "@jest/globals";
import { randomBytes, scryptSync } from "node:crypto";
import { hashPassword, isPasswordHash, verifyPassword, SCRYPT_DEFAULTS } from "../src/auth/password/scrypt-hash.js";
import { hashPin, isPinHash, verifyPin } from "../src/auth/otp/pin.js";
import * as web from "../src/web/index.js";

/** Written by the former src/web/demo/password.ts (a demo.users[].passwordHash in someone's configuration). */
const OLD_DEMO_HASH = "scrypt$16384$8$1$W43gfL3TOo1CJmdHWSiJzg==$jFv/ikrVNPSAPwKooLpCstS+O0X+W4RSR5MSyAn9okw=";
/** Same, for a password that NFKC changes (full-width letters, a ligature). */
const OLD_DEMO_HASH_NFKC = "scrypt$16384$8$1$5/vwCRN3ulx7vW5Unvecww==$a80KJq2WhPEFNLrCgq6J4+1wLMdcPZ57RssMYX44Bm0=";
/** Written by the former src/auth/otp/pin.ts (a PIN hash in someone's database or users-file export). */
const OLD_PIN_HASH = "scrypt$16384$8$1$fF+RyZZp1OdWHTBc8JMQ2A==$QTCiXuMe0QHYJhBiISQGYkQbj10YcuYg0S23b56TP8M=";

/** The format computed here from its description, with node:crypto alone. */
function independentHash(secret: string, { N = 1024, r = 8, p = 1 } = {}): string {
  const salt = randomBytes(16);
  const key = scryptSync(secret.normalize("NFKC"), salt, 32, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

describe("one scrypt password-hash format", () => {
  test("hashes written before the merge keep verifying, by both names; a wrong secret does not", async () => {
    expect(await verifyPassword("alice-demo-password", OLD_DEMO_HASH)).toBe(true);
    expect(await verifyPassword("ｐａｓｓ ﬁ ✓", OLD_DEMO_HASH_NFKC)).toBe(true);
    expect(await verifyPassword("pass fi ✓", OLD_DEMO_HASH_NFKC)).toBe(true); // the same after NFKC
    expect(await verifyPin("2468", OLD_PIN_HASH)).toBe(true);
    expect(await verifyPassword("2468", OLD_PIN_HASH)).toBe(true);
    expect(await verifyPin("alice-demo-password", OLD_DEMO_HASH)).toBe(true);
    expect(await verifyPassword("alice-demo-passwor", OLD_DEMO_HASH)).toBe(false);
    expect(await verifyPin("2469", OLD_PIN_HASH)).toBe(false);
    for (const old of [OLD_DEMO_HASH, OLD_DEMO_HASH_NFKC, OLD_PIN_HASH]) expect(isPasswordHash(old) && isPinHash(old)).toBe(true);
  });

  test("the PIN names, the web entry point and the hash-password command are the one module", async () => {
    expect(hashPin).toBe(hashPassword);
    expect(verifyPin).toBe(verifyPassword);
    expect(isPinHash).toBe(isPasswordHash);
    expect(web.hashPassword).toBe(hashPassword);
    expect(web.verifyPassword).toBe(verifyPassword);
  });

  test("a new hash has the documented shape and parameters, a fresh salt each time, and verifies only its secret", async () => {
    const [a, b] = [await hashPassword("s3cret"), await hashPassword("s3cret")];
    expect(a).toMatch(new RegExp(`^scrypt\\$${SCRYPT_DEFAULTS.N}\\$${SCRYPT_DEFAULTS.r}\\$${SCRYPT_DEFAULTS.p}\\$[A-Za-z0-9+/]{22}==\\$[A-Za-z0-9+/]{43}=$`));
    expect(a).not.toBe(b);
    expect(await verifyPassword("s3cret", a)).toBe(true);
    expect(await verifyPassword("s3cret ", a)).toBe(false);
    expect(await verifyPassword("", a)).toBe(false);
    // Checked against node:crypto directly: the salt and key as written.
    const [, , , , salt, key] = a.split("$");
    expect(scryptSync("s3cret", Buffer.from(salt!, "base64"), 32, SCRYPT_DEFAULTS).toString("base64")).toBe(key);
  });

  test("a hash computed independently (other parameters) verifies", async () => {
    expect(await verifyPassword("other", independentHash("other", { N: 1024, r: 4, p: 2 }))).toBe(true);
    expect(await verifyPassword("Ⅻ", independentHash("XII"))).toBe(true); // NFKC on both sides
  });

  test("malformed or hostile stored values are refused (false), never thrown, without running scrypt for them", async () => {
    const good = independentHash("x", { N: 2 });
    const [, , , , salt, key] = good.split("$");
    const hostile = [
      "",
      "x",
      "scrypt$16384$8$1$salt",
      `bcrypt$16384$8$1$${salt}$${key}`,
      `scrypt$16384$8$1$${salt}$${key}$extra`,
      `scrypt$0$8$1$${salt}$${key}`,
      `scrypt$1$8$1$${salt}$${key}`,
      `scrypt$1000$8$1$${salt}$${key}`, // not a power of two
      `scrypt$2097152$8$1$${salt}$${key}`, // 2^21
      `scrypt$1048576$8$1$${salt}$${key}`, // 1 GiB of memory
      `scrypt$16384$33$1$${salt}$${key}`,
      `scrypt$16384$8$17$${salt}$${key}`,
      `scrypt$16384$8$1$${salt}$${Buffer.alloc(16).toString("base64")}`, // a short key
      `scrypt$16384$8$1$${salt}$${key}\n`,
      `scrypt$1e4$8$1$${salt}$${key}`,
      `scrypt$-2$8$1$${salt}$${key}`,
    ];
    for (const stored of hostile) {
      await expect(verifyPassword("x", stored)).resolves.toBe(false);
    }
    expect(await verifyPassword("x", good)).toBe(true);
  });
});
