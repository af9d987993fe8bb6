/** TokenAuthority: one keyring per hosted domain, one shared replay store, the JID bound by the signature. */
import { describe, expect, test } from "@jest/globals";
import { KeyError, MemoryReplayStore, mintToken } from "../src/index.js";
import { TokenAuthority } from "../src/auth/index.js";

const KEY_A = { tokenSecret: "auth-test-secret-a", otpSeed: "XVGR73KMZH2M4XMY" };
const KEY_B = { tokenSecret: "auth-test-secret-b", otpSeed: "GEZDGNBVGY3TQOJQ" };
const NOW = 1_700_000_000;

function authority(bKeys = [KEY_B], replay = new MemoryReplayStore()) {
  return new TokenAuthority({
    domains: { "A.Example": { keys: [KEY_A], window: 1, disabledUsers: ["eve"] }, "b.example": { keys: bKeys } },
    replay,
    now: () => NOW,
  });
}

describe("TokenAuthority", () => {
  test("hosts the prepared domain names, and nothing else", () => {
    const a = authority();
    expect(a.hosts("a.example")).toBe(true);
    expect(a.hosts("b.example")).toBe(true);
    expect(a.hosts("c.example")).toBe(false);
    expect(a.domains).toEqual(["a.example", "b.example"]);
  });

  test("verifies a token for its own JID and claims it once", async () => {
    const a = authority();
    const token = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW });
    expect(await a.check("alice", "a.example", token)).toMatchObject({ ok: true, jid: "alice@a.example", keyIndex: 0 });
    expect(await a.check("alice", "a.example", token)).toEqual({ ok: false, reason: "replayed" });
  });

  test.each([
    ["different keys", [KEY_B]],
    ["the same keys", [KEY_A]],
  ])("a token for alice@a.example is refused on b.example with %s (the JID is signed)", async (_what, bKeys) => {
    const a = authority(bKeys);
    const token = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW });
    expect(await a.check("alice", "b.example", token)).toEqual({ ok: false, reason: "bad-signature" });
    // Still unused on its own domain: the refusal claimed nothing.
    expect(await a.check("alice", "a.example", token)).toMatchObject({ ok: true });
  });

  test("each domain accepts its own nonce length only (nonceDigits, default 32)", async () => {
    const a = new TokenAuthority({
      domains: { "a.example": { keys: [KEY_A], nonceDigits: 20 }, "b.example": { keys: [KEY_B] } },
      now: () => NOW,
    });
    const short = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW, nonceDigits: 20 });
    const standard = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW });
    expect(await a.check("alice", "a.example", standard)).toEqual({ ok: false, reason: "malformed" });
    expect(await a.check("alice", "a.example", short)).toMatchObject({ ok: true });
    const onB = mintToken({ jid: "bob@b.example", key: KEY_B, now: NOW, nonceDigits: 20 });
    expect(await a.check("bob", "b.example", onB)).toEqual({ ok: false, reason: "malformed" });
  });

  test.each([15, 0, 129, 31.5])("nonceDigits %p is refused when the authority is built", (nonceDigits) => {
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [KEY_A], nonceDigits } } })).toThrow(KeyError);
  });

  test("an unhosted domain -> unknown-domain", async () => {
    const token = mintToken({ jid: "alice@c.example", key: KEY_A, now: NOW });
    expect(await authority().check("alice", "c.example", token)).toEqual({ ok: false, reason: "unknown-domain" });
  });

  test("disabled users are per domain, and answered by the same one check (nothing claimed)", async () => {
    const replay = new MemoryReplayStore();
    const a = authority([KEY_B], replay);
    const eveA = mintToken({ jid: "eve@a.example", key: KEY_A, now: NOW });
    const eveB = mintToken({ jid: "eve@b.example", key: KEY_B, now: NOW });
    expect(await a.check("eve", "a.example", eveA)).toEqual({ ok: false, reason: "account-disabled" });
    expect(await a.check("eve", "b.example", eveB)).toMatchObject({ ok: true, jid: "eve@b.example" });
    expect(await a.check("alice", "a.example", mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW }))).toMatchObject({ ok: true });
    expect(await a.check("eve", "c.example", eveA)).toEqual({ ok: false, reason: "unknown-domain" });
    // The disabled answer claimed nothing: the same token is still unused in the replay store.
    expect(replay.size).toBe(2);
  });

  test("the clock comes from `now`: a token minted two minutes earlier is out of the window", async () => {
    const old = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW - 120 });
    expect(await authority().check("alice", "a.example", old)).toEqual({ ok: false, reason: "otp-out-of-window" });
  });

  test("bad keys or a bad window fail at construction", () => {
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [] } } })).toThrow(KeyError);
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [{ tokenSecret: "s", otpSeed: "not base32!" }] } } })).toThrow(KeyError);
    // A weak key (secret-strength.ts), even an old one further down the list, is refused too.
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [KEY_A, { tokenSecret: "abc", otpSeed: "MZXW6" }] } } })).toThrow(/^key 2: tokenSecret is shorter than 16 bytes/);
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [KEY_A], window: -1 } } })).toThrow(/window/);
  });
});
