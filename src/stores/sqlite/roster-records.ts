/** Rosters and waiting subscription requests in the SQLite database (RosterRecords). */
import type Database from "better-sqlite3";
import type { PendingRequest, RosterItem, RosterRecords, Subscription } from "../../core/records/roster.js";

interface ItemRow {
  owner: string;
  jid: string;
  name: string | null;
  subscription: Subscription;
  ask: number;
  groups: string;
}

const toItem = (row: ItemRow): RosterItem => ({
  jid: row.jid,
  ...(row.name !== null ? { name: row.name } : {}),
  subscription: row.subscription,
  ask: row.ask === 1,
  groups: JSON.parse(row.groups) as string[],
});

export class SqliteRosterRecords implements RosterRecords {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      all: db.prepare<[], ItemRow>("SELECT owner, jid, name, subscription, ask, groups FROM roster_items ORDER BY owner, rowid"),
      items: db.prepare<[string], ItemRow>("SELECT owner, jid, name, subscription, ask, groups FROM roster_items WHERE owner = ? ORDER BY rowid"),
      put: db.prepare(
        "INSERT INTO roster_items (owner, jid, name, subscription, ask, groups) VALUES (?, ?, ?, ?, ?, ?) " +
          "ON CONFLICT (owner, jid) DO UPDATE SET name = excluded.name, subscription = excluded.subscription, ask = excluded.ask, groups = excluded.groups",
      ),
      remove: db.prepare("DELETE FROM roster_items WHERE owner = ? AND jid = ?"),
      allPending: db.prepare<[], PendingRequest>("SELECT owner, requester FROM subscription_requests ORDER BY owner, requester"),
      addPending: db.prepare("INSERT OR IGNORE INTO subscription_requests (owner, requester) VALUES (?, ?)"),
      removePending: db.prepare("DELETE FROM subscription_requests WHERE owner = ? AND requester = ?"),
    };
  }

  *allItems(): Iterable<{ owner: string; item: RosterItem }> {
    for (const row of this.statements.all.iterate()) yield { owner: row.owner, item: toItem(row) };
  }

  items(owner: string): RosterItem[] {
    return this.statements.items.all(owner).map(toItem);
  }

  put(owner: string, item: RosterItem): void {
    this.statements.put.run(owner, item.jid, item.name ?? null, item.subscription, item.ask ? 1 : 0, JSON.stringify(item.groups));
  }

  remove(owner: string, jid: string): void {
    this.statements.remove.run(owner, jid);
  }

  allPending(): Iterable<PendingRequest> {
    return this.statements.allPending.all();
  }

  addPending({ owner, requester }: PendingRequest): void {
    this.statements.addPending.run(owner, requester);
  }

  removePending({ owner, requester }: PendingRequest): void {
    this.statements.removePending.run(owner, requester);
  }

  atomically<T>(change: () => T): T {
    // better-sqlite3 turns a transaction inside another into a savepoint: nested calls join.
    return this.db.transaction(change).immediate();
  }
}
