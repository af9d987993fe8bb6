import { describe, expect, test } from "@jest/globals";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import type { ClaimResult, ReplayStore } from "../src/core/replay/store.js";
import { mintToken } from "../src/core/token/mint.js";
import { checkToken, replayId, verifyToken } from "../src/core/token/verify.js";
import type { TokenKey } from "../src/core/token/keys.js";

const KEY: TokenKey = { otpSeed: "XVGR73KMZH2M4XMY", tokenSecret: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" };
const NOW = 1_700_000_010; // a multiple of 30: the start of a time step
const JID = "alice@example.com";
if (NOW % 30 !== 0) throw new Error("NOW must start a time step");

function mint(now = NOW, jid = JID): string {
  return mintToken({ jid, key: KEY, now });
}

describe("verifyToken with a MemoryReplayStore", () => {
  test("A, B, A: the second A is refused (Prosody accepts it)", async () => {
    const replay = new MemoryReplayStore();
    const a = mint();
    const b = mint();
    const opts = { jid: JID, keys: KEY, now: NOW, replay };
    expect(await verifyToken(a, opts)).toMatchObject({ ok: true });
    expect(await verifyToken(b, opts)).toMatchObject({ ok: true });
    expect(await verifyToken(a, opts)).toEqual({ ok: false, reason: "replayed" });
    expect(await verifyToken(b, opts)).toEqual({ ok: false, reason: "replayed" });
  });

  test("the JID in another case or with a resource is the same account: still replayed", async () => {
    const replay = new MemoryReplayStore();
    const a = mint();
    expect((await verifyToken(a, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    expect(await verifyToken(a, { jid: "ALICE@Example.com/phone", keys: KEY, now: NOW, replay })).toEqual({ ok: false, reason: "replayed" });
  });

  test("refused up to the last second any verifier accepts it, then out of window", async () => {
    const replay = new MemoryReplayStore();
    const token = mint();
    const first = await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay });
    if (!first.ok) throw new Error(`first use refused: ${first.reason}`);
    // Minted at the start of step S, window 1: verifiers accept it until the end of step S+1.
    expect(first.expiresAt).toBe(NOW + 60);
    for (const at of [NOW + 1, NOW + 30, NOW + 59, NOW + 59.999]) {
      expect(checkToken(token, { jid: JID, keys: KEY, now: at }).ok).toBe(true);
      expect(await verifyToken(token, { jid: JID, keys: KEY, now: at, replay })).toEqual({ ok: false, reason: "replayed" });
    }
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: NOW + 60, replay })).toEqual({ ok: false, reason: "otp-out-of-window" });
  });

  test("a token first used late in its life is remembered until its end too", async () => {
    const replay = new MemoryReplayStore();
    const token = mint();
    const late = NOW + 59;
    const first = await verifyToken(token, { jid: JID, keys: KEY, now: late, replay });
    expect(first).toMatchObject({ ok: true, expiresAt: NOW + 60 });
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: late + 0.5, replay })).toEqual({ ok: false, reason: "replayed" });
  });

  test("a refused token is never recorded", async () => {
    const replay = new MemoryReplayStore();
    const token = mint();
    expect((await verifyToken(token, { jid: "bob@example.com", keys: KEY, now: NOW, replay })).ok).toBe(false);
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW + 120, replay })).ok).toBe(false);
    expect(replay.size).toBe(0);
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
  });
});

