/**
 * FastTokens (src/auth/fast) with the memory records and a clock we move: what is stored of a
 * token (never the token), the expiry boundary, rotation age, the two slots, a promotion lost to
 * a race, refusals, and the records failing.
 */
import { describe, expect, test } from "@jest/globals";
import { createHash } from "node:crypto";
import { MemoryFastTokens, type FastTokenRecords } from "../src/core/records/fast-tokens.js";
import { FastTokens, HT_SHA_256_NONE, htInitiator, htResponder, isUsableUserAgentId, userAgentHash } from "../src/auth/fast/index.js";

const JID = "alice@example.com";
const AGENT = "d4565fa7-4d72-4749-b3d3-740edbf87770";

function setup(settings = { tokenLifetimeSeconds: 1000, rotateAfterSeconds: 100 }, records: FastTokenRecords = new MemoryFastTokens()) {
  let now = 1_000_000;
  const tokens = new FastTokens({ records, now: () => now, settings });
  return { tokens, records, at: (t: number) => (now = t), now: () => now };
}

describe("FastTokens", () => {
  test("a token: 32 random bytes in base64url, never stored; the records hold SHA-256(initiator) and the responder", () => {
    const { tokens, records } = setup();
    const issued = tokens.issue(JID, AGENT);
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(issued.token, "base64url")).toHaveLength(32);
    expect(issued).toMatchObject({ mechanism: HT_SHA_256_NONE, expiresAt: 1_000_000 + 1000 });
    expect(tokens.issue(JID, AGENT).token).not.toBe(issued.token);
    const stored = records.find({ account: JID, agentHash: userAgentHash(AGENT), mechanism: HT_SHA_256_NONE }).new!;
    expect(Buffer.from(stored.verifier)).not.toEqual(htInitiator(issued.token));
    expect(JSON.stringify(stored)).not.toContain(issued.token);
    expect(userAgentHash(AGENT)).toBe(createHash("sha256").update(AGENT).digest("hex"));
  });

  test("good until just before its expiry; at it, fast-expired", () => {
    const { tokens, at } = setup();
    const { token } = tokens.issue(JID, AGENT);
    at(1_000_000 + 999);
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(token))).toMatchObject({ ok: true, responder: htResponder(token) });
    at(1_000_000 + 1000);
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(token))).toEqual({ ok: false, reason: "fast-expired" });
  });

  test("refused: another account, user agent, mechanism, HMAC; no or an unusable user-agent id", () => {
    const { tokens } = setup();
    const { token } = tokens.issue(JID, AGENT);
    const initiator = htInitiator(token);
    expect(tokens.verify("bob@example.com", AGENT, HT_SHA_256_NONE, initiator)).toEqual({ ok: false, reason: "fast-invalid" });
    expect(tokens.verify(JID, "other", HT_SHA_256_NONE, initiator)).toEqual({ ok: false, reason: "fast-invalid" });
    expect(tokens.verify(JID, AGENT, "HT-SHA-256-ENDP", initiator)).toEqual({ ok: false, reason: "fast-invalid" });
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htResponder(token))).toEqual({ ok: false, reason: "fast-invalid" });
    expect(tokens.verify(JID, undefined, HT_SHA_256_NONE, initiator)).toEqual({ ok: false, reason: "fast-no-user-agent" });
    for (const bad of ["", "x".repeat(257), "a\nb", "\u0000"]) expect(isUsableUserAgentId(bad)).toBe(false);
    expect(isUsableUserAgentId("x".repeat(256))).toBe(true);
    expect(() => tokens.issue(JID, AGENT, "HT-SHA-256-ENDP")).toThrow(RangeError);
  });

  test("rotation age and slots: the new token is promoted on use; the old one works until then", () => {
    const { tokens, at } = setup();
    const first = tokens.issue(JID, AGENT).token;
    const used = tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(first));
    if (!used.ok) throw new Error("refused");
    expect(used.used.slot).toBe("new");
    expect(tokens.isDueForRotation(used.used)).toBe(false);
    at(1_000_000 + 100);
    const again = tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(first));
    if (!again.ok) throw new Error("refused");
    expect(again.used.slot).toBe("current");
    expect(tokens.isDueForRotation(again.used)).toBe(true);
    const second = tokens.issue(JID, AGENT).token;
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(first)).ok).toBe(true);
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(second)).ok).toBe(true);
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(first))).toEqual({ ok: false, reason: "fast-invalid" });
  });

  test("invalidate removes the token used", () => {
    const { tokens } = setup();
    const { token } = tokens.issue(JID, AGENT);
    const used = tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(token));
    if (!used.ok) throw new Error("refused");
    tokens.invalidate(used.used);
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(token))).toEqual({ ok: false, reason: "fast-invalid" });
  });

  test("a new token removed between the check and its promotion is refused; one promoted by another login is taken", () => {
    const records = new MemoryFastTokens();
    const { tokens } = setup(undefined, records);
    const { token } = tokens.issue(JID, AGENT);
    const binding = { account: JID, agentHash: userAgentHash(AGENT), mechanism: HT_SHA_256_NONE };
    const promote = records.promote.bind(records);
    records.promote = (b, v) => {
      records.revokeAccount(JID);
      return promote(b, v);
    };
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(token))).toEqual({ ok: false, reason: "fast-invalid" });
    records.promote = (b, v) => {
      promote(b, v); // the other login's
      return promote(b, v);
    };
    const second = tokens.issue(JID, AGENT).token;
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(second)).ok).toBe(true);
    expect(records.find(binding).current).not.toBeNull();
  });

  test("records that fail: verify says fast-store-error, issue and invalidate throw", () => {
    const records = new MemoryFastTokens();
    const { tokens } = setup(undefined, records);
    const { token } = tokens.issue(JID, AGENT);
    records.find = () => {
      throw new Error("disk");
    };
    expect(tokens.verify(JID, AGENT, HT_SHA_256_NONE, htInitiator(token))).toEqual({ ok: false, reason: "fast-store-error" });
    records.issue = () => {
      throw new Error("disk");
    };
    expect(() => tokens.issue(JID, AGENT)).toThrow("disk");
  });

  test("expired tokens are swept from the records at an issue, at most once an hour", () => {
    const records = new MemoryFastTokens();
    const { tokens, at } = setup(undefined, records);
    tokens.issue(JID, "old-agent");
    at(1_000_000 + 5000);
    tokens.issue(JID, AGENT);
    expect(records.find({ account: JID, agentHash: userAgentHash("old-agent"), mechanism: HT_SHA_256_NONE }).new).toBeNull();
  });
});
