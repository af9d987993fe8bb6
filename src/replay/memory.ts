import type { ClaimResult, ReplayStore } from "./store.js";

export interface MemoryReplayStoreOptions {
  /** Most live entries kept; when all are live the store refuses new claims (fails closed). */
  maxEntries?: number;
}

/**
 * The in-process replay store. Entries are grouped by expiry time: tokens expire at the end of
 * a time step, so there are only a handful of groups, and purging is cheap.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly maxEntries: number;
  private readonly expiryById = new Map<string, number>();
  private readonly idsByExpiry = new Map<number, string[]>();

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
    if (this.expiryById.size >= this.maxEntries) {
      this.purge(now);
      if (this.expiryById.size >= this.maxEntries) return "full";
    }
    this.expiryById.set(id, expiresAt);
    const group = this.idsByExpiry.get(expiresAt);
    if (group) group.push(id);
    else this.idsByExpiry.set(expiresAt, [id]);
    return "claimed";
  }

  /** Forgets entries that expired at or before `now`. */
  purge(now: number): void {
    for (const [expiresAt, ids] of this.idsByExpiry) {
      if (expiresAt > now) continue;
      for (const id of ids) {
        // A re-claimed id may carry a later expiry; only drop it if this group still owns it.
        if (this.expiryById.get(id) === expiresAt) this.expiryById.delete(id);
      }
      this.idsByExpiry.delete(expiresAt);
    }
  }
}
