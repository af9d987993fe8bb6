import { describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import { MIN_OTP_SEED_BYTES, MIN_TOKEN_SECRET_BYTES, secretWeakness } from "../src/core/token/secret-strength.js";
import { normaliseBareJid } from "../src/core/jid/prep.js";
import { base32Encode } from "../src/core/otp/base32.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import { Keyring, type TokenKey } from "../src/core/token/keys.js";
import { parseToken } from "../src/core/token/format.js";
import { mintToken } from "../src/core/token/mint.js";
import { checkToken, REJECT_REASONS, verifyToken } from "../src/core/token/verify.js";

const RUNS = 200;
const localpart = fc.oneof(
  fc.stringMatching(/^[a-z0-9._-]{1,20}$/),
  // Mixed case and non-ASCII letters: minted and verified through full preparation.
  fc.stringMatching(/^[A-Za-zäöüéßçñøåÆØÅ0-9._-]{1,20}$/),
);
const domain = fc.stringMatching(/^[a-z0-9-]{1,15}(\.[a-z]{2,6}){1,2}$/);
// Any key the Keyring takes (the core's strength rule: weak keys are refused before any token).
const key: fc.Arbitrary<TokenKey> = fc.record({
  tokenSecret: fc.string({ minLength: MIN_TOKEN_SECRET_BYTES, maxLength: 64 }).filter((secret) => secretWeakness(secret, MIN_TOKEN_SECRET_BYTES) === null),
  otpSeed: fc
    .uint8Array({ minLength: MIN_OTP_SEED_BYTES, maxLength: 64 })
    .filter((bytes) => secretWeakness(bytes, MIN_OTP_SEED_BYTES) === null)
    .map((bytes) => base32Encode(bytes)),
});
const time = fc.integer({ min: 0, max: 4_000_000_000 });

const FIXED_KEY: TokenKey = { tokenSecret: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7", otpSeed: "XVGR73KMZH2M4XMY" };
const FIXED_NOW = 1_800_000_000;
const JID = "alice@example.com";

/** Strings close to a token's shape: digits, separators, base64-ish tails. */
const nearToken = fc
  .tuple(
    fc.stringMatching(/^\d{0,12}$/),
    fc.stringMatching(/^\d{0,40}$/),
    fc.constantFrom(" ", "", "  ", "\t", "\n", "\u00a0"),
    fc.stringMatching(/^[A-Za-z0-9+/=_-]{0,46}$/),
  )
  .map(([a, b, sep, c]) => a + b + sep + c);
const anyString = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 600 }), nearToken);