describe("bounded memory", () => {
  test("a full store of live entries fails closed and forgets nothing", async () => {
    const replay = new MemoryReplayStore({ maxEntries: 3 });
    const tokens = Array.from({ length: 5 }, () => mint());
    const opts = { jid: JID, keys: KEY, now: NOW, replay };
    for (const token of tokens.slice(0, 3)) expect((await verifyToken(token, opts)).ok).toBe(true);
    expect(await verifyToken(tokens[3], opts)).toEqual({ ok: false, reason: "replay-store-full" });
    expect(await verifyToken(tokens[4], { ...opts, now: NOW + 59 })).toEqual({ ok: false, reason: "replay-store-full" });
    for (const token of tokens.slice(0, 3)) expect(await verifyToken(token, opts)).toEqual({ ok: false, reason: "replayed" });
    expect(replay.size).toBe(3);
  });

  test("after time passes, expired entries are purged and new claims succeed", async () => {
    const replay = new MemoryReplayStore({ maxEntries: 3 });
    for (let i = 0; i < 3; i++) expect((await verifyToken(mint(), { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    const later = NOW + 60; // the three entries expire at NOW + 60
    const fresh = Array.from({ length: 3 }, () => mint(later));
    for (const token of fresh) expect((await verifyToken(token, { jid: JID, keys: KEY, now: later, replay })).ok).toBe(true);
    expect(replay.size).toBe(3);
    expect(await verifyToken(mint(later), { jid: JID, keys: KEY, now: later, replay })).toEqual({ ok: false, reason: "replay-store-full" });
  });

  test("purge keeps live entries and drops expired ones, including re-claimed ids", () => {
    const store = new MemoryReplayStore({ maxEntries: 10 });
    expect(store.claim("a", 100, 0)).toBe("claimed");
    expect(store.claim("b", 200, 0)).toBe("claimed");
    expect(store.claim("a", 100, 50)).toBe("replayed");
    // After its expiry an id may be claimed again (a store that outlives its entries).
    expect(store.claim("a", 300, 150)).toBe("claimed");
    store.purge(150);
    expect(store.size).toBe(2);
    expect(store.claim("a", 300, 160)).toBe("replayed");
    store.purge(250);
    expect(store.size).toBe(1);
    expect(store.claim("b", 400, 250)).toBe("claimed");
  });

  test("ids sharing a long prefix, through many table growths, are all told apart and all remembered", () => {
    const store = new MemoryReplayStore({ maxEntries: 40_000 });
    const ids = Array.from({ length: 40_000 }, (_, i) => `${"A".repeat(40)}${i}`);
    for (const id of ids) expect(store.claim(id, 100, 0)).toBe("claimed");
    expect(store.size).toBe(40_000);
    for (const id of ids) expect(store.claim(id, 100, 99)).toBe("replayed");
    expect(store.claim("another", 100, 0)).toBe("full");
    // All expired at 100: the next claim sweeps them and is taken.
    expect(store.claim("another", 200, 100)).toBe("claimed");
    expect(store.size).toBe(1);
  });

  test("a fractional expiry is kept rounded up (remembered a little longer, never shorter)", () => {
    const store = new MemoryReplayStore();
    expect(store.claim("a", 100.2, 0)).toBe("claimed");
    expect(store.claim("a", 300, 100.5)).toBe("replayed");
    expect(store.claim("a", 300, 101)).toBe("claimed");
  });

  test("answers as a plain Map of id to expiry would, for any sequence of claims and sweeps", () => {
    /** The reference: the store's contract written the simplest way. */
    class ModelStore {
      readonly expiryById = new Map<string, number>();
      constructor(readonly maxEntries: number) {}
      claim(id: string, expiresAt: number, now: number): string {
        const known = this.expiryById.get(id);
        if (known !== undefined && known > now) return "replayed";
        if (known === undefined && this.expiryById.size >= this.maxEntries) {
          this.purge(now);
          if (this.expiryById.size >= this.maxEntries) return "full";
        }
        this.expiryById.set(id, expiresAt);
        return "claimed";
      }
      purge(now: number): void {
        for (const [id, expiresAt] of this.expiryById) if (expiresAt <= now) this.expiryById.delete(id);
      }
    }
    const step = fc.record({
      id: fc.integer({ min: 0, max: 60 }).map((n) => `id-${n}`),
      lifetime: fc.integer({ min: 1, max: 50 }),
      advance: fc.integer({ min: 0, max: 20 }),
      sweep: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(step, { maxLength: 300 }), (maxEntries, steps) => {
        const store = new MemoryReplayStore({ maxEntries });
        const model = new ModelStore(maxEntries);
        let now = 1000;
        for (const { id, lifetime, advance, sweep } of steps) {
          now += advance;
          if (sweep) {
            store.purge(now);
            model.purge(now);
          }
          expect(store.claim(id, now + lifetime, now)).toBe(model.claim(id, now + lifetime, now));
          expect(store.size).toBe(model.expiryById.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a signature's bytes (claimSignature) and its text (claim) are one id, whichever comes first", () => {
    const store = new MemoryReplayStore();
    const first = randomBytes(32);
    expect(store.claimSignature(first, 100, 0)).toBe("claimed");
    expect(store.claim(first.toString("base64"), 100, 10)).toBe("replayed");
    const second = randomBytes(32);
    expect(store.claim(second.toString("base64"), 100, 0)).toBe("claimed");
    expect(store.claimSignature(second, 100, 10)).toBe("replayed");
    // A text that only resembles a signature (base64url, no padding) is an id of its own.
    const third = randomBytes(32);
    expect(store.claim(third.toString("base64url"), 100, 0)).toBe("claimed");
    expect(store.claimSignature(third, 100, 0)).toBe("claimed");
    expect(store.size).toBe(4);
    expect(() => store.claimSignature(randomBytes(31), 100, 0)).toThrow(RangeError);
  });

  test("verifyToken claims through the signature's bytes: the token's replay id is then taken", async () => {
    const replay = new MemoryReplayStore();
    const token = mint();
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: NOW, replay })).ok).toBe(true);
    expect(replay.claim(replayId(token), NOW + 60, NOW)).toBe("replayed");
    const other = mint();
    expect(replay.claim(replayId(other), NOW + 60, NOW)).toBe("claimed");
    expect(await verifyToken(other, { jid: JID, keys: KEY, now: NOW, replay })).toEqual({ ok: false, reason: "replayed" });
  });

  test("answers as the Map model does in a dense table: long probe runs, wrap-around, sweeps in place", () => {
    // Hundreds of entries in a table of 1024 or 2048 slots (half full at most), so runs are long
    // and some wrap past the table's end; each sweep must leave every survivor findable.
    const signatures = Array.from({ length: 1500 }, () => randomBytes(32));
    const step = fc.record({
      id: fc.integer({ min: 0, max: 1499 }),
      asText: fc.boolean(),
      lifetime: fc.integer({ min: 1, max: 400 }),
      advance: fc.integer({ min: 0, max: 3 }),
      sweep: fc.integer({ min: 0, max: 99 }).map((n) => n === 0),
    });
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 700 }), fc.array(step, { minLength: 500, maxLength: 2500 }), (maxEntries, steps) => {
        const store = new MemoryReplayStore({ maxEntries });
        const model = new Map<string, number>();
        let now = 1000;
        const modelPurge = () => {
          for (const [id, expiresAt] of model) if (expiresAt <= now) model.delete(id);
        };
        for (const { id, asText, lifetime, advance, sweep } of steps) {
          now += advance;
          if (sweep) {
            store.purge(now);
            modelPurge();
          }
          const text = signatures[id]!.toString("base64");
          const known = model.get(text);
          let expected: string;
          if (known !== undefined && known > now) expected = "replayed";
          else {
            if (known === undefined && model.size >= maxEntries) modelPurge();
            if (known === undefined && model.size >= maxEntries) expected = "full";
            else {
              model.set(text, now + lifetime);
              expected = "claimed";
            }
          }
          const answer = asText ? store.claim(text, now + lifetime, now) : store.claimSignature(signatures[id]!, now + lifetime, now);
          if (answer !== expected) throw new Error(`step answered ${answer}, the model ${expected}`);
          if (store.size !== model.size) throw new Error(`size ${store.size}, the model ${model.size}`);
        }
      }),
      { numRuns: 100 },
    );
  });

  test("maxEntries must be a positive integer", () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN]) expect(() => new MemoryReplayStore({ maxEntries })).toThrow(RangeError);
  });
});

