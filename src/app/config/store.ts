/**
 * The `store` section: where replay claims (and shared limits) live. In memory unless
 * `store.redis` or XTOKEN_REDIS_URL gives a Redis; the URL may carry a password, so it can come
 * from a file or another variable too (`urlFile`, `urlEnv`), and no message quotes it.
 */
import {
  checkKeyPrefix,
  DEFAULT_REDIS_TIMEOUT_MS,
  RedisReplayStoreOptionsError,
  RedisUrlError,
  redactRedisUrl,
} from "../../stores/redis/index.js";
import { ConfigError, integer, object, secret, string, type FileReader } from "./validators.js";
import type { StoreConfig } from "./types.js";

/** Every key the project writes starts with this: `<prefix>replay:`, `<prefix>fail-ip:`, `<prefix>fail-jid:`, `<prefix>revoked:` (and the channel `<prefix>revocations`). */
export const DEFAULT_STORE_KEY_PREFIX = "x-token:";

export function parseStore(value: unknown, env: NodeJS.ProcessEnv, readFile: FileReader): StoreConfig {
  const storeRaw = value === undefined ? {} : object(value, "store", ["redis"]);
  const redisRaw = storeRaw.redis === undefined || storeRaw.redis === null ? null : object(storeRaw.redis, "store.redis", ["url", "urlFile", "urlEnv", "keyPrefix", "timeoutMs"]);
  const envUrl = env.XTOKEN_REDIS_URL || undefined;
  if (!redisRaw && !envUrl) return { redis: null };
  const source = envUrl ? "XTOKEN_REDIS_URL" : "store.redis.url";
  const url = envUrl ?? secret(redisRaw!, "url", "store.redis", env, readFile);
  try {
    redactRedisUrl(url);
  } catch (err) {
    if (err instanceof RedisUrlError) throw new ConfigError(`config: ${source} must be a redis:// or rediss:// URL`);
    throw err;
  }
  const keyPrefix = redisRaw?.keyPrefix === undefined ? DEFAULT_STORE_KEY_PREFIX : string(redisRaw.keyPrefix, "store.redis.keyPrefix");
  try {
    checkKeyPrefix(keyPrefix);
  } catch (err) {
    if (err instanceof RedisReplayStoreOptionsError) throw new ConfigError(`config: store.redis.${err.message}`);
    throw err;
  }
  const timeoutMs = redisRaw?.timeoutMs === undefined ? DEFAULT_REDIS_TIMEOUT_MS : integer(redisRaw.timeoutMs, "store.redis.timeoutMs", 1, 60_000);
  return { redis: { url, keyPrefix, timeoutMs } };
}
