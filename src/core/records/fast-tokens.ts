/**
 * FAST tokens (XEP-0484) as a store keeps them: after one strong login (X-TOKEN, a one-time
 * password) a client gets a token for later logins, bound to its account, to its user agent and
 * to one mechanism (HT-SHA-256-NONE). Never the token itself: only what a login is checked
 * against (a hash of the initiator message the token gives) and the responder message the server
 * sends back (docs/fast.md says what a copy of the store gives away).
 *
 * Two slots per binding, as the XEP describes: "new" holds the token handed out last, "current"
 * the one in use. A login checks "new" first and promotes it on use (the old current is then
 * gone); until the new token was used once, the current one keeps working, so a client that
 * lost the answer carrying the new token is not locked out.
 */

/** Which binding a token belongs to. */
export interface FastTokenBinding {
  /** The prepared bare JID. */
  account: string;
  /** SHA-256 of the user agent's id (hex): the id itself is the client's, not ours to keep. */
  agentHash: string;
  /** The mechanism the token is for ("HT-SHA-256-NONE"). */
  mechanism: string;
}

/** One stored token. */
export interface FastTokenSecret {
  /** SHA-256 of the initiator message this token gives (what a login must present). */
  verifier: Uint8Array;
  /** The responder message the server sends on success (`<additional-data>`). */
  responder: Uint8Array;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds: at and after this instant the token is refused (credentials-expired). */
  expiresAt: number;
}

export type FastTokenSlot = "current" | "new";

export interface FastTokenSlots {
  current: FastTokenSecret | null;
  new: FastTokenSecret | null;
}

/** Bindings one account may have (one per user agent and mechanism); past it the one issued longest ago goes. */
export const MAX_FAST_BINDINGS_PER_ACCOUNT = 32;

export interface FastTokenRecords {
  /** Both slots of a binding (read at every FAST login). */
  find(binding: FastTokenBinding): FastTokenSlots;
  /**
   * Puts a token just issued in the binding's "new" slot (replacing what was there) and keeps
   * "current" as it is; past MAX_FAST_BINDINGS_PER_ACCOUNT the account's binding issued longest
   * ago is removed. Throws when it cannot write: the token is then not handed out.
   */
  issue(binding: FastTokenBinding, token: FastTokenSecret): void;
  /**
   * The token in "new" whose verifier is `verifier` becomes "current" (the current one is
   * dropped). Atomic wherever the records are shared; false when "new" no longer holds it (another
   * login promoted it, or it was replaced or removed meanwhile).
   */
  promote(binding: FastTokenBinding, verifier: Uint8Array): boolean;
  /** Removes the token whose verifier is `verifier` from the binding (`<fast invalidate='true'/>`); false when it was not there. */
  invalidate(binding: FastTokenBinding, verifier: Uint8Array): boolean;
  /**
   * Removes every FAST token of the account, all user agents and mechanisms (a sign-out
   * everywhere, a ban: issue 20's revocation); returns how many were removed.
   */
  revokeAccount(account: string): number;
  /** Forgets the tokens expired at or before `now` (unix seconds); returns how many. */
  removeExpired(now: number): number;
}

/** The binding within its account. */
const agentKey = ({ agentHash, mechanism }: FastTokenBinding) => `${agentHash}\0${mechanism}`;

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i]);

const SLOTS = ["current", "new"] as const;

/**
 * The memory engine: nothing survives the process. Bounded: MAX_FAST_BINDINGS_PER_ACCOUNT
 * bindings per account, and `maxBindings` in all (then the account that got a token longest ago
 * loses its oldest binding first).
 */
export class MemoryFastTokens implements FastTokenRecords {
  /** Per account (in order of its last issue), its bindings (in order of their last issue). */
  private readonly accounts = new Map<string, Map<string, FastTokenSlots>>();
  private size = 0;

  constructor(private readonly maxBindings = 100_000) {}

  find(binding: FastTokenBinding): FastTokenSlots {
    const found = this.accounts.get(binding.account)?.get(agentKey(binding));
    return { current: found?.current ?? null, new: found?.new ?? null };
  }

  issue(binding: FastTokenBinding, token: FastTokenSecret): void {
    const mine = this.accounts.get(binding.account) ?? new Map<string, FastTokenSlots>();
    this.accounts.delete(binding.account);
    this.accounts.set(binding.account, mine);
    const key = agentKey(binding);
    const found = mine.get(key);
    if (found) mine.delete(key);
    else this.size++;
    mine.set(key, { current: found?.current ?? null, new: copy(token) });
    if (mine.size > MAX_FAST_BINDINGS_PER_ACCOUNT) this.dropOldest(binding.account, mine);
    while (this.size > this.maxBindings) {
      const [account, oldest] = this.accounts.entries().next().value!;
      this.dropOldest(account, oldest);
    }
  }

  private dropOldest(account: string, mine: Map<string, FastTokenSlots>): void {
    mine.delete(mine.keys().next().value!);
    this.size--;
    if (mine.size === 0) this.accounts.delete(account);
  }

  promote(binding: FastTokenBinding, verifier: Uint8Array): boolean {
    const found = this.accounts.get(binding.account)?.get(agentKey(binding));
    if (!found?.new || !sameBytes(found.new.verifier, verifier)) return false;
    found.current = found.new;
    found.new = null;
    return true;
  }

  invalidate(binding: FastTokenBinding, verifier: Uint8Array): boolean {
    const mine = this.accounts.get(binding.account);
    const key = agentKey(binding);
    const found = mine?.get(key);
    if (!mine || !found) return false;
    let removed = false;
    for (const slot of SLOTS) {
      if (found[slot] && sameBytes(found[slot].verifier, verifier)) {
        found[slot] = null;
        removed = true;
      }
    }
    if (!found.current && !found.new) this.forget(binding.account, mine, key);
    return removed;
  }

  private forget(account: string, mine: Map<string, FastTokenSlots>, key: string): void {
    if (mine.delete(key)) this.size--;
    if (mine.size === 0) this.accounts.delete(account);
  }

  revokeAccount(account: string): number {
    const mine = this.accounts.get(account);
    if (!mine) return 0;
    let removed = 0;
    for (const slots of mine.values()) removed += SLOTS.filter((slot) => slots[slot] !== null).length;
    this.size -= mine.size;
    this.accounts.delete(account);
    return removed;
  }

  removeExpired(now: number): number {
    let removed = 0;
    for (const [account, mine] of this.accounts) {
      for (const [key, slots] of mine) {
        for (const slot of SLOTS) {
          if (slots[slot] && slots[slot].expiresAt <= now) {
            slots[slot] = null;
            removed++;
          }
        }
        if (!slots.current && !slots.new) this.forget(account, mine, key);
      }
    }
    return removed;
  }
}

function copy(token: FastTokenSecret): FastTokenSecret {
  return { verifier: Uint8Array.from(token.verifier), responder: Uint8Array.from(token.responder), issuedAt: token.issuedAt, expiresAt: token.expiresAt };
}
