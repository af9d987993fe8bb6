/**
 * Opens what the configuration says replay claims and login failure counts live in: this
 * process's memory, or a Redis shared by every process that points at it (one connection for
 * both). `x-token serve` and `x-token extauth` open their stores here, so both read `store` the
 * same way.
 */
import { LOGIN_WINDOW_SECONDS, type FailureCounter, type LoginLimits } from "../auth/policy/login-limiter.js";
import { MemoryReplayStore } from "../core/replay/memory.js";
import type { ReplayStore } from "../core/replay/store.js";
import {
  connectRedis,
  loginFailureCounters,
  RedisReplayStore,
  type RedisConnection,
  type StoreLog,
} from "../stores/redis/index.js";

/**
 * What openStores reads of the configuration (AppConfig has it; spelled out here so this module
 * does not sit on top of the whole configuration).
 */
export interface StoresConfig {
  store?: { redis: { url: string; keyPrefix: string; timeoutMs: number } | null };
  replayMaxEntries: number;
}

export interface OpenedStores {
  replay: ReplayStore;
  /** "in memory" or "Redis at redis://host:port" (never with a password), for start-up lines. */
  where: string;
  /** Shared login failure counters, or null for the in-memory default (LoginLimiter's own). */
  loginCounters(limits: Omit<LoginLimits, "maxAuthFailuresPerConnection">): { byIp: FailureCounter; byJid: FailureCounter } | null;
  /** The connection when the store is Redis. */
  redis: RedisConnection | null;
  close(): Promise<void>;
}

export async function openStores(config: StoresConfig, log: StoreLog): Promise<OpenedStores> {
  const settings = config.store?.redis;
  if (!settings) {
    return {
      replay: new MemoryReplayStore({ maxEntries: config.replayMaxEntries }),
      where: "in memory",
      loginCounters: () => null,
      redis: null,
      close: async () => {},
    };
  }
  const redis = await connectRedis({ url: settings.url, log });
  const replay = new RedisReplayStore({
    client: redis.client,
    keyPrefix: `${settings.keyPrefix}replay:`,
    timeoutMs: settings.timeoutMs,
    outage: redis.outage,
  });
  return {
    replay,
    where: `Redis at ${redis.where}`,
    loginCounters: (limits) =>
      loginFailureCounters({ client: redis.client, windowSeconds: LOGIN_WINDOW_SECONDS, timeoutMs: settings.timeoutMs, outage: redis.outage }, settings.keyPrefix, limits),
    redis,
    close: () => redis.close(),
  };
}
