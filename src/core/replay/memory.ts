import { randomBytes } from "node:crypto";
import type { ClaimResult, ReplayStore } from "./store.js";

export interface MemoryReplayStoreOptions {
  /** Most entries kept; when all are live the store refuses new claims (fails closed). */
  maxEntries?: number;
}

/** Slots in a new table; it doubles as entries arrive, up to twice maxEntries (rounded up). */
const INITIAL_SLOTS = 1024;
/** 32-bit words per slot: three of the id's fingerprint, then the expiry (whole unix seconds). */
const WORDS = 4;
const EXPIRY = 3;
/** The latest expiry a slot can hold (Uint32); a later one is kept as this, so held longer. */
const MAX_EXPIRY = 0xffffffff;

/**
 * The in-process replay store: an open-addressing hash table (linear probing) in one Uint32Array,
 * from a 96-bit fingerprint of a token id to the unix time it stops mattering. A slot is 16 bytes,
 * so a claim is one pass over the id and, almost always, one cache line: no per-entry objects for
 * the garbage collector to move or trace, and a store holding a hundred thousand live tokens costs
 * a claim about what an empty one does. The table is at most half full, so probe runs stay short.
 *
 * The same id always has the same fingerprint, so a replay is always found. Two different ids
 * share one with a chance of about 2^-96 (token ids are HMAC signatures nobody can choose), and
 * the cost of that would be one refused login, never a token accepted twice.
 *
 * Expired entries are swept only when the store is full and at least one of them can have expired
 * (the earliest expiry is tracked); the sweep rebuilds the table from the live entries, so no
 * deleted-slot markers ever lengthen a probe. A store full of live entries answers "full" without
 * scanning.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly maxEntries: number;
  /** Slots the table may grow to: a power of two at least twice maxEntries. */
  private readonly maxSlots: number;
  /** Seeds the fingerprint, so which ids share a probe run differs from process to process. */
  private readonly seed = randomBytes(4).readUInt32LE(0);
  private mask = 0;
  /** WORDS per slot; a slot whose expiry word is 0 is empty (expiries are after 1970). */
  private table = new Uint32Array(0);
  private count = 0;
  /** No entry expires before this time (a lower bound; exact after a sweep). */
  private earliestExpiry = Infinity;
  /** The fingerprint of the id being claimed, set by fingerprint() (claim is synchronous). */
  private f0 = 0;
  private f1 = 0;
  private f2 = 0;

  constructor({ maxEntries = 100_000 }: MemoryReplayStoreOptions = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
    this.maxEntries = maxEntries;
    let slots = 2;
    while (slots < 2 * maxEntries) slots *= 2;
    this.maxSlots = slots;
    this.resize(Math.min(INITIAL_SLOTS, slots));
  }

  /** Entries held, live or expired but not yet swept. */
  get size(): number {
    return this.count;
  }

  claim(id: string, expiresAt: number, now: number): ClaimResult {
    const expiry = expiresAt >= MAX_EXPIRY ? MAX_EXPIRY : Math.max(1, Math.ceil(expiresAt));
    this.fingerprint(id);
    const { f0, f1, f2 } = this;
    let at = this.find(f0, f1, f2);
    const table = this.table;
    if (table[at + EXPIRY] !== 0) {
      // Known: refused while it lives; after its expiry the same id may be claimed again.
      if (table[at + EXPIRY]! > now) return "replayed";
      table[at + EXPIRY] = expiry;
    } else {
      if (this.count >= this.maxEntries) {
        this.purge(now);
        if (this.count >= this.maxEntries) return "full";
        at = this.find(f0, f1, f2);
      } else if (2 * (this.count + 1) > this.table.length / WORDS) {
        this.resize((this.table.length / WORDS) * 2);
        at = this.find(f0, f1, f2);
      }
      this.place(at, f0, f1, f2, expiry);
    }
    if (expiry < this.earliestExpiry) this.earliestExpiry = expiry;
    return "claimed";
  }

  /** Forgets entries that expired at or before `now`. */
  purge(now: number): void {
    if (this.earliestExpiry > now) return;
    this.resize(this.table.length / WORDS, now);
  }

  /**
   * Three 32-bit lanes over the id's UTF-16 units, each with its own multiplier and a murmur3
   * finish. Every unit counts, so ids that share a prefix (any caller's, not only token
   * signatures) still spread over the table.
   */
  private fingerprint(id: string): void {
    let a = this.seed ^ 0x811c9dc5;
    let b = this.seed ^ 0x2545f491;
    let c = ~this.seed;
    for (let i = 0; i < id.length; i++) {
      const unit = id.charCodeAt(i);
      a = Math.imul(a ^ unit, 0x01000193);
      b = Math.imul(b ^ unit, 0x5bd1e995);
      c = Math.imul(c + unit, 0x9e3779b1);
    }
    this.f0 = finish(a ^ id.length);
    this.f1 = finish(b);
    this.f2 = finish(c);
  }

  /** The table index of the slot holding this fingerprint, or of the empty slot ending its run. */
  private find(f0: number, f1: number, f2: number): number {
    const { table, mask } = this;
    let slot = f0 & mask;
    for (;;) {
      const at = slot * WORDS;
      if (table[at + EXPIRY] === 0 || (table[at] === f0 && table[at + 1] === f1 && table[at + 2] === f2)) return at;
      slot = (slot + 1) & mask;
    }
  }

  private place(at: number, f0: number, f1: number, f2: number, expiry: number): void {
    const table = this.table;
    table[at] = f0;
    table[at + 1] = f1;
    table[at + 2] = f2;
    table[at + EXPIRY] = expiry;
    this.count++;
  }

  /**
   * Rebuilds the table with `slots` slots (capped at maxSlots), keeping the entries that live
   * after `keepAfter` (all of them by default), and recomputes the earliest expiry.
   */
  private resize(slots: number, keepAfter = 0): void {
    const old = this.table;
    const size = Math.min(slots, this.maxSlots);
    this.table = new Uint32Array(size * WORDS);
    this.mask = size - 1;
    this.count = 0;
    let earliest = Infinity;
    for (let at = 0; at < old.length; at += WORDS) {
      const expiry = old[at + EXPIRY]!;
      if (expiry === 0 || expiry <= keepAfter) continue;
      const f0 = old[at]!;
      const f1 = old[at + 1]!;
      const f2 = old[at + 2]!;
      this.place(this.find(f0, f1, f2), f0, f1, f2, expiry);
      if (expiry < earliest) earliest = expiry;
    }
    this.earliestExpiry = earliest;
  }
}

/** murmur3's 32-bit finaliser: every input bit reaches every output bit. Unsigned, as the table holds it. */
function finish(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
