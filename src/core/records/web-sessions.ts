/**
 * Web sign-in sessions (the demo app's), as a store keeps them across restarts. Only a hash of a
 * session id is kept: whoever reads the store cannot sign in with what they read.
 */

export interface WebSessionRecord {
  /** SHA-256 of the session id (hex). */
  idHash: string;
  username: string;
  /** Unix seconds. */
  expiresAt: number;
  /** Unix milliseconds; orders a user's sessions (oldest first is evicted). */
  createdAt: number;
}

export interface WebSessionRecords {
  /** Every stored session, oldest first, read once at start. */
  all(): WebSessionRecord[];
  /** Stores a new session; throws when it cannot (the sign-in is then refused). */
  add(record: WebSessionRecord): void;
  /** Ends one session (and nothing when there is none); throws when it cannot. */
  remove(idHash: string): void;
  /** Forgets every session that expired at or before `now` (unix seconds). */
  removeExpired(now: number): void;
  /**
   * Moves one session's end (an inactivity timeout renewed); nothing when there is none. Optional:
   * without it a renewal lives in memory only, and after a restart the session ends at the end
   * stored before (sooner, never later).
   */
  renew?(idHash: string, expiresAt: number): void;
}
