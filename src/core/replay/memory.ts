import type { ClaimResult, ReplayStore } from "./store.js";

export interface MemoryReplayStoreOptions {
  /** Most live entries kept; when all are live the store refuses new claims (fails closed). */
  maxEntries?: number;
}

/**
 * The in-process replay store: one map from token id to the unix time it stops mattering.
 * Expired entries are swept only when the store is full and at least one of them can have
 * expired (the earliest expiry is tracked), so a claim is one lookup and one insert, and a
 * store full of live entries answers "full" without scanning.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly maxEntries: number;
  private readonly expiryById = new Map<string, number>();
  /** No entry expires before this time (a lower bound; exact after a sweep). */
  private earliestExpiry = Infinity;

  constructor({ maxEntries = 100_000 }: MemoryReplayStoreOptions = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.expiryById.size;
  }

  claim(id: string, expiresAt: number, now: number): ClaimResult {
    const known = this.expiryById.get(id);
    if (known !== undefined && known > now) return "replayed";
    if (known === undefined && this.expiryById.size >= this.maxEntries) {
      this.purge(now);
      if (this.expiryById.size >= this.maxEntries) return "full";
    }
    this.expiryById.set(id, expiresAt);
    if (expiresAt < this.earliestExpiry) this.earliestExpiry = expiresAt;
    return "claimed";
  }

  /** Forgets entries that expired at or before `now`. */
  purge(now: number): void {
    if (this.earliestExpiry > now) return;
    let earliest = Infinity;
    for (const [id, expiresAt] of this.expiryById) {
      if (expiresAt <= now) this.expiryById.delete(id);
      else if (expiresAt < earliest) earliest = expiresAt;
    }
    this.earliestExpiry = earliest;
  }
}
