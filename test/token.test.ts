import { describe, expect, test } from "@jest/globals";
import { InvalidJidError } from "../src/core/jid/prep.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import type { ReplayStore } from "../src/core/replay/store.js";
import { formatToken, MAX_TOKEN_LENGTH, parseToken, readTokenSignature, signedMessage, tokenSignatureStart } from "../src/core/token/format.js";
import { readSignatureText } from "../src/core/replay/signature-text.js";
import { randomBytes } from "node:crypto";
import { Keyring, KeyError, PreparedKey, type TokenKey } from "../src/core/token/keys.js";
import { issueToken, MintError, mintToken } from "../src/core/token/mint.js";
import { isValidWindow, WINDOW_RULE } from "../src/core/token/window.js";
import { checkToken, REJECT_REASONS, replayId, verifyToken, VerifyOptionsError } from "../src/core/token/verify.js";
import { checkedToken, vectors } from "./helpers/vectors.js";
// JID preparation: test/jid.test.ts. Replay store behaviour: test/replay.test.ts.

const KEY: TokenKey = { otpSeed: "XVGR73KMZH2M4XMY", tokenSecret: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" };
const NOW = 1_700_000_000;
const JID = "alice@example.com";

describe("shared vectors (independent mod_auth_token generator)", () => {
  describe.each(vectors.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const key = { otpSeed: c.otpSeed, tokenSecret: c.tokenSecret };
    test("minting with the same nonce and time gives the same token (a weak key signs the same, but mintToken refuses it)", () => {
      const prepared = new PreparedKey(key);
      const otp = prepared.otpAt(Math.floor(c.mintedAt / 30)).toString("latin1");
      expect(formatToken(otp, c.nonce, prepared.sign(signedMessage(otp, c.nonce, c.jid)))).toBe(c.token);
      if (prepared.weakness === null) expect(mintToken({ jid: c.jid, key, now: c.mintedAt, nonce: c.nonce })).toBe(c.token);
      // Some vectors use short or repeated secrets on purpose ("k", RFC 6238's "1234567890" twice):
      // they verify (checkToken below), but nothing mints with them.
      else expect(() => mintToken({ jid: c.jid, key, now: c.mintedAt, nonce: c.nonce })).toThrow(prepared.weakness);
    });
    test.each(c.checks.map((k) => [k.token ?? "token", k.jid, k.at, k.valid, k] as const))("check %s for %s at %i -> %s", (_field, jid, at, valid, k) => {
      expect(checkToken(checkedToken(c, k), { jid, keys: [key], now: at, window: 1 }).ok).toBe(valid);
    });
    if (c.saslInitialResponse !== undefined) {
      test("the SASL initial response is authzid NUL localpart NUL token", () => {
        const localpart = c.jid.slice(0, c.jid.indexOf("@"));
        expect(Buffer.from(c.saslInitialResponse!, "base64").toString("utf8")).toBe(`\0${localpart}\0${c.token}`);
      });
    }
  });
});

