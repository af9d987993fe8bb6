/** `store` in the configuration and XTOKEN_REDIS_URL: in memory by default, Redis when named. */
import { describe, expect, test } from "@jest/globals";
import { ConfigError, parseConfig } from "../src/app/config/load.js";
import { openStores } from "../src/app/stores.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";

const BASE = { domains: { "example.com": { keys: [{ tokenSecret: "store-config-secret", otpSeed: "XVGR73KMZH2M4XMY" }] } }, requireTls: false };

function configError(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}): string {
  try {
    parseConfig({ ...BASE, ...raw }, env, (path) => {
      if (path in files) return files[path]!;
      throw Object.assign(new Error("missing"), { code: "ENOENT" });
    });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("no ConfigError");
}

describe("store configuration", () => {
  test("without store or XTOKEN_REDIS_URL, replay claims stay in memory", async () => {
    const config = parseConfig(BASE);
    expect(config.store).toEqual({ redis: null });
    const stores = await openStores({ ...config, storage: { ...config.storage!, engine: "memory" } }, { info() {}, warn() {} }, { cwd: process.cwd(), role: "server" });
    expect(stores.replay).toBeInstanceOf(MemoryReplayStore);
    expect(stores.where).toBe("in memory");
    await stores.close();
  });

  test("store.redis.url with the defaults for keyPrefix and timeoutMs", () => {
    expect(parseConfig({ ...BASE, store: { redis: { url: "redis://10.0.0.5:6379" } } }).store).toEqual({
      redis: { url: "redis://10.0.0.5:6379", keyPrefix: "x-token:", timeoutMs: 250 },
    });
    expect(parseConfig({ ...BASE, store: { redis: { url: "rediss://r:6380/2", keyPrefix: "site-a:", timeoutMs: 100 } } }).store).toEqual({
      redis: { url: "rediss://r:6380/2", keyPrefix: "site-a:", timeoutMs: 100 },
    });
  });

  test("XTOKEN_REDIS_URL alone turns Redis on, and overrides the file's URL", () => {
    expect(parseConfig(BASE, { XTOKEN_REDIS_URL: "redis://127.0.0.1:7000" }).store?.redis).toEqual({
      url: "redis://127.0.0.1:7000",
      keyPrefix: "x-token:",
      timeoutMs: 250,
    });
    const both = parseConfig({ ...BASE, store: { redis: { url: "redis://file:1", keyPrefix: "p:" } } }, { XTOKEN_REDIS_URL: "redis://env:2" });
    expect(both.store?.redis).toEqual({ url: "redis://env:2", keyPrefix: "p:", timeoutMs: 250 });
    // With the variable, the file's store.redis may give only the other settings.
    expect(parseConfig({ ...BASE, store: { redis: { timeoutMs: 900 } } }, { XTOKEN_REDIS_URL: "redis://env:2" }).store?.redis).toEqual({
      url: "redis://env:2",
      keyPrefix: "x-token:",
      timeoutMs: 900,
    });
    // An empty variable is as good as unset.
    expect(parseConfig(BASE, { XTOKEN_REDIS_URL: "" }).store).toEqual({ redis: null });
  });

  test("the URL (which may hold a password) can come from a file or another variable", () => {
    const fromFile = parseConfig({ ...BASE, store: { redis: { urlFile: "redis-url" } } }, {}, () => "redis://:pw@db:6379\n");
    expect(fromFile.store?.redis?.url).toBe("redis://:pw@db:6379");
    const fromEnv = parseConfig({ ...BASE, store: { redis: { urlEnv: "MY_REDIS" } } }, { MY_REDIS: "redis://db:6379" });
    expect(fromEnv.store?.redis?.url).toBe("redis://db:6379");
    expect(configError({ store: { redis: { url: "redis://a:1", urlEnv: "X" } } })).toBe("config: store.redis needs exactly one of url, urlFile, urlEnv");
  });

  test("mistakes are one line naming the setting, never the URL", () => {
    const secretUrl = "http://user:hunter2@db:6379";
    const message = configError({ store: { redis: { url: secretUrl } } });
    expect(message).toBe("config: store.redis.url must be a redis:// or rediss:// URL");
    expect(configError({}, { XTOKEN_REDIS_URL: "db:6379 hunter2" })).toBe("config: XTOKEN_REDIS_URL must be a redis:// or rediss:// URL");
    expect(configError({ store: { redis: { url: "redis://a:1", timeoutMs: 0 } } })).toBe("config: store.redis.timeoutMs must be an integer from 1 to 60000");
    expect(configError({ store: { redis: { url: "redis://a:1", timeoutMs: "250" } } })).toBe("config: store.redis.timeoutMs must be an integer from 1 to 60000");
    expect(configError({ store: { redis: { url: "redis://a:1", keyPrefix: "two words" } } })).toMatch(/^config: store\.redis\.keyPrefix must be /);
    expect(configError({ store: { redis: { url: "redis://a:1", port: 6379 } } })).toMatch(/^config: store\.redis\.port is not a known setting/);
    expect(configError({ store: { memcached: {} } })).toMatch(/^config: store\.memcached is not a known setting/);
    expect(configError({ store: { redis: {} } })).toBe("config: store.redis needs exactly one of url, urlFile, urlEnv");
    expect(configError({ store: { redis: { urlFile: "nope" } } })).toBe("config: store.redis.urlFile: cannot read nope (ENOENT)");
  });
});
