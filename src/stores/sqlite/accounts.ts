/** Accounts that have logged in, in the SQLite database (AccountRecords), with a cache of the known. */
import type Database from "better-sqlite3";
import type { AccountRecords } from "../../core/records/accounts.js";

/** Known JIDs cached in this process (an account once known stays known, so a cache cannot lie). */
const CACHE_ENTRIES = 100_000;

export class SqliteAccounts implements AccountRecords {
  private readonly known = new Set<string>();
  private readonly select: Database.Statement<[string]>;
  private readonly insert: Database.Statement<[string, number]>;

  /** `maxCached`: most JIDs the cache holds before it starts again (bounded memory). */
  constructor(db: Database.Database, private readonly maxCached = CACHE_ENTRIES) {
    this.select = db.prepare("SELECT 1 FROM accounts WHERE jid = ?").pluck();
    this.insert = db.prepare("INSERT OR IGNORE INTO accounts (jid, first_login) VALUES (?, ?)");
  }

  has(jid: string): boolean {
    if (this.known.has(jid)) return true;
    const found = this.select.get(jid) !== undefined;
    if (found) this.cache(jid);
    return found;
  }

  add(jid: string): void {
    if (this.known.has(jid)) return;
    this.insert.run(jid, Date.now());
    this.cache(jid);
  }

  private cache(jid: string): void {
    if (this.known.size >= this.maxCached) this.known.clear();
    this.known.add(jid);
  }
}