describe("other stores", () => {
  test("an async (Promise-returning) store works", async () => {
    const seen = new Map<string, number>();
    const calls: [string, number, number][] = [];
    const asyncStore: ReplayStore = {
      async claim(id, expiresAt, now): Promise<ClaimResult> {
        calls.push([id, expiresAt, now]);
        await new Promise((resolve) => setImmediate(resolve));
        if ((seen.get(id) ?? 0) > now) return "replayed";
        seen.set(id, expiresAt);
        return "claimed";
      },
    };
    const a = mint();
    const b = mint();
    const opts = { jid: JID, keys: KEY, now: NOW, replay: asyncStore };
    expect((await verifyToken(a, opts)).ok).toBe(true);
    expect((await verifyToken(b, opts)).ok).toBe(true);
    expect(await verifyToken(a, opts)).toEqual({ ok: false, reason: "replayed" });
    expect(calls[0]).toEqual([replayId(a), NOW + 60, NOW]);
  });

  test("a claimSignature that answers with a promise fails closed (the bytes it was lent are reused)", async () => {
    let unhandled = 0;
    const count = () => unhandled++;
    process.on("unhandledRejection", count);
    try {
      const lent: Uint8Array[] = [];
      const late: ReplayStore = {
        claim: () => "claimed",
        claimSignature: ((signature: Uint8Array) => {
          lent.push(signature);
          return Promise.resolve("claimed");
        }) as unknown as ReplayStore["claimSignature"],
      };
      expect(await verifyToken(mint(), { jid: JID, keys: KEY, now: NOW, replay: late })).toEqual({ ok: false, reason: "replay-store-error" });
      expect(lent).toHaveLength(1);
      const failing: ReplayStore = {
        claim: () => "claimed",
        claimSignature: (() => Promise.reject(new Error("down"))) as unknown as ReplayStore["claimSignature"],
      };
      expect(await verifyToken(mint(), { jid: JID, keys: KEY, now: NOW, replay: failing })).toEqual({ ok: false, reason: "replay-store-error" });
      const throwing: ReplayStore = {
        claim: () => "claimed",
        claimSignature: () => {
          throw new Error("down");
        },
      };
      expect(await verifyToken(mint(), { jid: JID, keys: KEY, now: NOW, replay: throwing })).toEqual({ ok: false, reason: "replay-store-error" });
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toBe(0);
    } finally {
      process.off("unhandledRejection", count);
    }
  });

  test("an async store answering full -> replay-store-full", async () => {
    const full: ReplayStore = { claim: async () => "full" as const };
    expect(await verifyToken(mint(), { jid: JID, keys: KEY, now: NOW, replay: full })).toEqual({ ok: false, reason: "replay-store-full" });
  });
});
