/** TokenAuthority: one keyring per hosted domain, one shared replay store, the JID bound by the signature. */
import { describe, expect, test } from "@jest/globals";
import { KeyError, MemoryReplayStore, TokenAuthority, mintToken } from "../src/index.js";

const KEY_A = { tokenSecret: "auth-test-a", otpSeed: "XVGR73KMZH2M4XMY" };
const KEY_B = { tokenSecret: "auth-test-b", otpSeed: "GEZDGNBVGY3TQOJQ" };
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
    expect(await a.verify("a.example", "alice", token)).toMatchObject({ ok: true, jid: "alice@a.example", keyIndex: 0 });
    expect(await a.verify("a.example", "alice", token)).toEqual({ ok: false, reason: "replayed" });
  });

  test.each([
    ["different keys", [KEY_B]],
    ["the same keys", [KEY_A]],
  ])("a token for alice@a.example is refused on b.example with %s (the JID is signed)", async (_what, bKeys) => {
    const a = authority(bKeys);
    const token = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW });
    expect(await a.verify("b.example", "alice", token)).toEqual({ ok: false, reason: "bad-signature" });
    // Still unused on its own domain: the refusal claimed nothing.
    expect(await a.verify("a.example", "alice", token)).toMatchObject({ ok: true });
  });

  test("an unhosted domain -> unknown-domain", async () => {
    const token = mintToken({ jid: "alice@c.example", key: KEY_A, now: NOW });
    expect(await authority().verify("c.example", "alice", token)).toEqual({ ok: false, reason: "unknown-domain" });
  });

  test("disabled users are per domain", () => {
    const a = authority();
    expect(a.isDisabled("a.example", "eve")).toBe(true);
    expect(a.isDisabled("b.example", "eve")).toBe(false);
    expect(a.isDisabled("a.example", "alice")).toBe(false);
    expect(a.isDisabled("c.example", "eve")).toBe(false);
  });

  test("the clock comes from `now`: a token minted two minutes earlier is out of the window", async () => {
    const old = mintToken({ jid: "alice@a.example", key: KEY_A, now: NOW - 120 });
    expect(await authority().verify("a.example", "alice", old)).toEqual({ ok: false, reason: "otp-out-of-window" });
  });

  test("bad keys or a bad window fail at construction", () => {
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [] } } })).toThrow(KeyError);
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [{ tokenSecret: "s", otpSeed: "not base32!" }] } } })).toThrow(KeyError);
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [KEY_A], window: -1 } } })).toThrow(/window/);
  });
});
