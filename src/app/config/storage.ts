/**
 * The `storage` section: where what outlives a process lives. SQLite in a data directory by
 * default (`./x-token-data/` under the working directory; XTOKEN_DATA_DIR or `storage.dir`, which
 * is relative to the configuration file); `engine: "memory"` (or XTOKEN_STORAGE=memory) keeps
 * everything in the process, for tests and throwaway runs.
 */
import { isAbsolute, resolve } from "node:path";
import { DEFAULT_OFFLINE_LIMITS, type OfflineLimits } from "../../core/records/offline.js";
import type { Synchronous } from "../../stores/sqlite/index.js";
import { ConfigError, integer, object, string } from "./validators.js";

export const STORAGE_ENGINES = ["sqlite", "memory"] as const;
export type StorageEngine = (typeof STORAGE_ENGINES)[number];

export interface StorageSettings {
  engine: StorageEngine;
  /** The data directory: absolute, or null for the default under the working directory. */
  dir: string | null;
  synchronous: Synchronous;
  offline: OfflineLimits;
  /** The most the database file may grow to (bytes); null: no cap but the disk's. */
  maxBytes: number | null;
}

function choice<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`config: ${path} must be ${allowed.map((v) => JSON.stringify(v)).join(" or ")}`);
}

/** `baseDir`: the configuration file's folder (relative `storage.dir` is taken from there). */
export function parseStorage(value: unknown, env: NodeJS.ProcessEnv, baseDir: string | null): StorageSettings {
  const raw = value === undefined ? {} : object(value, "storage", ["engine", "dir", "synchronous", "offline", "maxSizeMiB"]);
  const engine = env.XTOKEN_STORAGE ? choice(env.XTOKEN_STORAGE, "XTOKEN_STORAGE", STORAGE_ENGINES) : raw.engine === undefined ? "sqlite" : choice(raw.engine, "storage.engine", STORAGE_ENGINES);
  let dir: string | null = null;
  if (env.XTOKEN_DATA_DIR) dir = resolve(env.XTOKEN_DATA_DIR);
  else if (raw.dir !== undefined) {
    const given = string(raw.dir, "storage.dir");
    if (given === "") throw new ConfigError("config: storage.dir must not be empty");
    dir = isAbsolute(given) || baseDir === null ? resolve(given) : resolve(baseDir, given);
  }
  const synchronous = raw.synchronous === undefined ? "normal" : choice(raw.synchronous, "storage.synchronous", ["normal", "full"] as const);
  const offlineRaw = raw.offline === undefined ? {} : object(raw.offline, "storage.offline", Object.keys(DEFAULT_OFFLINE_LIMITS));
  const offline: OfflineLimits = {
    maxMessagesPerAccount:
      offlineRaw.maxMessagesPerAccount === undefined ? DEFAULT_OFFLINE_LIMITS.maxMessagesPerAccount : integer(offlineRaw.maxMessagesPerAccount, "storage.offline.maxMessagesPerAccount", 0, 1_000_000),
    maxBytesPerAccount:
      offlineRaw.maxBytesPerAccount === undefined ? DEFAULT_OFFLINE_LIMITS.maxBytesPerAccount : integer(offlineRaw.maxBytesPerAccount, "storage.offline.maxBytesPerAccount", 0, 1 << 30),
  };
  const maxBytes = raw.maxSizeMiB === undefined ? null : integer(raw.maxSizeMiB, "storage.maxSizeMiB", 1, 1 << 20) * 1024 * 1024;
  return { engine, dir, synchronous, offline, maxBytes };
}
