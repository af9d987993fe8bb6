/**
 * Counts events (failed logins, issued tokens) per key (an IP address, a JID) over a sliding window, with bounded memory:
 * when full, the key seen longest ago is forgotten first. Pure but for the injected clock.
 */
import { systemClock, type Clock } from "../../core/clock.js";

export interface WindowCounterOptions {
  /** Events allowed in `windowSeconds` before `isOver` says so. */
  limit: number;
  windowSeconds?: number;
  /** Most keys remembered. */
  maxKeys?: number;
  now?: Clock;
}

export class WindowCounter {
  private readonly failures = new Map<string, number[]>();
  private readonly limit: number;
  private readonly windowSeconds: number;
  private readonly maxKeys: number;
  private readonly now: Clock;

  constructor({ limit, windowSeconds = 60, maxKeys = 100_000, now = systemClock }: WindowCounterOptions) {
    this.limit = limit;
    this.windowSeconds = windowSeconds;
    this.maxKeys = maxKeys;
    this.now = now;
  }

  private recent(key: string): number[] {
    const since = this.now() - this.windowSeconds;
    const times = (this.failures.get(key) ?? []).filter((t) => t > since);
    if (times.length === 0) this.failures.delete(key);
    return times;
  }

  record(key: string): void {
    const times = this.recent(key);
    // Only the newest `limit` failures matter for the decision.
    times.push(this.now());
    if (times.length > this.limit) times.shift();
    this.failures.delete(key); // re-insert: Map order is the eviction order
    this.failures.set(key, times);
    if (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
  }

  /** Whether `key` already used up its failures in the current window. */
  isOver(key: string): boolean {
    return this.recent(key).length >= this.limit;
  }
}
