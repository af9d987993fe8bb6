/**
 * Login failure counters on rate-limiter-flexible: in memory (bounded keys, the window) and on a
 * real, private Redis (shared between connections, keys hashed, fail closed on a stopped or hung
 * Redis with one log line per outage, recovery by itself).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from "@jest/globals";
import { createClient } from "redis";
import { LoginLimiter } from "../src/auth/policy/login-limiter.js";
import { memoryFailureCounter } from "../src/auth/policy/rate-limiter-counter.js";
import { connectRedis, loginFailureCounters, RedisFailureCounter, type RedisConnection } from "../src/stores/redis/index.js";
import { describeRedis, startRedis, type PrivateRedis } from "./helpers/redis.js";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createTokenEndpoint } from "../src/web/endpoint/index.js";

const LIMITS = { maxAuthFailuresPerConnection: 100, maxAuthFailuresPerIpPerMinute: 3, maxAuthFailuresPerJidPerMinute: 2 };

describe("in-memory failure counter (rate-limiter-flexible memory)", () => {
  test("over after `limit` failures, under again when the window has passed", async () => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    try {
      const counter = memoryFailureCounter({ limit: 3, windowSeconds: 60 });
      await counter.record("ip");
      await counter.record("ip");
      expect(await counter.isOver("ip")).toBe(false);
      await counter.record("ip");
      expect(await counter.isOver("ip")).toBe(true);
      expect(await counter.isOver("other")).toBe(false);
      jest.advanceTimersByTime(59_999);
      expect(await counter.isOver("ip")).toBe(true);
      jest.advanceTimersByTime(1);
      expect(await counter.isOver("ip")).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });

  test("bounded: the key recorded longest ago is forgotten first", async () => {
    const counter = memoryFailureCounter({ limit: 1, windowSeconds: 60, maxKeys: 2 });
    await counter.record("a");
    await counter.record("b");
    await counter.record("a"); // a is now the most recent
    await counter.record("c"); // b goes
    expect([await counter.isOver("a"), await counter.isOver("b"), await counter.isOver("c")]).toEqual([true, false, true]);
  });

  test("a flood of distinct addresses keeps at most maxKeys keys", async () => {
    const counter = memoryFailureCounter({ limit: 1, windowSeconds: 60, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) await counter.record(`2001:db8::${i.toString(16)}`);
    let remembered = 0;
    for (let i = 0; i < 1000; i++) if (await counter.isOver(`2001:db8::${i.toString(16)}`)) remembered++;
    expect(remembered).toBe(100);
  });
});

function recordingLog() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) } };
}

describeRedis("login failure counters on Redis (real redis-server)", () => {
  let redis: PrivateRedis;
  const connections: RedisConnection[] = [];

  async function connect(log = recordingLog().log): Promise<RedisConnection> {
    const connection = await connectRedis({ url: redis.url, log });
    connections.push(connection);
    return connection;
  }

  function limiterOn(connection: RedisConnection, keyPrefix: string, timeoutMs = 5000): LoginLimiter {
    const counters = loginFailureCounters({ client: connection.client, windowSeconds: 60, timeoutMs, outage: connection.outage }, keyPrefix, LIMITS);
    return new LoginLimiter({ limits: LIMITS, counters, holdBackSeconds: 0 });
  }

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const c of connections) await c.close();
    await redis.close();
  });

  test("an address limit reached through one process holds for another", async () => {
    const one = limiterOn(await connect(), "shared:");
    const two = limiterOn(await connect(), "shared:");
    await one.settle({ ip: "192.0.2.1", jid: "a@x", result: "refused" });
    await two.settle({ ip: "192.0.2.1", result: "failed" });
    expect(await one.admit("192.0.2.1")).toBe(true);
    await one.settle({ ip: "192.0.2.1", result: "failed" });
    expect(await two.admit("192.0.2.1")).toBe(false);
    expect(await one.admit("192.0.2.1")).toBe(false);
    expect(await two.admit("192.0.2.2")).toBe(true);
  });

  test("a JID over its limit on one process is over on the other (failures answered late), a success never is", async () => {
    const one = limiterOn(await connect(), "jid-test:");
    const two = limiterOn(await connect(), "jid-test:");
    expect(await one.settle({ ip: "198.51.100.1", jid: "bob@x", result: "refused" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
    expect(await two.settle({ ip: "198.51.100.2", jid: "bob@x", result: "refused" })).toMatchObject({ jidOverLimit: true });
    expect(await one.settle({ ip: "198.51.100.3", jid: "bob@x", result: "refused" })).toMatchObject({ jidOverLimit: true });
    expect(await one.settle({ ip: "198.51.100.4", jid: "bob@x", result: "success" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
    // Malformed attempts never count against a JID, on Redis as in memory.
    expect(await two.settle({ ip: "198.51.100.5", jid: "carol@x", result: "failed" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
    expect(await two.settle({ ip: "198.51.100.5", jid: "carol@x", result: "refused" })).toEqual({ jidOverLimit: false, holdBackSeconds: 0 });
  });

  test("keys are hashes under the prefix (no address or JID stored) and expire with the window", async () => {
    const connection = await connect();
    const limiter = limiterOn(connection, "keys-test:");
    await limiter.settle({ ip: "203.0.113.7", jid: "dave@example.com", result: "refused" });
    const inspect = createClient({ url: redis.url });
    inspect.on("error", () => {});
    await inspect.connect();
    try {
      const keys = (await inspect.keys("keys-test:*")).sort();
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^keys-test:fail-ip:[A-Za-z0-9_-]{43}$/);
      expect(keys[1]).toMatch(/^keys-test:fail-jid:[A-Za-z0-9_-]{43}$/);
      for (const key of keys) {
        expect(key).not.toContain("203.0.113.7");
        expect(key).not.toContain("dave");
        const ttl = await inspect.pTTL(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60_000);
      }
    } finally {
      inspect.destroy();
    }
  });

  test("Redis stopped: every address is refused (fail closed), one log line; back: counting again", async () => {
    const { lines, log } = recordingLog();
    const connection = await connect(log);
    const limiter = limiterOn(connection, "outage:");
    expect(await limiter.admit("192.0.2.50")).toBe(true);
    await redis.stop();
    try {
      for (let i = 0; i < 10; i++) {
        expect(await limiter.admit(`192.0.2.${60 + i}`)).toBe(false);
        // A failure that cannot be recorded does not throw.
        await expect(limiter.settle({ ip: "192.0.2.50", jid: "e@x", result: "refused" })).resolves.toMatchObject({ jidOverLimit: true });
      }
    } finally {
      await redis.start();
    }
    const deadline = Date.now() + 10_000;
    while (!(await limiter.admit("192.0.2.50")) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await limiter.admit("192.0.2.50")).toBe(true);
    expect(lines.filter((l) => l.startsWith("warn"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("info"))).toHaveLength(1);
  });

  test("the token endpoint's per-user limit holds across two endpoints sharing a Redis counter", async () => {
    const key = { tokenSecret: "endpoint-limit-secret", otpSeed: "XVGR73KMZH2M4XMY" };
    const servers: http.Server[] = [];
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const connection = await connect();
      const issuedCounter = new RedisFailureCounter({ client: connection.client, keyPrefix: "endpoint:", limit: 2, windowSeconds: 60, timeoutMs: 5000, outage: connection.outage });
      const endpoint = createTokenEndpoint({ authenticate: () => "frank@example.com", keys: [key], issuedCounter });
      const server = http.createServer(endpoint);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      servers.push(server);
      ports.push((server.address() as AddressInfo).port);
    }
    const status = (port: number) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: "/" }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on("error", reject);
      });
    try {
      expect(await status(ports[0]!)).toBe(200);
      expect(await status(ports[1]!)).toBe(200);
      expect(await status(ports[0]!)).toBe(429);
      expect(await status(ports[1]!)).toBe(429);
    } finally {
      for (const server of servers) await new Promise((resolve) => server.close(resolve));
    }
  });

  test("a hung Redis (frozen): a count not given in time is 'over' (fail closed)", async () => {
    const { lines, log } = recordingLog();
    const connection = await connect(log);
    const counter = new RedisFailureCounter({ client: connection.client, keyPrefix: "hung:", limit: 5, windowSeconds: 60, timeoutMs: 1000, outage: connection.outage });
    expect(await counter.isOver("192.0.2.80")).toBe(false);
    redis.freeze();
    try {
      // Settles only because each call gives up on its own timer: Redis answers nothing until thawed.
      expect(await counter.isOver("192.0.2.80")).toBe(true);
      await counter.record("192.0.2.80");
    } finally {
      redis.thaw();
    }
    expect(lines.filter((l) => l.startsWith("warn"))).toEqual([expect.stringContaining("no answer within 1000 ms")]);
    expect(await counter.isOver("192.0.2.80")).toBe(false);
  });
});
