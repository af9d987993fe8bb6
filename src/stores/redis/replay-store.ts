/**
 * A replay store on Redis, so that a token is accepted once across every process and machine
 * that shares the Redis: each claim is one atomic `SET key 1 NX PX ttl`. It fails closed: a claim
 * Redis does not answer in time (or answers with an error) rejects, which the verifier turns
 * into `replay-store-error` (`temporary-auth-failure` on the wire).
 */
import { createHash } from "node:crypto";
import type { ClaimResult, ReplayStore } from "../../core/replay/store.js";
import { OutageReporter, type StoreLog } from "./outage.js";
import { ReplayStoreUnavailableError, withinTime } from "./within-time.js";

export { ReplayStoreUnavailableError };

/**
 * The one method the store needs from a Redis client. node-redis clients (`createClient()` from
 * the `redis` package) have it as they are; an ioredis client plugs in as
 * `{ sendCommand: ([name, ...args]) => ioredis.call(name, ...args) }`.
 * It must resolve to the command's reply: "OK" when SET NX set the key, null when it existed.
 */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

export interface RedisReplayStoreOptions {
  client: RedisCommandClient;
  /** Prepended to every key (default `x-token:replay:`); lets several deployments share one Redis. */
  keyPrefix?: string;
  /** A claim not answered within this many milliseconds fails closed (default 250). */
  timeoutMs?: number;
  /**
   * Kept longer than the token's own expiry by this many milliseconds (default 30000), so that a
   * node whose clock is behind the claiming node's by up to that much still finds the entry.
   */
  clockSkewMs?: number;
  /** Where the one line per outage goes (default: nowhere). */
  log?: StoreLog;
  /** Names the store in log lines (default "replay store (Redis)"); never include a password. */
  name?: string;
  /** Reports outages instead of `log`/`name`: pass the connection's, so one outage is one line. */
  outage?: OutageReporter;
}

export const DEFAULT_REDIS_KEY_PREFIX = "x-token:replay:";
export const DEFAULT_REDIS_TIMEOUT_MS = 250;
export const DEFAULT_REDIS_CLOCK_SKEW_MS = 30_000;
const MAX_KEY_PREFIX_CHARS = 256;

export class RedisReplayStoreOptionsError extends Error {
  override readonly name = "RedisReplayStoreOptionsError";
}

const silent: StoreLog = { info() {}, warn() {} };

function checkTimeout(timeoutMs: number): number {
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
    throw new RedisReplayStoreOptionsError(`timeoutMs must be an integer from 1 to 60000, got ${timeoutMs}`);
  }
  return timeoutMs;
}

/** Throws RedisReplayStoreOptionsError unless `keyPrefix` is a usable key prefix (the message names no value). */
export function checkKeyPrefix(keyPrefix: string): string {
  if (typeof keyPrefix !== "string" || keyPrefix.length > MAX_KEY_PREFIX_CHARS || /[\u0000-\u0020\u007f]/.test(keyPrefix)) {
    throw new RedisReplayStoreOptionsError(`keyPrefix must be at most ${MAX_KEY_PREFIX_CHARS} characters without spaces or control characters`);
  }
  return keyPrefix;
}

export class RedisReplayStore implements ReplayStore {
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  readonly clockSkewMs: number;
  private readonly client: RedisCommandClient;
  /** Shared with the connection when it is ours, so its own errors join the same outage. */
  readonly outage: OutageReporter;

  constructor(options: RedisReplayStoreOptions) {
    if (!options || typeof options.client?.sendCommand !== "function") {
      throw new RedisReplayStoreOptionsError("client must have a sendCommand(args) method (a node-redis client, or an adapter)");
    }
    this.client = options.client;
    this.keyPrefix = checkKeyPrefix(options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX);
    this.timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS);
    const skew = options.clockSkewMs ?? DEFAULT_REDIS_CLOCK_SKEW_MS;
    if (!Number.isInteger(skew) || skew < 0 || skew > 3_600_000) {
      throw new RedisReplayStoreOptionsError(`clockSkewMs must be an integer from 0 to 3600000, got ${skew}`);
    }
    this.clockSkewMs = skew;
    this.outage = options.outage ?? new OutageReporter(options.name ?? "replay store (Redis)", options.log ?? silent);
  }

  /**
   * The Redis key for a replay id: a hash, so the store holds no JIDs and keys have one length.
   * The id (the token's signature, an HMAC over OTP, nonce and JID) is unique per token, so its hash is too.
   */
  keyFor(id: string): string {
    return this.keyPrefix + createHash("sha256").update(id).digest("base64url");
  }

  async claim(id: string, expiresAt: number, now: number): Promise<ClaimResult> {
    const ttlMs = Math.max(1, Math.ceil((expiresAt - now) * 1000)) + this.clockSkewMs;
    let reply: unknown;
    try {
      reply = await withinTime(this.client.sendCommand(["SET", this.keyFor(id), "1", "NX", "PX", String(ttlMs)]), this.timeoutMs);
    } catch (err) {
      this.outage.failed(err);
      this.outage.refused();
      throw err instanceof ReplayStoreUnavailableError ? err : new ReplayStoreUnavailableError("Redis did not record the claim", { cause: err });
    }
    this.outage.answered();
    if (reply === "OK") return "claimed";
    if (reply === null) return "replayed";
    // Not an answer SET NX gives: never let a token through on it.
    throw new ReplayStoreUnavailableError("unexpected reply to SET NX");
  }
}
