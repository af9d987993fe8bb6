/**
 * Login failure counters on Redis (rate-limiter-flexible's Redis limiter), so that a limit hit
 * on one process holds on every process sharing the Redis. Same counting as the in-memory
 * counters (src/auth/policy/rate-limiter-counter.ts); the policy of what counts stays in
 * src/auth/policy/login-limiter.ts. Keys are hashes (no address or JID stored in Redis).
 * Like the replay store it fails closed: a count Redis does not give in time means "over the
 * limit" (temporary-auth-failure), a failure it cannot record is reported once per outage.
 */
import { createHash } from "node:crypto";
import { RateLimiterRedis } from "rate-limiter-flexible";
import type { RedisClientType } from "redis";
import type { FailureCounter } from "../../auth/policy/login-limiter.js";
import { RateLimiterCounter } from "../../auth/policy/rate-limiter-counter.js";
import type { OutageReporter } from "./outage.js";
import { withinTime } from "./within-time.js";

export interface RedisFailureCounterOptions {
  /** A node-redis client (the connection from connectRedis). */
  client: RedisClientType;
  /** Full key prefix, e.g. `x-token:fail-ip:`. */
  keyPrefix: string;
  /** Failures allowed in the window; the key is over once it has this many. */
  limit: number;
  windowSeconds: number;
  /** Answer time allowed per count, in ms. */
  timeoutMs: number;
  /** The connection's reporter, so a Redis outage is one log line whatever noticed it. */
  outage: OutageReporter;
}

export class RedisFailureCounter implements FailureCounter {
  private readonly counter: RateLimiterCounter;

  constructor(private readonly options: RedisFailureCounterOptions) {
    const limiter = new RateLimiterRedis({
      storeClient: options.client,
      useRedisPackage: true,
      // Disconnected: answer at once (fail closed) rather than wait for the timeout.
      rejectIfRedisNotReady: true,
      // rate-limiter-flexible joins prefix and key with ":"; our prefix already ends the name.
      keyPrefix: options.keyPrefix.replace(/:$/, ""),
      points: options.limit,
      duration: options.windowSeconds,
    });
    this.counter = new RateLimiterCounter(limiter);
  }

  private static hash(key: string): string {
    return createHash("sha256").update(key).digest("base64url");
  }

  async record(key: string): Promise<void> {
    try {
      await withinTime(this.counter.record(RedisFailureCounter.hash(key)), this.options.timeoutMs);
      this.options.outage.answered();
    } catch (err) {
      // Not counted; while Redis is away every admit() is refused anyway (isOver below).
      this.options.outage.failed(err);
    }
  }

  async isOver(key: string): Promise<boolean> {
    try {
      const over = await withinTime(this.counter.isOver(RedisFailureCounter.hash(key)), this.options.timeoutMs);
      this.options.outage.answered();
      return over;
    } catch (err) {
      this.options.outage.failed(err);
      this.options.outage.refused();
      return true;
    }
  }
}

/** The login limiter's two counters (per address, per JID) on one Redis connection. */
export function loginFailureCounters(
  base: Omit<RedisFailureCounterOptions, "keyPrefix" | "limit">,
  keyPrefix: string,
  limits: { maxAuthFailuresPerIpPerMinute: number; maxAuthFailuresPerJidPerMinute: number },
): { byIp: RedisFailureCounter; byJid: RedisFailureCounter } {
  return {
    byIp: new RedisFailureCounter({ ...base, keyPrefix: `${keyPrefix}fail-ip:`, limit: limits.maxAuthFailuresPerIpPerMinute }),
    byJid: new RedisFailureCounter({ ...base, keyPrefix: `${keyPrefix}fail-jid:`, limit: limits.maxAuthFailuresPerJidPerMinute }),
  };
}
