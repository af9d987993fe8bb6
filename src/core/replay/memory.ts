import { randomFillSync } from "node:crypto";
import { readSignatureText, SIGNATURE_BYTES } from "./signature-text.js";
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
 * The same id always has the same fingerprint, so a replay is always found. An id that is a token
 * signature's text (what verifyToken claims: 44 characters of canonical base64 of 32 bytes) is
 * fingerprinted by its bytes, which are an HMAC-SHA256 that nobody can choose without the key: 96
 * of them, each 32-bit word put through a seeded bijection, so the fingerprint costs a few
 * multiplications instead of a pass over 44 characters, and verifyToken, which holds the bytes
 * already, hands them over directly (claimSignature). Any other id goes through three seeded
 * 32-bit lanes over all its UTF-16 units. Two different ids share a fingerprint with a chance of
 * about 2^-96 (a million live entries: about 2^-56 that any new claim meets one), and the cost of
 * that would be one refused login, never a token accepted twice.
 *
 * Expired entries are swept only when the store is full and at least one of them can have expired
 * (the earliest expiry is tracked). The sweep works in place, without a second table: it empties
 * the expired slots, then moves each survivor to the first free slot of its probe path, walking
 * from just after an empty slot, so no deleted-slot markers ever lengthen a probe. A store full of
 * live entries answers "full" without scanning.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly maxEntries: number;
  /** Slots the table may grow to: a power of two at least twice maxEntries. */
  private readonly maxSlots: number;
  /**
   * Seed the fingerprints, so which ids share a probe run differs from process to process: the
   * first three a signature's words, the fourth the lanes over any other id.
   */
  private readonly seeds = randomFillSync(new Uint32Array(4));
  /** A signature-shaped id's bytes, decoded by claim (which is synchronous). */
  private readonly idBytes = new Uint8Array(SIGNATURE_BYTES);
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
    // A signature's text and its bytes are one id: the same entry as claimSignature's.
    if (readSignatureText(id, this.idBytes)) this.fingerprintBytes(this.idBytes);
    else this.fingerprint(id);
    return this.claimFingerprint(expiresAt, now);
  }

  /**
   * The same as claim(id) where `id` is the base64 text of `signature` (a token's 32 signature
   * bytes, as verifyToken has them decoded): what verifyToken calls, so it needs no id string.
   */
  claimSignature(signature: Uint8Array, expiresAt: number, now: number): ClaimResult {
    if (signature.length !== SIGNATURE_BYTES) throw new RangeError(`a signature is ${SIGNATURE_BYTES} bytes`);
    this.fingerprintBytes(signature);
    return this.claimFingerprint(expiresAt, now);
  }

  /** claim() for the fingerprint just computed into f0, f1, f2. */
  private claimFingerprint(expiresAt: number, now: number): ClaimResult {
    const expiry = expiresAt >= MAX_EXPIRY ? MAX_EXPIRY : Math.max(1, Math.ceil(expiresAt));
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
    const table = this.table;
    const mask = this.mask;
    let earliest = Infinity;
    let removed = 0;
    let emptySlot = 0;
    for (let slot = 0, at = 0; at < table.length; slot++, at += WORDS) {
      const expiry = table[at + EXPIRY]!;
      if (expiry === 0) emptySlot = slot;
      else if (expiry <= now) {
        table[at + EXPIRY] = 0;
        removed++;
        emptySlot = slot;
      } else if (expiry < earliest) earliest = expiry;
    }
    this.count -= removed;
    this.earliestExpiry = earliest;
    // Emptied slots may have split probe runs: every survivor after one could now sit beyond an
    // empty slot on its own path, where find() would not reach it. Re-place them all in table
    // order from just after an empty slot (the table is at most half full, so there is one):
    // each moves to the first free slot from its home, which is never past where it was, and
    // the slots before it are settled already, so every run ends up as a fresh insertion would.
    for (let n = 0, slot = (emptySlot + 1) & mask; n < mask; n++, slot = (slot + 1) & mask) {
      const at = slot * WORDS;
      const expiry = table[at + EXPIRY]!;
      if (expiry === 0) continue;
      const f0 = table[at]!;
      const f1 = table[at + 1]!;
      const f2 = table[at + 2]!;
      // Already first in its run from home: it stays (the common case, no writes).
      if ((f0 & mask) === slot) continue;
      table[at + EXPIRY] = 0;
      const to = this.find(f0, f1, f2);
      table[to] = f0;
      table[to + 1] = f1;
      table[to + 2] = f2;
      table[to + EXPIRY] = expiry;
    }
  }

  /**
   * A signature's first 96 bits, each 32-bit word through murmur3's finaliser after a seed: the
   * words are already uniform (an HMAC), the seed and the bijection keep their placement in the
   * table unknown to whoever holds the token.
   */
  private fingerprintBytes(bytes: Uint8Array): void {
    const seeds = this.seeds;
    this.f0 = finish((bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) ^ seeds[0]!);
    this.f1 = finish((bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) ^ seeds[1]!);
    this.f2 = finish((bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24)) ^ seeds[2]!);
  }

  /**
   * Three 32-bit lanes over the id's UTF-16 units, each with its own multiplier and a murmur3
   * finish. Every unit counts, so ids that share a prefix (any caller's, not only token
   * signatures) still spread over the table.
   */
  private fingerprint(id: string): void {
    const seed = this.seeds[3]!;
    let a = seed ^ 0x811c9dc5;
    let b = seed ^ 0x2545f491;
    let c = ~seed;
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

  /** Rebuilds the table with `slots` slots (capped at maxSlots), keeping every entry. */
  private resize(slots: number): void {
    const old = this.table;
    const size = Math.min(slots, this.maxSlots);
    this.table = new Uint32Array(size * WORDS);
    this.mask = size - 1;
    this.count = 0;
    for (let at = 0; at < old.length; at += WORDS) {
      const expiry = old[at + EXPIRY]!;
      if (expiry === 0) continue;
      const f0 = old[at]!;
      const f1 = old[at + 1]!;
      const f2 = old[at + 2]!;
      this.place(this.find(f0, f1, f2), f0, f1, f2, expiry);
    }
  }
}

/** murmur3's 32-bit finaliser: every input bit reaches every output bit. Unsigned, as the table holds it. */
function finish(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
