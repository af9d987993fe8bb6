/** Redis adapters: the shared replay store (and the connection the project opens from a URL). */
export {
  RedisReplayStore,
  checkKeyPrefix,
  RedisReplayStoreOptionsError,
  ReplayStoreUnavailableError,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_REDIS_TIMEOUT_MS,
  DEFAULT_REDIS_CLOCK_SKEW_MS,
  type RedisCommandClient,
  type RedisReplayStoreOptions,
} from "./replay-store.js";
export { connectRedis, redactRedisUrl, RedisUrlError, type RedisConnection, type RedisConnectionOptions } from "./connection.js";
export { OutageReporter, type StoreLog } from "./outage.js";
export { RedisFailureCounter, loginFailureCounters, type RedisFailureCounterOptions } from "./failure-counter.js";
export { openRedisReplayStore, type RedisStoreConfig, type OpenedRedisReplayStore } from "./open.js";
export { RedisRevocations, RedisRevocationBus, type RedisRevocationsOptions, type RedisRevocationBusOptions } from "./revocations.js";
