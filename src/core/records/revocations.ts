/**
 * Account revocations (docs/revocation.md): for an account, the unix second before which its
 * X-TOKENs were minted and are refused ("not before"; core/token/not-before.ts owns the rule).
 * One record per account, the latest time kept: revoking again never shortens a revocation.
 * Engines: memory (here), SQLite (src/stores/sqlite, shared by every process on the file), Redis
 * (src/stores/redis, shared by every node on it).
 */

/** One revocation as it travels between processes and nodes. */
export interface Revocation {
  /** The prepared bare JID. */
  jid: string;
  /** Unix seconds: tokens minted before it are refused. */
  notBefore: number;
}

export interface RevocationRecords {
  /**
   * Records (durably, for a durable engine, before it returns or resolves) that tokens of `jid`
   * minted before `notBefore` are refused; a later time already recorded stays. Answers the time
   * in force and, for an engine that other processes read with `since`, the change's sequence
   * number. Throws (or rejects) when it cannot record it: the revocation is then refused.
   */
  revoke(jid: string, notBefore: number): RevokeResult | Promise<RevokeResult>;
  /**
   * The not-before time of `jid`, or null when it was never revoked, read anew at each login.
   * Throws (or rejects) when the engine cannot answer: the login is then refused (fail closed).
   */
  notBefore(jid: string): number | null | Promise<number | null>;
  /**
   * For engines shared by processes on one machine (SQLite): the changes after `cursor` (a
   * sequence number; 0: all), oldest first, at most `limit`, and the cursor to ask from next.
   * A server reads it every second to end the streams of accounts revoked by another process
   * (`x-token revoke`). Absent for engines that announce changes otherwise (Redis pub/sub).
   */
  since?(cursor: number, limit: number): { revocations: (Revocation & { seq: number })[]; cursor: number };
  /** The cursor of the latest change (what a reader starting now asks `since` from). */
  latest?(): number;
}

export interface RevokeResult {
  notBefore: number;
  /** The change's sequence number, for engines with `since`. */
  seq?: number;
}

/**
 * Tells every node that shares it about a revocation (Redis pub/sub), so each ends the account's
 * streams and forgets its FAST tokens. Delivery is at most once: a node that is disconnected at
 * that moment does not hear it (its logins still read the shared not-before).
 */
export interface RevocationBus {
  /** Announces a revocation; rejects when it could not be sent. */
  publish(revocation: Revocation & { origin: string }): Promise<void>;
  /** Calls `listener` for every announced revocation (its own included: compare `origin`); returns a function that stops it. */
  subscribe(listener: (revocation: Revocation & { origin: string }) => void): Promise<() => Promise<void>>;
}

/** A revocation the caller asked for that cannot be made: its message says why (a bad JID, a bad time). */
export class RevocationError extends Error {
  override readonly name = "RevocationError";
}

/** The most seconds ahead of now a not-before may be (a ban of a day or less; longer bans belong in disabledUsers). */
export const MAX_NOT_BEFORE_AHEAD_SECONDS = 86_400;

/** Checks a not-before time given by a caller: whole unix seconds, not absurdly far from `now`. */
export function checkNotBefore(notBefore: unknown, now: number): number {
  if (typeof notBefore !== "number" || !Number.isSafeInteger(notBefore) || notBefore < 0) {
    throw new RevocationError("notBefore must be whole unix seconds (a non-negative integer)");
  }
  if (notBefore > now + MAX_NOT_BEFORE_AHEAD_SECONDS) {
    throw new RevocationError(`notBefore may be at most ${MAX_NOT_BEFORE_AHEAD_SECONDS} s in the future (for a longer ban use disabledUsers)`);
  }
  return notBefore;
}

/** The memory engine: a map, bounded (past the bound the oldest revocation is forgotten). */
export class MemoryRevocations implements RevocationRecords {
  private readonly byJid = new Map<string, number>();

  constructor(private readonly maxAccounts = 1_000_000) {}

  revoke(jid: string, notBefore: number): RevokeResult {
    const kept = Math.max(notBefore, this.byJid.get(jid) ?? 0);
    this.byJid.delete(jid); // re-inserted last: the map stays in order of revocation
    this.byJid.set(jid, kept);
    if (this.byJid.size > this.maxAccounts) this.byJid.delete(this.byJid.keys().next().value!);
    return { notBefore: kept };
  }

  notBefore(jid: string): number | null {
    return this.byJid.get(jid) ?? null;
  }
}
