/**
 * What an account's roster is made of (RFC 6121 2), and what the server needs from whatever keeps
 * rosters across restarts. The server holds every roster in memory for presence routing and
 * writes each change through to these records before it answers; a store that cannot write
 * throws, and the change is refused.
 */

export type Subscription = "none" | "to" | "from" | "both";

export const SUBSCRIPTIONS: readonly Subscription[] = ["none", "to", "from", "both"];

export interface RosterItem {
  /** A prepared bare JID. */
  jid: string;
  name?: string;
  subscription: Subscription;
  /** A subscription request of ours is pending (RFC 6121 3.1.2: ask="subscribe"). */
  ask: boolean;
  groups: string[];
}

/** A subscription request to `owner` from `requester` that waits for an answer. */
export interface PendingRequest {
  owner: string;
  requester: string;
}

export interface RosterRecords {
  /** Every stored item of every account, read once at start. */
  allItems(): Iterable<{ owner: string; item: RosterItem }>;
  /** One account's items as stored (to re-read after a failed change). */
  items(owner: string): RosterItem[];
  /** Adds or replaces one item; throws when it cannot be stored. */
  put(owner: string, item: RosterItem): void;
  /** Removes one item (and nothing when there is none); throws when it cannot. */
  remove(owner: string, jid: string): void;
  /** Every waiting subscription request, read once at start. */
  allPending(): Iterable<PendingRequest>;
  /** Whether `requester`'s request to `owner` is stored as waiting. */
  addPending(request: PendingRequest): void;
  removePending(request: PendingRequest): void;
  /**
   * Runs `change` as one unit: every write in it is stored, or none is (a subscription answer
   * changes two rosters; a crash between them must not leave one side changed). Nested calls
   * join the outer unit. Throws what `change` threw, or the store's error.
   */
  atomically<T>(change: () => T): T;
}
