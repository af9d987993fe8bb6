import { describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { base32Encode, checkToken, mintToken, verifyToken, REJECT_REASONS, MemoryReplayStore, type TokenKey } from "../src/index.js";

const localpart = fc.stringMatching(/^[a-z0-9._-]{1,20}$/);
const domain = fc.stringMatching(/^[a-z0-9-]{1,15}(\.[a-z]{2,6}){1,2}$/);
const key: fc.Arbitrary<TokenKey> = fc.record({
  tokenSecret: fc.string({ minLength: 1, maxLength: 64 }),
  otpSeed: fc.uint8Array({ minLength: 10, maxLength: 40 }).map((bytes) => base32Encode(bytes)),
});
const time = fc.integer({ min: 0, max: 4_000_000_000 });

describe("properties", () => {
  test("mint -> verify round trip for random JIDs, keys and times", () => {
    fc.assert(
      fc.property(localpart, domain, key, time, fc.integer({ min: -30, max: 30 }), (local, dom, k, now, skew) => {
        const jid = `${local}@${dom}`;
        const token = mintToken({ jid, key: k, now });
        // Within +-30 s the token is at most one step away: the default window accepts it.
        const at = Math.max(0, now + skew);
        const result = checkToken(token, { jid, keys: [k], now: at });
        expect(result).toMatchObject({ ok: true, jid });
      }),
      { numRuns: 200 },
    );
  });

  test("any single-character change to a token is refused", () => {
    const k: TokenKey = { tokenSecret: randomBytes(16).toString("hex"), otpSeed: base32Encode(randomBytes(20)) };
    const now = 1_800_000_000;
    const token = mintToken({ jid: "alice@example.com", key: k, now });
    const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/= é\0";
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(...chars), (index, ch) => {
        fc.pre(token[index] !== ch);
        const changed = token.slice(0, index) + ch + token.slice(index + 1);
        expect(checkToken(changed, { jid: "alice@example.com", keys: [k], now }).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  test("verifyToken never throws on arbitrary strings and gives a known reason", async () => {
    const k: TokenKey = { tokenSecret: "secret", otpSeed: "XVGR73KMZH2M4XMY" };
    const replay = new MemoryReplayStore();
    const nearToken = fc
      .tuple(fc.stringMatching(/^\d{0,12}$/), fc.stringMatching(/^\d{0,40}$/), fc.constantFrom(" ", "", "  ", "\t"), fc.stringMatching(/^[A-Za-z0-9+/=]{0,46}$/))
      .map(([a, b, sep, c]) => a + b + sep + c);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: "binary", maxLength: 600 }), nearToken), async (input) => {
        const result = await verifyToken(input, { jid: "alice@example.com", keys: [k], replay });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(REJECT_REASONS).toContain(result.reason);
      }),
      { numRuns: 500 },
    );
  });
});
