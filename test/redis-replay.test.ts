/**
 * The Redis replay store against a real, private redis-server (test/helpers/redis.ts): accepted
 * once across store instances and connections, keys hashed under the prefix with the token's
 * lifetime, fail closed on a hung or stopped Redis with one log line per outage, and recovery
 * without help when Redis comes back.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createClient } from "redis";
import { mintToken } from "../src/core/token/mint.js";
import { replayId, verifyToken } from "../src/core/token/verify.js";
import type { TokenKey } from "../src/core/token/keys.js";
import {
  openRedisReplayStore,
  redactRedisUrl,
  RedisReplayStore,
  RedisReplayStoreOptionsError,
  RedisUrlError,
  type OpenedRedisReplayStore,
  type RedisCommandClient,
} from "../src/stores/redis/index.js";
import { describeRedis, startRedis, type PrivateRedis } from "./helpers/redis.js";

const KEY: TokenKey = { otpSeed: "XVGR73KMZH2M4XMY", tokenSecret: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" };
const JID = "alice@example.com";

function mint(now: number): string {
  return mintToken({ jid: JID, key: KEY, now });
}

function recordingLog() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) } };
}

async function waitFor(condition: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describeRedis("Redis replay store (real redis-server)", () => {
  let redis: PrivateRedis;
  let inspect: ReturnType<typeof createClient>;
  const opened: OpenedRedisReplayStore[] = [];

  async function open(config: { keyPrefix?: string; timeoutMs?: number } = {}, log?: ReturnType<typeof recordingLog>["log"]) {
    // Generous by default: a test machine under load must not turn a slow answer into a failure.
    const store = await openRedisReplayStore({ url: redis.url, timeoutMs: 5000, ...config }, log);
    opened.push(store);
    return store;
  }

  beforeAll(async () => {
    redis = await startRedis();
    inspect = createClient({ url: redis.url });
    inspect.on("error", () => {});
    await inspect.connect();
  });

  afterAll(async () => {
    for (const store of opened) await store.close();
    inspect.destroy();
    await redis.close();
  });

  test("a token is accepted once, and refused by a second store on another connection", async () => {
    const now = Date.now() / 1000;
    const a = await open({ keyPrefix: "t1:" });
    const b = await open({ keyPrefix: "t1:" });
    const token = mint(now);
    expect(await verifyToken(token, { jid: JID, keys: KEY, now, replay: a.store })).toMatchObject({ ok: true });
    expect(await verifyToken(token, { jid: JID, keys: KEY, now, replay: a.store })).toEqual({ ok: false, reason: "replayed" });
    expect(await verifyToken(token, { jid: JID, keys: KEY, now, replay: b.store })).toEqual({ ok: false, reason: "replayed" });
    const other = mint(now);
    expect(await verifyToken(other, { jid: JID, keys: KEY, now, replay: b.store })).toMatchObject({ ok: true });
    expect(await verifyToken(other, { jid: JID, keys: KEY, now, replay: a.store })).toEqual({ ok: false, reason: "replayed" });
  });

  test("concurrent claims of one token on two stores: exactly one wins", async () => {
    const now = Date.now() / 1000;
    const a = await open({ keyPrefix: "race:" });
    const b = await open({ keyPrefix: "race:" });
    for (let round = 0; round < 20; round++) {
      const token = mint(now);
      const results = await Promise.all([a, b, a, b].map(({ store }) => verifyToken(token, { jid: JID, keys: KEY, now, replay: store })));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === "replayed")).toHaveLength(3);
    }
  });

  test("the key is a hash under the prefix (no JID stored) and lives until the token's expiry plus the skew margin", async () => {
    const now = Date.now() / 1000;
    const { store } = await open({ keyPrefix: "ttl-test:" });
    const token = mint(now);
    const result = await verifyToken(token, { jid: JID, keys: KEY, now, replay: store });
    if (!result.ok) throw new Error(result.reason);
    const keys = await inspect.keys("ttl-test:*");
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^ttl-test:[A-Za-z0-9_-]{43}$/);
    expect(keys[0]).not.toContain("alice");
    expect(keys[0]).toBe(store.keyFor(replayId(token)));
    const ttl = await inspect.pTTL(keys[0]!);
    const expected = (result.expiresAt - now) * 1000 + store.clockSkewMs;
    expect(ttl).toBeGreaterThan(expected - 2000);
    expect(ttl).toBeLessThanOrEqual(Math.ceil(expected));
  });

  test("stores with different prefixes do not see each other's claims", async () => {
    const now = Date.now() / 1000;
    const a = await open({ keyPrefix: "site-a:" });
    const b = await open({ keyPrefix: "site-b:" });
    const token = mint(now);
    expect((await verifyToken(token, { jid: JID, keys: KEY, now, replay: a.store })).ok).toBe(true);
    expect((await verifyToken(token, { jid: JID, keys: KEY, now, replay: b.store })).ok).toBe(true);
  });

  test("an injected node-redis client works as it is", async () => {
    const client = createClient({ url: redis.url });
    client.on("error", () => {});
    await client.connect();
    try {
      const store = new RedisReplayStore({ client, keyPrefix: "injected:", timeoutMs: 5000 });
      expect(await store.claim("id-1", 1000, 990)).toBe("claimed");
      expect(await store.claim("id-1", 1000, 991)).toBe("replayed");
      expect(await inspect.exists(store.keyFor("id-1"))).toBe(1);
    } finally {
      client.destroy();
    }
  });

  test("a hung Redis (frozen) fails closed within the timeout, once logged; it recovers when it answers", async () => {
    const { lines, log } = recordingLog();
    const { store } = await open({ keyPrefix: "hung:", timeoutMs: 1000 }, log);
    const now = Date.now() / 1000;
    expect(await verifyToken(mint(now), { jid: JID, keys: KEY, now, replay: store })).toMatchObject({ ok: true });
    redis.freeze();
    try {
      // Redis answers nothing until thawed, so these settle only because each claim gives up on its own timer.
      const results = await Promise.all(
        Array.from({ length: 10 }, () => verifyToken(mint(now), { jid: JID, keys: KEY, now, replay: store })),
      );
      for (const r of results) expect(r).toEqual({ ok: false, reason: "replay-store-error" });
      expect(await verifyToken(mint(now), { jid: JID, keys: KEY, now, replay: store })).toEqual({ ok: false, reason: "replay-store-error" });
    } finally {
      redis.thaw();
    }
    const warnings = lines.filter((l) => l.startsWith("warn"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("no answer within 1000 ms");
    expect(warnings[0]).toContain("logins are refused until it answers again");
    const token = mint(now);
    expect(await verifyToken(token, { jid: JID, keys: KEY, now, replay: store })).toMatchObject({ ok: true });
    expect(await verifyToken(token, { jid: JID, keys: KEY, now, replay: store })).toEqual({ ok: false, reason: "replayed" });
    expect(lines.filter((l) => l.startsWith("info"))).toEqual([expect.stringMatching(/answers again after [\d.]+ s; 11 login\(s\) were refused meanwhile/)]);
  });

  test("Redis stopped: refused at once with one log line; Redis back: works again by itself", async () => {
    const { lines, log } = recordingLog();
    const { store } = await open({ keyPrefix: "down:" }, log);
    const now = () => Date.now() / 1000;
    expect((await verifyToken(mint(now()), { jid: JID, keys: KEY, now: now(), replay: store })).ok).toBe(true);
    await redis.stop();
    try {
      for (let i = 0; i < 30; i++) {
        expect(await verifyToken(mint(now()), { jid: JID, keys: KEY, now: now(), replay: store })).toEqual({ ok: false, reason: "replay-store-error" });
      }
      // Reconnection attempts keep failing meanwhile; still one line.
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      await redis.start();
    }
    expect(lines.filter((l) => l.startsWith("warn"))).toHaveLength(1);
    expect(lines[0]).toMatch(/^warn Redis at redis:\/\/127\.0\.0\.1:\d+ unavailable \(/);
    await waitFor(async () => (await verifyToken(mint(now()), { jid: JID, keys: KEY, now: now(), replay: store })).ok, "the store to recover");
    const token = mint(now());
    expect((await verifyToken(token, { jid: JID, keys: KEY, now: now(), replay: store })).ok).toBe(true);
    expect(await verifyToken(token, { jid: JID, keys: KEY, now: now(), replay: store })).toEqual({ ok: false, reason: "replayed" });
    expect(lines.filter((l) => l.startsWith("warn"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("info"))).toHaveLength(1);
  });
});

describeRedis("Redis replay store with a password", () => {
  test("the URL's password authenticates and never appears in a log line", async () => {
    const password = "s3cret-redis-password";
    const redis = await startRedis({ password });
    const { lines, log } = recordingLog();
    const opened = await openRedisReplayStore({ url: redis.url, timeoutMs: 2000 }, log);
    try {
      expect(opened.where).toBe(`redis://127.0.0.1:${redis.port}`);
      await waitFor(async () => (await opened.store.claim(`id ${Math.random()}`, 2e9, 1e9).catch(() => "error")) === "claimed", "a claim");
      await redis.stop();
      await expect(opened.store.claim("id-2", 2e9, 1e9)).rejects.toThrow();
      await redis.start();
      await waitFor(async () => (await opened.store.claim(`id ${Math.random()}`, 2e9, 1e9).catch(() => "error")) === "claimed", "recovery");
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const line of lines) expect(line).not.toContain(password);
    } finally {
      await opened.close();
      await redis.close();
    }
  });

  test("a wrong password fails closed", async () => {
    const redis = await startRedis({ password: "right" });
    const opened = await openRedisReplayStore({ url: `redis://:wrong@127.0.0.1:${redis.port}`, timeoutMs: 200 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await expect(opened.store.claim("id", 2e9, 1e9)).rejects.toThrow();
      expect(await verifyToken(mint(Date.now() / 1000), { jid: JID, keys: KEY, replay: opened.store })).toEqual({ ok: false, reason: "replay-store-error" });
    } finally {
      await opened.close();
      await redis.close();
    }
  });
});

test("a client answering anything but OK or null fails closed", async () => {
  for (const answer of ["QUEUED", 1, "", undefined, { ok: true }]) {
    const client: RedisCommandClient = { sendCommand: async () => answer };
    const store = new RedisReplayStore({ client });
    expect(await verifyToken(mint(Date.now() / 1000), { jid: JID, keys: KEY, replay: store })).toEqual({ ok: false, reason: "replay-store-error" });
  }
});

test("options are checked at creation", () => {
  const client: RedisCommandClient = { sendCommand: async () => "OK" };
  for (const timeoutMs of [0, -1, 1.5, Number.NaN, 60_001]) expect(() => new RedisReplayStore({ client, timeoutMs })).toThrow(RedisReplayStoreOptionsError);
  for (const keyPrefix of ["has space", "new\nline", "x".repeat(257)]) expect(() => new RedisReplayStore({ client, keyPrefix })).toThrow(RedisReplayStoreOptionsError);
  expect(() => new RedisReplayStore({ client: {} as RedisCommandClient })).toThrow(RedisReplayStoreOptionsError);
  expect(() => new RedisReplayStore({ client, clockSkewMs: -1 })).toThrow(RedisReplayStoreOptionsError);
});

test("Redis URLs: only redis:// and rediss://, redacted without user or password", () => {
  expect(redactRedisUrl("redis://user:pw@10.0.0.5:6380/2")).toBe("redis://10.0.0.5:6380/2");
  expect(redactRedisUrl("rediss://:pw@cache.example:6379")).toBe("rediss://cache.example:6379");
  for (const url of ["http://x:1", "not a url", "", "unix:/tmp/redis.sock"]) expect(() => redactRedisUrl(url)).toThrow(RedisUrlError);
  // The message never repeats the URL (it may carry a password).
  try {
    redactRedisUrl("ftp://u:secretpw@x");
  } catch (err) {
    expect((err as Error).message).not.toContain("secretpw");
  }
});
