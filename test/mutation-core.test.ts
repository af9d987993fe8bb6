/**
 * Rules of the core that the mutation run (issue 23, `npm run mutate`) found without a test of
 * their own: the memory engine's bounds (offline messages per account in count and in UTF-8
 * bytes, accounts remembered), what it says about itself, the clock's unit, and the window's
 * edges and expiry.
 */
import { describe, expect, test } from "@jest/globals";
import { MemoryOfflineMessages, DEFAULT_OFFLINE_LIMITS } from "../src/core/records/offline.js";
import { MemoryAccounts } from "../src/core/records/accounts.js";
import { memoryStorage, StorageError } from "../src/core/records/storage.js";
import { systemClock } from "../src/core/clock.js";
import { DEFAULT_WINDOW, MAX_WINDOW, WINDOW_RULE, expiresAt, isValidWindow } from "../src/core/token/window.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";

const message = (stanza: string, storedAt = 1) => ({ stanza, storedAt });

describe("offline messages, memory engine", () => {
  test("the defaults: 1000 messages and 10 MiB per account", () => {
    expect(DEFAULT_OFFLINE_LIMITS).toEqual({ maxMessagesPerAccount: 1000, maxBytesPerAccount: 10 * 1024 * 1024 });
    expect(new MemoryOfflineMessages().limits).toEqual(DEFAULT_OFFLINE_LIMITS);
  });

  test("a count bound: exactly maxMessagesPerAccount are stored, the next is full; other accounts are not affected", () => {
    const store = new MemoryOfflineMessages({ maxMessagesPerAccount: 3, maxBytesPerAccount: 1000 });
    expect(["a", "b", "c", "d"].map((s) => store.add("alice", message(s)))).toEqual(["stored", "stored", "stored", "full"]);
    expect(store.count("alice")).toBe(3);
    expect(store.add("bob", message("x"))).toBe("stored");
    expect(store.count("bob")).toBe(1);
  });

  test("a byte bound in UTF-8 bytes: up to the bound exactly is stored, one byte over is full", () => {
    const store = new MemoryOfflineMessages({ maxMessagesPerAccount: 100, maxBytesPerAccount: 10 });
    expect(store.add("alice", message("é".repeat(4)))).toBe("stored"); // 8 bytes, 4 characters
    expect(store.add("alice", message("abc"))).toBe("full"); // 11 > 10
    expect(store.add("alice", message("ab"))).toBe("stored"); // 10 = 10
    expect(store.add("alice", message("a"))).toBe("full");
    expect(store.count("alice")).toBe(2);
  });

  test("take hands every message oldest first, once, as stored; the bound starts again", () => {
    const store = new MemoryOfflineMessages({ maxMessagesPerAccount: 2, maxBytesPerAccount: 100 });
    const first = message("one", 10);
    store.add("alice", first);
    store.add("alice", message("two", 20));
    first.stanza = "changed after"; // stored as a copy
    expect(store.take("alice")).toEqual([message("one", 10), message("two", 20)]);
    expect(store.take("alice")).toEqual([]);
    expect(store.count("alice")).toBe(0);
    expect(store.add("alice", message("three"))).toBe("stored");
    expect(store.add("alice", message("four"))).toBe("stored");
    expect(store.take("nobody")).toEqual([]);
  });
});

describe("accounts, memory engine", () => {
  test("remembers who logged in, up to its bound; past it nobody new", () => {
    const accounts = new MemoryAccounts(2);
    expect(accounts.has("alice@example.test")).toBe(false);
    accounts.add("alice@example.test");
    accounts.add("alice@example.test");
    accounts.add("bob@example.test");
    accounts.add("carol@example.test");
    expect(["alice", "bob", "carol"].map((u) => accounts.has(`${u}@example.test`))).toEqual([true, true, false]);
  });

  test("the default bound is a million", () => {
    const accounts = new MemoryAccounts();
    for (let i = 0; i < 1000; i++) accounts.add(`u${i}@example.test`);
    expect(accounts.has("u999@example.test")).toBe(true);
  });
});

describe("memoryStorage", () => {
  test("says it forgets: not durable, in memory, no roster or web-session records; close does nothing", () => {
    const storage = memoryStorage();
    expect(storage.durable).toBe(false);
    expect(storage.where).toBe("in memory");
    expect(storage.rosters).toBeNull();
    expect(storage.webSessions).toBeNull();
    expect(storage.replay).toBeInstanceOf(MemoryReplayStore);
    expect(storage.accounts).toBeInstanceOf(MemoryAccounts);
    expect(storage.offline.limits).toEqual(DEFAULT_OFFLINE_LIMITS);
    expect(() => storage.close()).not.toThrow();
  });

  test("takes its bounds", async () => {
    const storage = memoryStorage({ replayMaxEntries: 1, offlineLimits: { maxMessagesPerAccount: 1, maxBytesPerAccount: 100 } });
    expect(storage.offline.add("a", message("x"))).toBe("stored");
    expect(storage.offline.add("a", message("y"))).toBe("full");
    const replay = storage.replay;
    expect(await replay.claim("sig-1", 2_000, 1_000)).toBe("claimed");
    expect(await replay.claim("sig-2", 2_000, 1_000)).toBe("full");
  });

  test("StorageError is named so", () => {
    const err = new StorageError("disk full");
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("StorageError");
    expect(err.message).toBe("disk full");
  });
});

describe("clock and window", () => {
  test("systemClock is unix seconds (fractional), not milliseconds", () => {
    const before = Date.now() / 1000;
    const now = systemClock();
    const after = Date.now() / 1000;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(after);
  });

  test("the window: 1 by default, 0..10 integers only", () => {
    expect(DEFAULT_WINDOW).toBe(1);
    expect(MAX_WINDOW).toBe(10);
    expect(WINDOW_RULE).toBe("an integer from 0 to 10");
    expect([0, 1, 10].map(isValidWindow)).toEqual([true, true, true]);
    expect([-1, 11, 1.5, Number.NaN, Infinity, "1", null, undefined].map(isValidWindow)).toEqual(Array(8).fill(false));
  });

  test("a token of step s expires when no verifier's step is within the window: (s + window + 1) * 30", () => {
    expect(expiresAt(100, 1)).toBe(102 * 30);
    expect(expiresAt(100, 0)).toBe(101 * 30);
    expect(expiresAt(0, 10)).toBe(11 * 30);
  });
});