describe("minting", () => {
  test("a 32-digit random nonce, different every time", () => {
    const a = mintToken({ jid: JID, key: KEY, now: NOW });
    const b = mintToken({ jid: JID, key: KEY, now: NOW });
    expect(a).toMatch(/^\d{40} [A-Za-z0-9+/]{43}=$/);
    expect(parseToken(a)?.nonce).toMatch(/^\d{32}$/);
    expect(parseToken(a)?.nonce).not.toBe(parseToken(b)?.nonce);
    expect(a).not.toBe(b);
  });

  test("the bare, prepared JID is signed: case and resource do not matter", () => {
    const token = mintToken({ jid: "Alice@EXAMPLE.com/phone", key: KEY, now: NOW, nonce: "1".repeat(32) });
    expect(token).toBe(mintToken({ jid: JID, key: KEY, now: NOW, nonce: "1".repeat(32) }));
    expect(checkToken(token, { jid: "ALICE@example.COM", keys: KEY, now: NOW }).ok).toBe(true);
  });

  test("an invalid JID is a typed error", () => {
    for (const jid of ["example.com", "@example.com", "alice@", "al ice@example.com", "a\"b@example.com", "a@b@c"]) {
      expect(() => mintToken({ jid, key: KEY, now: NOW })).toThrow(InvalidJidError);
    }
  });

  test("bad keys are typed errors naming the key, not its value", () => {
    expect(() => mintToken({ jid: JID, key: { otpSeed: "NOT-BASE32!", tokenSecret: "s3cr3t" }, now: NOW })).toThrow(KeyError);
    expect(() => new Keyring([])).toThrow(KeyError);
    // Structured fields, so callers name the setting without reading the message.
    try {
      new Keyring([{ tokenSecret: "s", otpSeed: "OK" }, { tokenSecret: "s", otpSeed: "NOT-BASE32!" }]);
      throw new Error("accepted");
    } catch (err) {
      expect(err).toBeInstanceOf(KeyError);
      expect(err).toMatchObject({ keyNumber: 2, field: "otpSeed", problem: expect.stringMatching(/^is not valid base32/) });
      expect((err as Error).message).toBe(`key 2: otpSeed ${(err as KeyError).problem}`);
    }
    try {
      new Keyring([{ otpSeed: "ABCDEFGH1", tokenSecret: "x" }]);
    } catch (err) {
      expect((err as Error).message).toMatch(/^key 1: otpSeed/);
      expect((err as Error).message).not.toContain("ABCDEFGH1");
    }
  });
});

/** A token signed for any nonce, as a verifier with no length rule would accept it (Prosody's). */
function signedAnyLength(jid: string, nonce: string, now = NOW): string {
  const key = new Keyring([KEY]).current;
  const otp = key.otpAt(Math.floor(now / 30)).toString("latin1");
  return `${otp}${nonce} ${key.sign(otp + nonce + jid).toString("base64")}`;
}

describe("the nonce is exactly nonceDigits digits (32 by default)", () => {
  const shift = vectors.find((c) => c.name === "nonce-shift")!;
  const shiftKey = { otpSeed: shift.otpSeed, tokenSecret: shift.tokenSecret };

  test("the vectors' shifted tokens carry valid signatures for the other user, and are refused as malformed", () => {
    for (const [field, jid] of [["shiftedToken", "alice@example.com"], ["phoneShiftedToken", "551234567@example.com"]] as const) {
      const token = shift[field] as string;
      const digits = token.indexOf(" ") - 8;
      // With the shifted length allowed, the signature verifies: the attack is real...
      expect(checkToken(token, { jid, keys: shiftKey, now: shift.mintedAt, nonceDigits: digits })).toMatchObject({ ok: true, jid });
      // ...and the fixed length is what refuses it.
      expect(checkToken(token, { jid, keys: shiftKey, now: shift.mintedAt })).toEqual({ ok: false, reason: "malformed" });
    }
  });

  test.each([1, 16, 31, 33, 64])("a correctly signed %i-digit nonce is malformed under the default", (digits) => {
    const token = signedAnyLength(JID, "4".repeat(digits));
    expect(checkToken(token, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "malformed" });
  });

  test("another fixed length can be configured, and then only that one is accepted", () => {
    const token = mintToken({ jid: JID, key: KEY, now: NOW, nonceDigits: 20 });
    expect(parseToken(token)?.nonce).toMatch(/^\d{20}$/);
    expect(checkToken(token, { jid: JID, keys: KEY, now: NOW, nonceDigits: 20 }).ok).toBe(true);
    expect(checkToken(token, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "malformed" });
    expect(checkToken(mintToken({ jid: JID, key: KEY, now: NOW }), { jid: JID, keys: KEY, now: NOW, nonceDigits: 20 })).toEqual({ ok: false, reason: "malformed" });
  });

  test.each([15, 0, -32, 129, 32.5, NaN, "32"])("nonceDigits %p is a typed options error for verifier and minter", (digits) => {
    expect(() => checkToken("x", { jid: JID, keys: KEY, now: NOW, nonceDigits: digits as number })).toThrow(VerifyOptionsError);
    expect(() => mintToken({ jid: JID, key: KEY, now: NOW, nonceDigits: digits as number })).toThrow(MintError);
  });

  test("the minter refuses a given nonce of another length (its token would never verify)", () => {
    for (const nonce of ["1", "1".repeat(31), "1".repeat(33), `${"1".repeat(31)}a`]) {
      expect(() => mintToken({ jid: JID, key: KEY, now: NOW, nonce })).toThrow(MintError);
    }
    expect(() => mintToken({ jid: JID, key: KEY, now: NOW, nonceDigits: 20, nonce: "1".repeat(32) })).toThrow(MintError);
  });
});

