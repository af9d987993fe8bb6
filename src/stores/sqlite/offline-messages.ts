/**
 * Offline messages in the SQLite database (OfflineMessages): the bound is checked (on the
 * account's usage row, so the cost does not grow with its queue) and the message stored in one
 * immediate transaction, and taking an account's messages reads and deletes them in one, so two
 * processes (or two logins) never both deliver one message.
 */
import type Database from "better-sqlite3";
import { DEFAULT_OFFLINE_LIMITS, type OfflineAddResult, type OfflineLimits, type OfflineMessages, type StoredMessage } from "../../core/records/offline.js";

export class SqliteOfflineMessages implements OfflineMessages {
  private readonly addOne: (owner: string, message: StoredMessage) => OfflineAddResult;
  private readonly takeAll: (owner: string) => StoredMessage[];
  private readonly countOf: Database.Statement<[string], { count: number }>;

  constructor(db: Database.Database, readonly limits: OfflineLimits = DEFAULT_OFFLINE_LIMITS) {
    const usage = db.prepare<[string], { count: number; bytes: number }>("SELECT count, bytes FROM offline_usage WHERE owner = ?");
    const insert = db.prepare("INSERT INTO offline_messages (owner, stanza, bytes, stored_at) VALUES (?, ?, ?, ?)");
    const addUsage = db.prepare(
      "INSERT INTO offline_usage (owner, count, bytes) VALUES (?, 1, ?) ON CONFLICT (owner) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes",
    );
    const clearUsage = db.prepare("DELETE FROM offline_usage WHERE owner = ?");
    const select = db.prepare<[string], { stanza: string; stored_at: number }>("SELECT stanza, stored_at FROM offline_messages WHERE owner = ? ORDER BY id");
    const remove = db.prepare("DELETE FROM offline_messages WHERE owner = ?");
    this.countOf = db.prepare("SELECT coalesce((SELECT count FROM offline_usage WHERE owner = ?), 0) AS count");
    const add = db.transaction((owner: string, message: StoredMessage): OfflineAddResult => {
      const bytes = Buffer.byteLength(message.stanza, "utf8");
      const used = usage.get(owner) ?? { count: 0, bytes: 0 };
      if (used.count >= this.limits.maxMessagesPerAccount || used.bytes + bytes > this.limits.maxBytesPerAccount) return "full";
      insert.run(owner, message.stanza, bytes, Math.round(message.storedAt));
      addUsage.run(owner, bytes);
      return "stored";
    });
    const take = db.transaction((owner: string): StoredMessage[] => {
      const rows = select.all(owner);
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, deleting the messages of an account that has none deletes nothing
      if (rows.length > 0) remove.run(owner);
      clearUsage.run(owner);
      return rows.map((row) => ({ stanza: row.stanza, storedAt: row.stored_at }));
    });
    this.addOne = (owner, message) => add.immediate(owner, message);
    this.takeAll = (owner) => take.immediate(owner);
  }

  add(owner: string, message: StoredMessage): OfflineAddResult {
    return this.addOne(owner, message);
  }

  take(owner: string): StoredMessage[] {
    return this.takeAll(owner);
  }

  count(owner: string): number {
    return this.countOf.get(owner)!.count;
  }
}
