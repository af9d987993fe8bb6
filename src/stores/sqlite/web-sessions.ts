/** Web sign-in sessions in the SQLite database (WebSessionRecords): only hashes of their ids. */
import type Database from "better-sqlite3";
import type { WebSessionRecord, WebSessionRecords } from "../../core/records/web-sessions.js";

export class SqliteWebSessions implements WebSessionRecords {
  private readonly statements;

  constructor(db: Database.Database) {
    this.statements = {
      all: db.prepare<[], { id_hash: string; username: string; expires_at: number; created_at: number }>(
        "SELECT id_hash, username, expires_at, created_at FROM web_sessions ORDER BY created_at, rowid",
      ),
      add: db.prepare("INSERT INTO web_sessions (id_hash, username, expires_at, created_at) VALUES (?, ?, ?, ?)"),
      remove: db.prepare("DELETE FROM web_sessions WHERE id_hash = ?"),
      removeExpired: db.prepare("DELETE FROM web_sessions WHERE expires_at <= ?"),
      renew: db.prepare("UPDATE web_sessions SET expires_at = ? WHERE id_hash = ?"),
    };
  }

  all(): WebSessionRecord[] {
    return this.statements.all.all().map((row) => ({ idHash: row.id_hash, username: row.username, expiresAt: row.expires_at, createdAt: row.created_at }));
  }

  add({ idHash, username, expiresAt, createdAt }: WebSessionRecord): void {
    this.statements.add.run(idHash, username, Math.ceil(expiresAt), Math.round(createdAt));
  }

  remove(idHash: string): void {
    this.statements.remove.run(idHash);
  }

  removeExpired(now: number): void {
    this.statements.removeExpired.run(Math.floor(now));
  }

  renew(idHash: string, expiresAt: number): void {
    this.statements.renew.run(Math.ceil(expiresAt), idHash);
  }
}
