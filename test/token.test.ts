import { describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import {
  checkToken,
  mintToken,
  verifyToken,
  Keyring,
  KeyError,
  InvalidJidError,
  normaliseBareJid,
  MemoryReplayStore,
  MAX_TOKEN_LENGTH,
  VerifyOptionsError,
  type ReplayStore,
  type TokenKey,
} from "../src/index.js";

interface VectorCase {
  name: string;
  jid: string;
  otpSeed: string;
  tokenSecret: string;
  mintedAt: number;
  nonce: string;
  token: string;
  saslInitialResponse: string;
  checks: { jid: string; at: number; valid: boolean }[];
}
const vectors: { cases: VectorCase[] } = JSON.parse(readFileSync(new URL("./fixtures/x-token.json", import.meta.url), "utf8"));

const KEY: TokenKey = { otpSeed: "XVGR73KMZH2M4XMY", tokenSecret: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" };
const NOW = 1_700_000_000;
const JID = "alice@example.com";

describe("shared vectors (independent mod_auth_token generator)", () => {
  describe.each(vectors.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const key = { otpSeed: c.otpSeed, tokenSecret: c.tokenSecret };
    test("minting with the same nonce and time gives the same token", () => {
      expect(mintToken({ jid: c.jid, key, now: c.mintedAt, nonce: c.nonce })).toBe(c.token);
    });
    test.each(c.checks.map((k) => [k.jid, k.at, k.valid] as const))("check %s at %i -> %s", (jid, at, valid) => {
      expect(checkToken(c.token, { jid, keys: [key], now: at }).ok).toBe(valid);
    });
    test("the SASL initial response is authzid NUL localpart NUL token", () => {
      const localpart = c.jid.slice(0, c.jid.indexOf("@"));
      expect(Buffer.from(c.saslInitialResponse, "base64").toString("utf8")).toBe(`\0${localpart}\0${c.token}`);
    });
  });
});

describe("minting", () => {
  test("a 32-digit random nonce, different every time", () => {
    const a = mintToken({ jid: JID, key: KEY, now: NOW });
    const b = mintToken({ jid: JID, key: KEY, now: NOW });
    expect(a).toMatch(/^\d{40} [A-Za-z0-9+/]{43}=$/);
    expect(a).not.toBe(b);
  });

  test("the bare, prepared JID is signed: case and resource do not matter", () => {
    const token = mintToken({ jid: "Alice@EXAMPLE.com/phone", key: KEY, now: NOW, nonce: "1" });
    expect(token).toBe(mintToken({ jid: JID, key: KEY, now: NOW, nonce: "1" }));
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
    try {
      new Keyring([{ otpSeed: "ABCDEFGH1", tokenSecret: "x" }]);
    } catch (err) {
      expect((err as Error).message).toMatch(/^key 1: otpSeed/);
      expect((err as Error).message).not.toContain("ABCDEFGH1");
    }
  });
});

describe("JID preparation", () => {
  test.each([
    ["Alice@Example.COM/res", "alice@example.com"],
    ["JÜRGEN@example.com", "jürgen@example.com"],
    ["straße@example.com", "strasse@example.com"],
    ["alice@example.com.", "alice@example.com"],
  ])("%s -> %s", (input, output) => {
    expect(normaliseBareJid(input)).toBe(output);
  });
  test("jürgen and jurgen stay different", () => {
    expect(normaliseBareJid("jürgen@example.com")).not.toBe(normaliseBareJid("jurgen@example.com"));
  });
  test("over-long parts are refused", () => {
    expect(() => normaliseBareJid(`${"a".repeat(1024)}@example.com`)).toThrow(InvalidJidError);
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
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    const token = `${otpNonce} ${signature.slice(0, 42)}${sibling}=`;
    expect(checkToken(token, { jid: JID, keys: KEY, now: NOW }).ok).toBe(false);
    expect(checkToken(token, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "malformed" });
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
    expect(checkToken(`${otpNonce}0 ${signature}`, { jid: JID, keys: KEY, now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
  });

  test("outside the window -> otp-out-of-window; the window is configurable", () => {
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 60 })).toEqual({ ok: false, reason: "otp-out-of-window" });
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 30, window: 0 }).ok).toBe(false);
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 30, window: 1 }).ok).toBe(true);
    expect(checkToken(good, { jid: JID, keys: KEY, now: NOW + 60, window: 2 }).ok).toBe(true);
    expect(() => checkToken(good, { jid: JID, keys: KEY, now: NOW, window: -1 })).toThrow(VerifyOptionsError);
  });

  test("near unix time 0 the window never looks at negative steps", () => {
    const early = mintToken({ jid: JID, key: KEY, now: 5, nonce: "7" });
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
  const newKey: TokenKey = { otpSeed: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", tokenSecret: "a newer secret" };

  test("the first key mints, every key verifies", () => {
    const keys = [newKey, oldKey];
    const fromOld = mintToken({ jid: JID, key: oldKey, now: NOW });
    const fromRing = mintToken({ jid: JID, key: keys, now: NOW });
    expect(checkToken(fromOld, { jid: JID, keys, now: NOW })).toMatchObject({ ok: true, keyIndex: 1 });
    expect(checkToken(fromRing, { jid: JID, keys, now: NOW })).toMatchObject({ ok: true, keyIndex: 0 });
    expect(checkToken(fromRing, { jid: JID, keys: [newKey], now: NOW }).ok).toBe(true);
  });

  test("a key that was removed no longer verifies", () => {
    const fromOld = mintToken({ jid: JID, key: oldKey, now: NOW });
    expect(checkToken(fromOld, { jid: JID, keys: [newKey], now: NOW })).toEqual({ ok: false, reason: "bad-signature" });
  });
});

describe("replay protection", () => {
  test("A, B, A: the second A is refused (Prosody accepts it)", async () => {
    const replay = new MemoryReplayStore();
    const a = mintToken({ jid: JID, key: KEY, now: NOW });
    const b = mintToken({ jid: JID, key: KEY, now: NOW + 1 });
    expect((await verifyToken(a, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    expect((await verifyToken(b, { jid: JID, keys: KEY, now: NOW + 2, replay })).ok).toBe(true);
    expect(await verifyToken(a, { jid: JID, keys: KEY, now: NOW + 3, replay })).toEqual({ ok: false, reason: "replayed" });
  });

  test("a used token stays refused for as long as it would otherwise be accepted", async () => {
    const replay = new MemoryReplayStore();
    const token = mintToken({ jid: JID, key: KEY, now: NOW });
    const first = await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay });
    if (!first.ok) throw new Error("first use refused");
    const lastAcceptable = first.expiresAt - 0.001;
    expect(checkToken(token, { jid: JID, keys: KEY, now: lastAcceptable }).ok).toBe(true);
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: lastAcceptable, replay })).toEqual({ ok: false, reason: "replayed" });
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: first.expiresAt, replay })).toEqual({ ok: false, reason: "otp-out-of-window" });
  });

  test("a full store of live entries fails closed; expired entries go first", async () => {
    const replay = new MemoryReplayStore({ maxEntries: 3 });
    const tokens = Array.from({ length: 4 }, () => mintToken({ jid: JID, key: KEY, now: NOW }));
    for (const token of tokens.slice(0, 3)) expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    expect(await verifyToken(tokens[3], { jid: JID, keys: KEY, now: NOW, replay })).toEqual({ ok: false, reason: "replay-store-full" });
    // Still remembered while live: the used ones stay refused, never forgotten to make room.
    expect(await verifyToken(tokens[0], { jid: JID, keys: KEY, now: NOW, replay })).toEqual({ ok: false, reason: "replayed" });
    // Two steps later the old entries expired: a new token gets in, purging them.
    const later = NOW + 90;
    const fresh = mintToken({ jid: JID, key: KEY, now: later });
    expect((await verifyToken(fresh, { jid: JID, keys: KEY, now: later, replay })).ok).toBe(true);
    expect(replay.size).toBe(1);
  });

  test("an async store works; a store that fails refuses (fails closed)", async () => {
    const seen = new Set<string>();
    const asyncStore: ReplayStore = {
      claim: async (id) => {
        await new Promise((r) => setImmediate(r));
        if (seen.has(id)) return "replayed";
        seen.add(id);
        return "claimed";
      },
    };
    const token = mintToken({ jid: JID, key: KEY, now: NOW });
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay: asyncStore })).ok).toBe(true);
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay: asyncStore })).toEqual({ ok: false, reason: "replayed" });
    const broken: ReplayStore = { claim: () => Promise.reject(new Error("connection refused")) };
    const other = mintToken({ jid: JID, key: KEY, now: NOW });
    expect(await verifyToken(other, { jid: JID, keys: KEY, now: NOW, replay: broken })).toEqual({ ok: false, reason: "replay-store-error" });
  });

  test("a refused token is never recorded", async () => {
    const replay = new MemoryReplayStore();
    const token = mintToken({ jid: JID, key: KEY, now: NOW });
    await verifyToken(token, { jid: "bob@example.com", keys: KEY, now: NOW, replay });
    expect(replay.size).toBe(0);
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
  });
});
