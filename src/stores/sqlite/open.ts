/** Opens the SQLite engine of Storage: one database file in one data directory. */
import { StorageOpenError, holdDataDirectory, openDatabase, type Synchronous } from "./database.js";
import { SqliteReplayStore } from "./replay-store.js";
import { SqliteRosterRecords } from "./roster-records.js";
import { SqliteOfflineMessages } from "./offline-messages.js";
import { SqliteWebSessions } from "./web-sessions.js";
import { SqliteAccounts } from "./accounts.js";
import { SqliteOtpCredentials } from "./otp-credentials.js";
import { SqliteFastTokens } from "./fast-tokens.js";
import { SqliteRevocations } from "./revocations.js";
import { SqliteClientCertificates } from "./client-certificates.js";
import type { Storage } from "../../core/records/storage.js";
import { DEFAULT_OFFLINE_LIMITS, type OfflineLimits } from "../../core/records/offline.js";

export interface SqliteStorageOptions {
  /** The data directory (created 0700 when missing); the database is `x-token.sqlite` in it. */
  dir: string;
  synchronous?: Synchronous;
  offlineLimits?: OfflineLimits;
  /**
   * Hold the directory for this process alone (a server: it keeps rosters and sessions in memory
   * too, so two servers on one directory would not see each other's changes). Off for processes
   * that only share used tokens (`x-token extauth` workers).
   */
  exclusive?: boolean;
  busyTimeoutMs?: number;
  /** The most the database may grow to, in bytes (OpenDatabaseOptions.maxBytes). */
  maxBytes?: number;
}

export interface SqliteStorage extends Storage {
  /** The database file. */
  readonly path: string;
  /** Copies the database, while it is in use, to `destination` (SQLite's online backup). */
  backup(destination: string): Promise<void>;
}

export function openSqliteStorage({ dir, synchronous, offlineLimits = DEFAULT_OFFLINE_LIMITS, exclusive = false, busyTimeoutMs, maxBytes }: SqliteStorageOptions): SqliteStorage {
  const hold = exclusive ? holdDataDirectory(dir) : null;
  let opened;
  try {
    opened = openDatabase({ dir, synchronous, busyTimeoutMs, maxBytes });
  } catch (err) {
    hold?.release();
    throw err;
  }
  const { db, path } = opened;
  let open = true;
  return {
    path,
    durable: true,
    where: `SQLite in ${path}`,
    replay: new SqliteReplayStore(db),
    accounts: new SqliteAccounts(db),
    rosters: new SqliteRosterRecords(db),
    offline: new SqliteOfflineMessages(db, offlineLimits),
    webSessions: new SqliteWebSessions(db),
    otp: new SqliteOtpCredentials(db),
    fast: new SqliteFastTokens(db),
    revocations: new SqliteRevocations(db),
    clientCerts: new SqliteClientCertificates(db),
    backup: async (destination) => {
      await db.backup(destination);
    },
    close() {
      // Stryker disable next-line ConditionalExpression: equivalent, closing again fails the checkpoint (caught) and closes closed handles, which better-sqlite3 allows
      if (!open) return;
      // Stryker disable next-line BooleanLiteral: equivalent, as above: a second close does nothing either way
      open = false;
      // Folds the WAL back into the file, so a stopped server leaves one file to copy.
      try {
        db.pragma("wal_checkpoint(TRUNCATE)");
      } catch {
        // Another process still reading: the WAL stays beside the file, which is just as safe.
      }
      db.close();
      hold?.release();
    },
  };
}

export { StorageOpenError };
