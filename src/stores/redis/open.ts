/** Opens the Redis replay store from configuration: one connection, one outage reporter. */
import { connectRedis } from "./connection.js";
import type { StoreLog } from "./outage.js";
import { RedisReplayStore } from "./replay-store.js";

/** The `store.redis` part of the configuration. */
export interface RedisStoreConfig {
  url: string;
  /** Default `x-token:replay:`. */
  keyPrefix?: string;
  /** Default 250. */
  timeoutMs?: number;
}

export interface OpenedRedisReplayStore {
  store: RedisReplayStore;
  /** The URL without credentials. */
  where: string;
  close(): Promise<void>;
}

export async function openRedisReplayStore(config: RedisStoreConfig, log?: StoreLog): Promise<OpenedRedisReplayStore> {
  const connection = await connectRedis({ url: config.url, log });
  const store = new RedisReplayStore({
    client: connection.client,
    keyPrefix: config.keyPrefix,
    timeoutMs: config.timeoutMs,
    outage: connection.outage,
  });
  return { store, where: connection.where, close: () => connection.close() };
}