describe("every rejection has its reason", () => {
  const good = mintToken({ jid: JID, key: KEY, now: NOW, nonce: "12345678901234567890123456789012" });
  const [otpNonce, signature] = good.split(" ") as [string, string];

  test.each([
    ["no space", good.replace(" ", "")],
    ["empty nonce", `${otpNonce.slice(0, 8)} ${signature}`],
    ["seven otp digits", `${otpNonce.slice(1, 8)} ${signature}`],
    ["43-character signature", `${otpNonce} ${signature.slice(1)}`],
    ["45-character signature", `${otpNonce} A${signature}`],
    ["letters in the nonce", `${otpNonce.slice(0, 10)}ab ${signature}`],
    ["two spaces", `${otpNonce}  ${signature}`],
    ["trailing newline", `${good}\n`],
    ["too long", `${"1".repeat(MAX_TOKEN_LENGTH)} ${signature}`],
    ["empty", ""],
  ])("%s -> malformed", (_what, token) => {
    expect(checkToken(token, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "malformed" });
  });

  test("non-canonical base64 (padding bits set) -> malformed", () => {
    const last = signature[42]!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // The last character carries 4 signature bits and 2 zero bits: the 3 siblings that set
    // them decode to the very same bytes, so they must be refused by shape.
    for (const bits of [1, 2, 3]) {
      const sibling = alphabet[alphabet.indexOf(last) ^ bits]!;
      const token = `${otpNonce} ${signature.slice(0, 42)}${sibling}=`;
      expect(Buffer.from(token.slice(-44), "base64")).toEqual(Buffer.from(signature, "base64"));
      expect(checkToken(token, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "malformed" });
    }
  });

  test("non-strings -> malformed", () => {
    for (const token of [undefined, null, 42, {}, ["a"]]) {
      expect(checkToken(token, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "malformed" });
    }
  });

  test("invalid JID -> invalid-jid", () => {
    expect(checkToken(good, { jid: "nobody", keys: KEY, now: NOW })).toEqual({ ok: false, reason: "invalid-jid" });
  });

  test("another user, another secret, a changed nonce -> bad-signature", () => {
    expect(checkToken(good, { jid: "bob@example.com", keys: KEY, now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
    expect(checkToken(good, { jid: JID, keys: { ...KEY, tokenSecret: "other" }, now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
    const changedNonce = `${otpNonce.slice(0, -1)}${otpNonce.endsWith("0") ? "1" : "0"}`;
    expect(checkToken(`${changedNonce} ${signature}`, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("outside the window -> otp-out-of-window; the window is configurable", () => {
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 60 })).toEqual({ ok: false, reason: "otp-out-of-window" });
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 30, window: 0 }).ok).toBe(false);
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 30, window: 1 }).ok).toBe(true);
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 60, window: 2 }).ok).toBe(true);
    expect(() => checkToken(good, { jid: JID, keys: KEY, now: NOW, window: -1 })).toThrow(VerifyOptionsError);
  });

  test("near unix time 0: window 0 and 1 at the first steps", () => {
    const atZero = mintToken({ jid: JID, key: KEY, now: 0, nonce: "1".repeat(32) });
    expect(checkToken(atZero, { jid: JID, keys: KEY, now: 0, window: 0 })).toMatchObject({ ok: true, step: 0, expiresAt: 30 });
    expect(checkToken(atZero, { jid: JID, keys: KEY, now: 29.9, window: 0 }).ok).toBe(true);
    expect(checkToken(atZero, { jid: JID, keys: KEY, now: 30, window: 0 })).toEqual({ ok: false, reason: "otp-out-of-window" });
    expect(checkToken(atZero, { jid: JID, keys: KEY, now: 30, window: 1 })).toMatchObject({ ok: true, step: 0, expiresAt: 60 });
    expect(checkToken(atZero, { jid: JID, keys: KEY, now: 60, window: 1 })).toEqual({ ok: false, reason: "otp-out-of-window" });
    const stepOne = mintToken({ jid: JID, key: KEY, now: 30, nonce: "1".repeat(32) });
    expect(checkToken(stepOne, { jid: JID, keys: KEY, now: 0, window: 0 })).toEqual({ ok: false, reason: "otp-out-of-window" });
    expect(checkToken(stepOne, { jid: JID, keys: KEY, now: 0, window: 1 })).toMatchObject({ ok: true, step: 1 });
  });

  test("near unix time 0 the window never looks at negative steps", () => {
    const early = mintToken({ jid: JID, key: KEY, now: 5, nonce: "7".repeat(32) });
    const result = checkToken(early, { jid: JID, keys: KEY, now: 10, window: 3 });
    expect(result).toMatchObject({ ok: true, step: 0 });
  });

  test("accepted tokens say when they stop being acceptable", () => {
    const result = checkToken(good, { jid: JID, keys: KEY, now: NOW });
    const step = Math.floor(NOW / 30);
    expect(result).toEqual({ ok: true, jid: JID, keyIndex: 0, step, expiresAt: (step + 2) * 30 });
  });
});