describe("properties", () => {
  test("mint -> check/verify round trip for random JIDs, keys and times", async () => {
    await fc.assert(
      fc.asyncProperty(localpart, domain, key, time, fc.integer({ min: -30, max: 30 }), async (local, dom, k, now, skew) => {
        const jid = `${local}@${dom}`;
        let prepared: string;
        try {
          prepared = normaliseBareJid(jid);
        } catch {
          return fc.pre(false);
        }
        const token = mintToken({ jid, key: k, now });
        // Within +-30 s the token is at most one step away: the default window accepts it.
        const at = Math.max(0, now + skew);
        expect(checkToken(token, { jid, keys: [k], now: at })).toMatchObject({ ok: true, jid: prepared, keyIndex: 0 });
        const replay = new MemoryReplayStore();
        expect(await verifyToken(token, { jid: prepared, keys: [k], now: at, replay })).toMatchObject({ ok: true, jid: prepared });
        expect(await verifyToken(token, { jid, keys: [k], now: at, replay })).toEqual({ ok: false, reason: "replayed" });
      }),
      { numRuns: RUNS },
    );
  });

  test("any single-character change (substitution, deletion, insertion) of a valid token is refused", () => {
    const chars = [..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/= -_é\0\n"];
    const edit = fc.oneof(
      fc.record({ kind: fc.constant("replace" as const), ch: fc.constantFrom(...chars) }),
      fc.record({ kind: fc.constant("delete" as const), ch: fc.constant("") }),
      fc.record({ kind: fc.constant("insert" as const), ch: fc.constantFrom(...chars) }),
    );
    fc.assert(
      fc.property(key, time, fc.nat({ max: 10_000 }), edit, (k, now, rawIndex, { kind, ch }) => {
        const token = mintToken({ jid: JID, key: k, now });
        const index = rawIndex % token.length;
        const changed =
          kind === "replace"
            ? token.slice(0, index) + ch + token.slice(index + 1)
            : kind === "delete"
              ? token.slice(0, index) + token.slice(index + 1)
              : token.slice(0, index) + ch + token.slice(index);
        fc.pre(changed !== token);
        expect(checkToken(changed, { jid: JID, keys: [k], now }).ok).toBe(false);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test("checkToken never throws on arbitrary strings, as token or as JID, and gives a known reason", () => {
    fc.assert(
      fc.property(anyString, fc.oneof(fc.constant(JID), anyString), (input, jid) => {
        const result = checkToken(input, { jid, keys: [FIXED_KEY], now: FIXED_NOW });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(REJECT_REASONS).toContain(result.reason);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test("verifyToken never throws (or rejects) on arbitrary strings and gives a known reason", async () => {
    const replay = new MemoryReplayStore();
    await fc.assert(
      fc.asyncProperty(anyString, fc.oneof(fc.constant(JID), anyString), async (input, jid) => {
        const result = await verifyToken(input, { jid, keys: [FIXED_KEY], now: FIXED_NOW, replay });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(REJECT_REASONS).toContain(result.reason);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(replay.size).toBe(0);
  });

  test("a token with a random signature in valid shape is bad-signature, never accepted", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{9,60}$/), fc.uint8Array({ minLength: 32, maxLength: 32 }), (otpNonce, sig) => {
        const token = `${otpNonce} ${Buffer.from(sig).toString("base64")}`;
        // 8 otp digits + 32 nonce digits is the only shape that gets as far as the signature.
        const reason = otpNonce.length === 40 ? "bad-signature" : "malformed";
        expect(checkToken(token, { jid: JID, keys: [FIXED_KEY], now: FIXED_NOW })).toEqual({ ok: false, reason });
      }),
      { numRuns: RUNS },
    );
  });

  test("digits shifted between a localpart's leading digits and the nonce, either way, are refused", () => {
    // Localparts that start with digits: phone numbers (all digits) and names like 1alice.
    const leadingDigits = fc.tuple(fc.stringMatching(/^[0-9]{1,15}$/), fc.stringMatching(/^[a-z._-]{0,10}$/)).map(([d, rest]) => d + rest);
    fc.assert(
      fc.property(leadingDigits, domain, key, time, fc.integer({ min: 1, max: 16 }), (local, dom, k, now, rawShift) => {
        const signer = new Keyring([k]).current;
        const victimLocal = (shift: number) => local.slice(shift);
        const token = mintToken({ jid: `${local}@${dom}`, key: k, now });
        const { otp, nonce, signature } = parseToken(token)!;
        const sig = signature.toString("base64");
        const refused = (forged: string, jid: string, digits: number) => {
          // The forged token carries a valid signature for the other JID (the attack would work
          // with any nonce length)...
          expect(signer.signs(forged.slice(0, forged.indexOf(" ")) + normaliseBareJid(jid), signature)).toBe(true);
          expect(checkToken(forged, { jid, keys: [k], now, nonceDigits: digits }).ok).toBe(true);
          // ...and the fixed length refuses it.
          expect(checkToken(forged, { jid, keys: [k], now })).toEqual({ ok: false, reason: "malformed" });
        };
        // Localpart -> nonce: `1alice`'s token with `1` appended to its nonce, claimed for `alice`.
        const digits = /^[0-9]*/.exec(local)![0].length;
        const intoNonce = Math.min(rawShift, digits, local.length - 1);
        for (let shift = 1; shift <= intoNonce; shift++) {
          refused(`${otp}${nonce}${local.slice(0, shift)} ${sig}`, `${victimLocal(shift)}@${dom}`, 32 + shift);
        }
        // Nonce -> localpart: the nonce's last digits moved to the front of the localpart.
        for (let shift = 1; shift <= rawShift; shift++) {
          refused(`${otp}${nonce.slice(0, -shift)} ${sig}`, `${nonce.slice(-shift)}${local}@${dom}`, 32 - shift);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
