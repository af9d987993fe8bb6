/**
 * Opens the SQLite database in a data directory: the folder (0700) and the file (0600) private,
 * WAL mode so readers never wait for the writer and other processes (extauth workers) can share
 * the file, a busy timeout for them, forward migrations, and a check that the file is whole. Every
 * way it can fail is a StorageOpenError with one line that names the file and the fix.
 */
import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.js";

export const DATABASE_FILE = "x-token.sqlite";
const LOCK_FILE = "server.lock";

/** The database cannot be used: the start stops with this one line. */
export class StorageOpenError extends Error {
  override readonly name = "StorageOpenError";
}

/**
 * How commits reach the disk. `normal` (default): a commit is in the WAL before the call returns,
 * so it survives the process being killed at any instant; the last commits can be lost if the
 * machine itself loses power. `full`: each commit is also synced to the disk (slower writes).
 */
export type Synchronous = "normal" | "full";

export interface OpenDatabaseOptions {
  dir: string;
  synchronous?: Synchronous;
  /** Milliseconds a write waits for another process's write to finish (default 5000). */
  busyTimeoutMs?: number;
  /**
   * The most the database file may grow to, in bytes (rounded down to whole pages); a write past
   * it fails as on a full disk (SQLITE_FULL) and the operation that needed it is refused.
   * Default: no cap but the disk's.
   */
  maxBytes?: number;
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  return `${message}${e.code && !message.includes(e.code) ? ` (${e.code})` : ""}`;
}

/** The folder exists and is private; a folder we cannot create or enter stops here. */
function privateFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (err) {
    throw new StorageOpenError(`storage: cannot use the data directory ${dir}: ${reason(err)}; make it writable by this user or choose another with XTOKEN_DATA_DIR (or storage.dir)`);
  }
}

/** The file exists with mode 0600 before SQLite opens it (SQLite gives its WAL the file's mode). */
function privateFile(path: string): void {
  try {
    // Stryker disable next-line ConditionalExpression: equivalent, opening an existing file to append and closing it changes nothing (the mode applies only to a new file)
    if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch (err) {
    throw new StorageOpenError(`storage: cannot create the database ${path}: ${reason(err)}; make the folder writable by this user`);
  }
}

function migrate(db: Database.Database, path: string): void {
  const version = () => db.pragma("user_version", { simple: true }) as number;
  if (version() > SCHEMA_VERSION) {
    throw new StorageOpenError(`storage: ${path} has schema version ${version()}, newer than this x-token knows (${SCHEMA_VERSION}); run the newer x-token, or restore a backup made for this version`);
  }
  for (let next = version(); next < SCHEMA_VERSION; next++) {
    db.transaction(() => {
      // Another process may have migrated while this one waited for the write lock.
      if (version() !== next) return;
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    }).immediate();
  }
}

/** Opens (creating and migrating when needed) the database in `dir`. */
export function openDatabase({ dir, synchronous = "normal", busyTimeoutMs = 5000, maxBytes }: OpenDatabaseOptions): { db: Database.Database; path: string } {
  const folder = resolve(dir);
  privateFolder(folder);
  const path = join(folder, DATABASE_FILE);
  privateFile(path);
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (err) {
    throw new StorageOpenError(`storage: cannot open ${path}: ${reason(err)}`);
  }
  try {
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
    db.pragma("foreign_keys = ON");
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") throw Object.assign(new Error(String(check)), { code: "SQLITE_CORRUPT" });
    migrate(db, path);
    if (maxBytes !== undefined) {
      const pageSize = db.pragma("page_size", { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`);
    }
  } catch (err) {
    db.close();
    if (err instanceof StorageOpenError) throw err;
    // Stryker disable next-line StringLiteral: equivalent, no other text for a missing code starts with an SQLite code either
    const code = (err as { code?: string }).code ?? "";
    if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
      throw new StorageOpenError(`storage: ${path} is damaged or not an x-token database (${code}); restore it from a backup, or move it away to start empty`);
    }
    if (code.startsWith("SQLITE_BUSY")) {
      throw new StorageOpenError(`storage: ${path} is locked by another process for longer than ${busyTimeoutMs} ms`);
    }
    throw new StorageOpenError(`storage: cannot use ${path}: ${reason(err)}`);
  }
  return { db, path };
}

/**
 * Holds the data directory for this process alone, for as long as the returned handle is open: a
 * second server pointed at the same folder stops at start instead of sharing rosters and
 * sessions it does not know the other has in memory. An SQLite file in exclusive locking mode
 * whose lock the operating system drops when the process ends, however it ends. Readers that
 * only share used tokens (extauth workers) do not take it.
 */
export function holdDataDirectory(dir: string): { release(): void } {
  privateFolder(resolve(dir));
  const path = join(resolve(dir), LOCK_FILE);
  privateFile(path);
  let lock: Database.Database | null = null;
  try {
    lock = new Database(path, { timeout: 0 });
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder; INSERT INTO holder VALUES (" + process.pid + "); COMMIT;");
  } catch (err) {
    lock?.close();
    // Stryker disable next-line StringLiteral: equivalent, no other text for a missing code starts with an SQLite code either
    const code = (err as { code?: string }).code ?? "";
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
      throw new StorageOpenError(`storage: the data directory ${resolve(dir)} is in use by another x-token server; stop it, or give this one its own XTOKEN_DATA_DIR`);
    }
    throw new StorageOpenError(`storage: cannot lock the data directory ${resolve(dir)}: ${reason(err)}`);
  }
  const held = lock;
  return { release: () => held.close() };
}
