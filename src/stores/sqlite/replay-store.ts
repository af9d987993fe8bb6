/**
 * Used tokens in the SQLite database: a claim is one upsert that succeeds only for an id not held
 * or held past its expiry, so the claim is atomic across every process sharing the file (the
 * server and any number of `x-token extauth` workers). The claim is committed before it answers,
 * so a token accepted once is refused after any restart, a SIGKILL included. Expired rows are
 * deleted once a minute by a scan of the table, which holds what one token lifetime of logins
 * leaves: an index on the expiry would make every claim write a second B-tree page (a third more
 * CPU per login, measured) to save that one scan.
 */
import type Database from "better-sqlite3";
import type { ClaimResult, ReplayStore } from "../../core/replay/store.js";

/** Seconds between sweeps of expired ids. */
const SWEEP_SECONDS = 60;

export class SqliteReplayStore implements ReplayStore {
  private readonly upsert: Database.Statement<[string, number, number]>;
  private readonly sweep: Database.Statement<[number]>;
  private nextSweep = 0;

  constructor(db: Database.Database) {
    this.upsert = db.prepare(
      "INSERT INTO used_tokens (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE used_tokens.expires_at <= ?",
    );
    this.sweep = db.prepare("DELETE FROM used_tokens WHERE expires_at <= ?");
  }

  claim(id: string, expiresAt: number, now: number): ClaimResult {
    if (now >= this.nextSweep) {
      this.nextSweep = now + SWEEP_SECONDS;
      this.sweep.run(Math.floor(now));
    }
    // Whole seconds, rounded up: an entry is never forgotten before the token stops verifying.
    return this.upsert.run(id, Math.ceil(expiresAt), Math.floor(now)).changes === 1 ? "claimed" : "replayed";
  }

  /** The same row as claim(id) for the signature's text (canonical base64, as replayId gives). */
  claimSignature(signature: Uint8Array, expiresAt: number, now: number): ClaimResult {
    return this.claim(Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64"), expiresAt, now);
  }
}
