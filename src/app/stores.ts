/**
 * Opens what the configuration says outlives a login: the storage engine (SQLite in the data
 * directory, or memory) for used tokens, accounts, rosters, offline messages and web sessions,
 * and, when configured, a Redis shared by every process that points at it for used tokens and
 * login failure counts (one connection for both). `x-token serve` and `x-token extauth` open
 * their stores here, so both read `storage` and `store` the same way.
 */
import { resolve } from "node:path";
import { LOGIN_WINDOW_SECONDS, type FailureCounter, type LoginLimits } from "../auth/policy/login-limiter.js";
import { memoryStorage, type Storage } from "../core/records/storage.js";
import type { ReplayStore } from "../core/replay/store.js";
import { connectRedis, loginFailureCounters, RedisReplayStore, RedisRevocationBus, RedisRevocations, type RedisConnection, type StoreLog } from "../stores/redis/index.js";
import type { RevocationBus } from "../core/records/revocations.js";
import { openSqliteStorage, type Synchronous } from "../stores/sqlite/index.js";
import type { OfflineLimits } from "../core/records/offline.js";

/** The data directory under the working directory when nothing names one. */
export const DEFAULT_DATA_DIR = "x-token-data";

/** `storage` as the configuration gives it (app/config/storage.ts). */
export interface StorageSettings {
  engine: "sqlite" | "memory";
  /** Absolute, or null for the default. */
  dir: string | null;
  synchronous: Synchronous;
  offline: OfflineLimits;
  /** The most the database file may grow to (bytes); null: the disk's. */
  maxBytes: number | null;
}

/**
 * What openStores reads of the configuration (AppConfig has it; spelled out here so this module
 * does not sit on top of the whole configuration).
 */
export interface StoresConfig {
  store?: { redis: { url: string; keyPrefix: string; timeoutMs: number } | null };
  storage?: StorageSettings;
  replayMaxEntries: number;
}

export interface OpenStoresOptions {
  /** The working directory the default data directory is under. */
  cwd: string;
  /** The data directory when the configuration names none (`serve --dev`: its own folder). */
  defaultDir?: string;
  /**
   * `server`: holds the data directory for itself (a second server on it stops at start);
   * `verifier` (`x-token extauth` workers): shares the database with other processes.
   */
  role: "server" | "verifier";
}

export interface OpenedStores {
  /** Everything that outlives a login; its `replay` is the Redis store when one is configured. */
  storage: Storage;
  replay: ReplayStore;
  /** Where used tokens are remembered: "in memory", "SQLite in …", "Redis at redis://host:port" (never a password). */
  where: string;
  /** Shared login failure counters, or null for the in-memory default (LoginLimiter's own). */
  loginCounters(limits: Omit<LoginLimits, "maxAuthFailuresPerConnection">): { byIp: FailureCounter; byJid: FailureCounter } | null;
  /** The connection when the store is Redis. */
  redis: RedisConnection | null;
  /**
   * Where revocations are announced to the other nodes (Redis pub/sub), or null without Redis
   * (servers on one SQLite file read each other's from it). `storage.revocations` is on the
   * same Redis then.
   */
  revocationBus: RevocationBus | null;
  close(): Promise<void>;
}

/** The data directory the settings choose. */
export function dataDirectory(settings: StorageSettings | undefined, { cwd, defaultDir }: Pick<OpenStoresOptions, "cwd" | "defaultDir">): string {
  return settings?.dir ?? defaultDir ?? resolve(cwd, DEFAULT_DATA_DIR);
}

function openStorage(config: StoresConfig, options: OpenStoresOptions): Storage {
  const settings = config.storage;
  // A verifier keeps nothing but used tokens: with Redis holding those, it needs no database.
  const onlyRedis = options.role === "verifier" && config.store?.redis;
  if (settings?.engine === "memory" || onlyRedis) return memoryStorage({ replayMaxEntries: config.replayMaxEntries, ...(settings ? { offlineLimits: settings.offline } : {}) });
  return openSqliteStorage({
    dir: dataDirectory(settings, options),
    exclusive: options.role === "server",
    ...(settings ? { synchronous: settings.synchronous, offlineLimits: settings.offline, ...(settings.maxBytes !== null ? { maxBytes: settings.maxBytes } : {}) } : {}),
  });
}

/** Opens the stores; a database that cannot be opened throws StorageOpenError (one line). */
export async function openStores(config: StoresConfig, log: StoreLog, options: OpenStoresOptions): Promise<OpenedStores> {
  const storage = openStorage(config, options);
  const settings = config.store?.redis;
  if (!settings) {
    return {
      storage,
      replay: storage.replay,
      where: storage.where,
      loginCounters: () => null,
      redis: null,
      revocationBus: null,
      close: async () => storage.close(),
    };
  }
  let redis: RedisConnection;
  try {
    redis = await connectRedis({ url: settings.url, log });
  } catch (err) {
    storage.close();
    throw err;
  }
  const replay = new RedisReplayStore({
    client: redis.client,
    keyPrefix: `${settings.keyPrefix}replay:`,
    timeoutMs: settings.timeoutMs,
    outage: redis.outage,
  });
  // Revocations live where every node sees them, and are announced to every node at once.
  const revocations = new RedisRevocations({ client: redis.client, keyPrefix: settings.keyPrefix, timeoutMs: settings.timeoutMs, outage: redis.outage });
  const revocationBus = new RedisRevocationBus({ client: redis.client, keyPrefix: settings.keyPrefix, timeoutMs: settings.timeoutMs, outage: redis.outage, warn: (m) => log.warn(m) });
  return {
    storage: { ...storage, replay, revocations, close: () => storage.close() },
    revocationBus,
    replay,
    where: `Redis at ${redis.where}`,
    loginCounters: (limits) =>
      loginFailureCounters({ client: redis.client, windowSeconds: LOGIN_WINDOW_SECONDS, timeoutMs: settings.timeoutMs, outage: redis.outage }, settings.keyPrefix, limits),
    redis,
    close: async () => {
      try {
        await redis.close();
      } finally {
        storage.close();
      }
    },
  };
}


