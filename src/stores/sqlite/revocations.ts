/**
 * Account revocations in the SQLite database (RevocationRecords): one row per account with the
 * latest not-before time, and a sequence number per change that other processes on the file read
 * (`since`) to learn what was revoked. A revocation is committed before revoke() returns, so it
 * survives a SIGKILL the next instant.
 */
import type Database from "better-sqlite3";
import type { Revocation, RevocationRecords, RevokeResult } from "../../core/records/revocations.js";

export class SqliteRevocations implements RevocationRecords {
  private readonly statements;
  private readonly write: (jid: string, notBefore: number, now: number) => RevokeResult;

  constructor(
    db: Database.Database,
    /** Unix seconds, for the row's revoked_at. */
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.statements = {
      get: db.prepare<[string], { not_before: number }>("SELECT not_before FROM account_revocations WHERE account = ?"),
      latest: db.prepare<[], { seq: number | null }>("SELECT max(seq) AS seq FROM account_revocations"),
      upsert: db.prepare<[string, number, number, number]>(
        `INSERT INTO account_revocations (account, not_before, seq, revoked_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (account) DO UPDATE SET not_before = max(not_before, excluded.not_before), seq = excluded.seq, revoked_at = excluded.revoked_at`,
      ),
      since: db.prepare<[number, number], { account: string; not_before: number; seq: number }>(
        "SELECT account, not_before, seq FROM account_revocations WHERE seq > ? ORDER BY seq LIMIT ?",
      ),
    };
    // One immediate transaction: the next sequence number and the row, so two processes revoking
    // at once never share a number (the second waits for the first's write lock).
    const transaction = db.transaction((jid: string, notBefore: number, at: number): RevokeResult => {
      const seq = (this.statements.latest.get()?.seq ?? 0) + 1;
      this.statements.upsert.run(jid, Math.floor(notBefore), seq, Math.floor(at));
      return { notBefore: this.statements.get.get(jid)!.not_before, seq };
    });
    this.write = (jid, notBefore, at) => transaction.immediate(jid, notBefore, at);
  }

  revoke(jid: string, notBefore: number): RevokeResult {
    return this.write(jid, notBefore, this.now());
  }

  notBefore(jid: string): number | null {
    return this.statements.get.get(jid)?.not_before ?? null;
  }

  since(cursor: number, limit: number): { revocations: (Revocation & { seq: number })[]; cursor: number } {
    const rows = this.statements.since.all(cursor, limit);
    return { revocations: rows.map((r) => ({ jid: r.account, notBefore: r.not_before, seq: r.seq })), cursor: rows.length > 0 ? rows[rows.length - 1]!.seq : cursor };
  }

  latest(): number {
    return this.statements.latest.get()?.seq ?? 0;
  }
}