describe("key rotation", () => {
  const oldKey: TokenKey = KEY;
  const newKey: TokenKey = { otpSeed: "JBSWY3DPEHPK3PXPJBSWY3DP", tokenSecret: "a newer secret, long enough" };

  test("the first key mints, every key verifies", () => {
    const keys = [newKey, oldKey];
    const fromOld = mintToken({ jid: JID, key: oldKey, now: NOW });
    const fromRing = mintToken({ jid: JID, key: keys, now: NOW });
    expect(checkToken(fromOld, { jid: JID, keys, now: NOW })).toMatchObject({ ok: true, keyIndex: 1 });
    expect(checkToken(fromRing, { jid: JID, keys, now: NOW })).toMatchObject({ ok: true, keyIndex: 0 });
    expect(checkToken(fromRing, { jid: JID, keys: [newKey], now: NOW }).ok).toBe(true);
    expect(checkToken(fromRing, { jid: JID, keys: [oldKey], now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
    expect(mintToken({ jid: JID, key: keys, now: NOW, nonce: "5".repeat(32) })).toBe(mintToken({ jid: JID, key: newKey, now: NOW, nonce: "5".repeat(32) }));
    expect(mintToken({ jid: JID, key: new Keyring(keys), now: NOW, nonce: "5".repeat(32) })).toBe(mintToken({ jid: JID, key: newKey, now: NOW, nonce: "5".repeat(32) }));
  });

  test("a key with the right secret but another OTP seed: signature ok, OTP refused", () => {
    const token = mintToken({ jid: JID, key: { ...oldKey, otpSeed: newKey.otpSeed }, now: NOW });
    expect(checkToken(token, { jid: JID, keys: [oldKey], now: NOW })).toEqual({ ok: false, reason: "otp-out-of-window" });
  });

  test("an unknown key -> bad-signature", () => {
    const stranger: TokenKey = { otpSeed: KEY.otpSeed, tokenSecret: "not one of our secrets" };
    const token = mintToken({ jid: JID, key: stranger, now: NOW });
    expect(checkToken(token, { jid: JID, keys: [newKey, oldKey], now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("a key that was removed no longer verifies", () => {
    const fromOld = mintToken({ jid: JID, key: oldKey, now: NOW });
    expect(checkToken(fromOld, { jid: JID, keys: [newKey], now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
  });
});

describe("replay reasons (store behaviour itself: test/replay.test.ts)", () => {
  test("replayed", async () => {
    const replay = new MemoryReplayStore();
    const token = mintToken({ jid: JID, key: KEY, now: NOW });
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay })).toEqual({ ok: false, reason: "replayed" });
  });

  test("the replay id is the token's signature text: one id per accepted token, distinct for another JID or nonce", async () => {
    const claimed: string[] = [];
    const replay: ReplayStore = { claim: (id) => (claimed.push(id), "claimed") };
    const nonce = "7".repeat(32);
    const tokens = [
      mintToken({ jid: JID, key: KEY, now: NOW, nonce }),
      mintToken({ jid: "bob@example.com", key: KEY, now: NOW, nonce }), // same otp and nonce, another JID
      mintToken({ jid: JID, key: KEY, now: NOW, nonce: "8".repeat(32) }),
    ];
    expect(await verifyToken(tokens[0], { jid: JID, keys: KEY, now: NOW, replay })).toMatchObject({ ok: true });
    expect(await verifyToken(tokens[1], { jid: "bob@example.com", keys: KEY, now: NOW, replay })).toMatchObject({ ok: true });
    expect(await verifyToken(tokens[2], { jid: JID, keys: KEY, now: NOW, replay })).toMatchObject({ ok: true });
    expect(claimed).toEqual(tokens.map((t) => t.split(" ")[1]));
    expect(new Set(claimed).size).toBe(3);
    expect(replayId(tokens[0]!)).toBe(claimed[0]);
  });

  test("replay-store-full", async () => {
    const replay = new MemoryReplayStore({ maxEntries: 1 });
    expect((await verifyToken(mintToken({ jid: JID, key: KEY, now: NOW }), { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    const second = mintToken({ jid: JID, key: KEY, now: NOW });
    expect(await verifyToken(second, { jid: JID, keys: KEY, now: NOW, replay })).toEqual({ ok: false, reason: "replay-store-full" });
  });

  test.each([
    ["throws", (): never => { throw new Error("connection refused"); }],
    ["rejects", () => Promise.reject(new Error("connection refused"))],
    ["resolves to nonsense", () => Promise.resolve("maybe" as never)],
    ["returns nonsense", () => undefined as never],
  ])("a store whose claim %s -> replay-store-error (fails closed)", async (_what, claim) => {
    const broken: ReplayStore = { claim };
    const token = mintToken({ jid: JID, key: KEY, now: NOW });
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay: broken })).toEqual({ ok: false, reason: "replay-store-error" });
  });

  test("a store is not consulted for a refused token", async () => {
    let calls = 0;
    const counting: ReplayStore = { claim: () => (calls++, "claimed") };
    const token = mintToken({ jid: JID, key: KEY, now: NOW });
    await verifyToken(token, { jid: "bob@example.com", keys: KEY, now: NOW, replay: counting });
    await verifyToken(token, { jid: JID, keys: KEY, now: NOW + 300, replay: counting });
    expect(calls).toBe(0);
  });

  test("caller mistakes reject the promise; the token never does", async () => {
    await expect(verifyToken("x", { jid: JID, keys: [], now: NOW })).rejects.toThrow(KeyError);
    await expect(verifyToken("x", { jid: JID, keys: KEY, now: NOW, window: 1.5 })).rejects.toThrow(VerifyOptionsError);
  });

  test("every reason is in REJECT_REASONS", () => {
    expect([...REJECT_REASONS].sort()).toEqual(
      ["bad-signature", "invalid-jid", "malformed", "otp-out-of-window", "replay-store-error", "replay-store-full", "replayed"].sort(),
    );
  });
});

describe("signature decoding", () => {
  test("readTokenSignature agrees with Buffer base64 decoding for random signatures", () => {
    for (let n = 0; n < 200; n++) {
      const bytes = randomBytes(32);
      const token = `12345678901 ${bytes.toString("base64")}`;
      const out = Buffer.alloc(32);
      expect(readTokenSignature(token, out)).toBe(11);
      expect(out).toEqual(bytes);
      expect(tokenSignatureStart(token)).toBe(11);
      expect(parseToken(token)?.signature).toEqual(bytes);
    }
  });

  test("a character outside ASCII anywhere is refused, even one whose low byte is a digit or base64", () => {
    const good = `12345678901 ${randomBytes(32).toString("base64")}`;
    // U+0130 and U+0141 have low bytes "0" and "A"; U+FF10 is a full-width digit zero.
    for (const odd of ["\u0130", "\u0141", "\uff10", "\u0660", "\ud83d"]) {
      for (const at of [0, 5, 10, 12, 30, good.length - 2]) {
        const token = good.slice(0, at) + odd + good.slice(at + 1);
        expect(readTokenSignature(token, Buffer.alloc(32))).toBe(-1);
      }
    }
    // The same with the token padded to the length limit, so the UTF-8 copy is at its longest.
    const long = "1".repeat(MAX_TOKEN_LENGTH - 45) + good.slice(good.length - 45);
    expect(tokenSignatureStart(long)).toBe(MAX_TOKEN_LENGTH - 45);
    expect(tokenSignatureStart("\u0130" + long.slice(1))).toBe(-1);
    expect(tokenSignatureStart(long.slice(0, -2) + "\u0141=")).toBe(-1);
  });

  test("readSignatureText reads a signature alone, exactly as the token reader does, and nothing else", () => {
    for (let n = 0; n < 100; n++) {
      const bytes = randomBytes(32);
      const out = Buffer.alloc(32);
      expect(readSignatureText(bytes.toString("base64"), out)).toBe(true);
      expect(out).toEqual(bytes);
    }
    const text = randomBytes(32).toString("base64");
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // A second spelling of the same bytes (a spare bit of the last character set) is refused.
    const sibling = `${text.slice(0, 42)}${alphabet.charAt(alphabet.indexOf(text.charAt(42)) | 1)}=`;
    expect(Buffer.from(sibling, "base64").equals(Buffer.from(text, "base64"))).toBe(true);
    const refused = [
      sibling,
      text.slice(0, -1), // no padding
      text + "=",
      text.slice(0, -1) + "A", // 44 characters, the last not "="
      text.slice(0, 10) + "\u0141" + text.slice(11), // a low byte that is base64
      text.slice(0, 10) + "-" + text.slice(11), // base64url
      ` ${text.slice(1)}`,
      "",
      undefined,
      42,
    ];
    for (const odd of refused) expect(readSignatureText(odd, Buffer.alloc(32))).toBe(false);
  });

  test("each of the 44 signature characters is checked: a bad one in any group is refused", () => {
    const good = `12345678901 ${randomBytes(32).toString("base64")}`;
    for (let i = 12; i < good.length; i++) {
      for (const bad of ["-", "_", " ", "=", "."]) {
        if (i === good.length - 1 && bad === "=") continue;
        expect(tokenSignatureStart(good.slice(0, i) + bad + good.slice(i + 1))).toBe(-1);
      }
    }
  });
});

describe("one owner for the window and the lifetime (src/core/token/window.ts)", () => {
  const key: TokenKey = { tokenSecret: "window-owner-test", otpSeed: "XVGR73KMZH2M4XMY" };

  test("issueToken's expiresAt is what checkToken learns, for every window and at step edges", () => {
    for (const window of [0, 1, 2, 10]) {
      for (const now of [1_700_000_000, 1_700_000_029.999, 1_700_000_030, 59]) {
        const issued = issueToken({ jid: "Alice@Example.COM", key, now, window });
        const checked = checkToken(issued.token, { jid: "alice@example.com", keys: key, now, window });
        expect(checked).toMatchObject({ ok: true, expiresAt: issued.expiresAt });
        expect(issued.jid).toBe("alice@example.com");
        // Good until expiresAt, refused from then on.
        expect(checkToken(issued.token, { jid: issued.jid, keys: key, now: issued.expiresAt - 0.001, window }).ok).toBe(true);
        expect(checkToken(issued.token, { jid: issued.jid, keys: key, now: issued.expiresAt, window })).toEqual({ ok: false, reason: "otp-out-of-window" });
      }
    }
  });

  test("the window rule: an integer from 0 to 10, the same words everywhere", () => {
    expect([0, 1, 10].map(isValidWindow)).toEqual([true, true, true]);
    expect([-1, 11, 1.5, NaN, "1", null].map(isValidWindow)).toEqual([false, false, false, false, false, false]);
    expect(WINDOW_RULE).toBe("an integer from 0 to 10");
    expect(() => issueToken({ jid: "a@b.c", key, window: 11 })).toThrow(new MintError("window must be an integer from 0 to 10"));
    expect(() => checkToken("x", { jid: "a@b.c", keys: key, window: -1 })).toThrow(new VerifyOptionsError("window must be an integer from 0 to 10, got -1"));
  });
});
