/**
 * The accounts that exist here: with token logins any localpart of a hosted domain may log in,
 * so an account is one that has logged in at least once. Only such accounts get offline messages,
 * so nobody can fill the store by writing to made-up addresses.
 */
export interface AccountRecords {
  /** Whether the bare JID has logged in here before. */
  has(jid: string): boolean;
  /** Records a login of the bare JID (nothing when known already); throws when it cannot. */
  add(jid: string): void;
}

/** The memory engine: a set, bounded (past the bound no new account is remembered). */
export class MemoryAccounts implements AccountRecords {
  private readonly known = new Set<string>();

  constructor(private readonly maxAccounts = 1_000_000) {}

  has(jid: string): boolean {
    return this.known.has(jid);
  }

  add(jid: string): void {
    if (this.known.size < this.maxAccounts) this.known.add(jid);
  }
}
