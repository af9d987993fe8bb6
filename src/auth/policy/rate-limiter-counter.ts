/**
 * Failure counters on rate-limiter-flexible, the same way for every backend: its memory limiter
 * here (one process), its Redis limiter in src/stores/redis (shared by every process). Our code
 * decides what counts (login-limiter.ts); the library counts. A key's window is fixed: it opens
 * at the key's first failure and lasts `windowSeconds`.
 * The one exception to the injected Clock (src/core/clock.ts): rate-limiter-flexible reads the
 * system clock and sets timers itself, so tests move its time with jest's fake timers.
 */
import { RateLimiterMemory } from "rate-limiter-flexible";
import type { FailureCounter } from "./login-limiter.js";

/** The part of a rate-limiter-flexible limiter (any store) a counter uses. */
export interface FlexibleLimiter {
  readonly points: number;
  penalty(key: string, points?: number): Promise<unknown>;
  get(key: string): Promise<{ consumedPoints: number } | null>;
  delete(key: string): Promise<boolean>;
}

export interface RateLimiterCounterOptions {
  /**
   * Most keys this counter has recorded and remembers (oldest forgotten first), for a store
   * without a bound of its own (memory). Omit for a store whose keys expire there (Redis).
   */
  maxKeys?: number;
}

export class RateLimiterCounter implements FailureCounter {
  private readonly limiter: FlexibleLimiter;
  private readonly maxKeys: number;
  /** Keys recorded, oldest first (Map order), only when maxKeys bounds them. */
  private readonly recorded = new Map<string, true>();

  constructor(limiter: FlexibleLimiter, { maxKeys = Infinity }: RateLimiterCounterOptions = {}) {
    this.limiter = limiter;
    this.maxKeys = maxKeys;
  }

  async record(key: string): Promise<void> {
    if (this.maxKeys !== Infinity) this.remember(key);
    await this.limiter.penalty(key, 1);
  }

  async isOver(key: string): Promise<boolean> {
    const state = await this.limiter.get(key);
    return (state?.consumedPoints ?? 0) >= this.limiter.points;
  }

  private remember(key: string): void {
    this.recorded.delete(key);
    this.recorded.set(key, true);
    if (this.recorded.size <= this.maxKeys) return;
    const oldest = this.recorded.keys().next().value!;
    this.recorded.delete(oldest);
    void this.limiter.delete(oldest);
  }
}

export interface MemoryCounterOptions {
  /** Failures allowed in the window; the key is over once it has this many. */
  limit: number;
  windowSeconds: number;
  /** Most keys remembered (default 100000): a flood of addresses cannot grow memory without end. */
  maxKeys?: number;
}

/** A failure counter in this process's memory. */
export function memoryFailureCounter({ limit, windowSeconds, maxKeys = 100_000 }: MemoryCounterOptions): RateLimiterCounter {
  return new RateLimiterCounter(new RateLimiterMemory({ points: limit, duration: windowSeconds }), { maxKeys });
}
