/**
 * The SQLite engine's rules that `npm run mutate` (docs/mutation.md) found unchecked by the
 * in-process tests, on real database files in temporary folders: every way opening can fail and
 * the exact line it gives, an older schema migrated forward, the size cap in whole pages, the
 * data directory released when an open fails, the WAL folded back at close; OTP credentials (the
 * bounds, the one-move-per-code updates, imports that keep all or nothing); used tokens at their
 * expiry's edges and the sweep of expired ids; accounts; web sessions; offline messages' bounds.
 */
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import Database from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATABASE_FILE, SCHEMA_VERSION, SqliteAccounts, StorageOpenError, holdDataDirectory, openDatabase, openSqliteStorage, type SqliteStorage } from "../src/stores/sqlite/index.js";
import { MIGRATIONS } from "../src/stores/sqlite/schema.js";
import { MAX_OTP_CREDENTIALS_PER_ACCOUNT, OtpRecordsError, type OtpCredentialSpec } from "../src/core/records/otp.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

const opened: SqliteStorage[] = [];
const connections: Database.Database[] = [];

function open(dir: string, options: Partial<Parameters<typeof openSqliteStorage>[0]> = {}): SqliteStorage {
  const storage = openSqliteStorage({ dir, ...options });
  opened.push(storage);
  return storage;
}

/** A connection of its own to the database file, as another process would have. */
function raw(dir: string): Database.Database {
  const db = new Database(join(dir, DATABASE_FILE));
  connections.push(db);
  return db;
}

/** The StorageOpenError an action throws (its whole message), or a failure when it does not. */
function openError(action: () => unknown): string {
  try {
    action();
  } catch (err) {
    if (err instanceof StorageOpenError) return err.message;
    throw err;
  }
  throw new Error("opened");
}

afterEach(() => {
  for (const storage of opened.splice(0)) storage.close();
  for (const db of connections.splice(0)) db.close();
});
afterAll(removeTempDirs);

describe("opening: each failure is one line that names the file", () => {
  test("a schema newer than this version: the one line as it is, named StorageOpenError", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    open(dir).close();
    raw(dir).pragma(`user_version = ${SCHEMA_VERSION + 7}`);
    const path = join(dir, DATABASE_FILE);
    let thrown: unknown = null;
    try {
      open(dir);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StorageOpenError);
    expect((thrown as Error).name).toBe("StorageOpenError");
    expect((thrown as Error).message).toBe(
      `storage: ${path} has schema version ${SCHEMA_VERSION + 7}, newer than this x-token knows (${SCHEMA_VERSION}); run the newer x-token, or restore a backup made for this version`,
    );
  });

  test("a database a migration cannot take: the migration's error, not a damaged file nor a lock", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const odd = raw(dir);
    odd.exec(MIGRATIONS[0]!);
    // A table the next migration creates is already there (a hand-made file, a half-restored backup).
    odd.exec("CREATE TABLE otp_credentials (x)");
    odd.pragma("user_version = 1");
    connections.splice(connections.indexOf(odd), 1);
    odd.close();
    const path = join(dir, DATABASE_FILE);
    expect(openError(() => open(dir))).toBe(`storage: cannot use ${path}: table otp_credentials already exists (SQLITE_ERROR)`);
    // Nothing of the failed migration is kept: the file is still at version 1.
    expect(raw(dir).pragma("user_version", { simple: true })).toBe(1);
  });

  test("a database file with wider permissions is made 0600 again", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    open(dir).close();
    chmodSync(join(dir, DATABASE_FILE), 0o644);
    open(dir);
    expect(statSync(join(dir, DATABASE_FILE)).mode & 0o777).toBe(0o600);
  });

  test("a database that cannot be created names the file and the fix, with the system's reason once", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    // A dangling link: the file looks absent, and creating it fails (its folder does not exist).
    symlinkSync(join(dir, "missing", "x.sqlite"), join(dir, DATABASE_FILE));
    const path = join(dir, DATABASE_FILE);
    expect(openError(() => open(dir))).toBe(
      `storage: cannot create the database ${path}: ENOENT: no such file or directory, open '${path}'; make the folder writable by this user`,
    );
  });

  test("a data directory under a file: the system's reason, its code given once", () => {
    const parent = tempDir("x-token-mut-sqlite-");
    writeFileSync(join(parent, "a-file"), "");
    const dir = join(parent, "a-file", "data");
    expect(openError(() => open(dir))).toBe(
      `storage: cannot use the data directory ${dir}: ENOTDIR: not a directory, mkdir '${dir}'; make it writable by this user or choose another with XTOKEN_DATA_DIR (or storage.dir)`,
    );
  });

  test("a database SQLite cannot open (a folder in its place): the reason with SQLite's code", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    mkdirSync(join(dir, DATABASE_FILE));
    const message = openError(() => open(dir));
    expect(message).toMatch(new RegExp(`^storage: cannot open ${join(dir, DATABASE_FILE).replace(/[.]/g, "\\.")}: .+ \\(SQLITE_CANTOPEN\\)$`));
  });

  test("a file whose data pages are damaged (header and schema whole) fails the integrity check", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const storage = open(dir);
    const file = join(dir, DATABASE_FILE);
    const probe = raw(dir);
    const pageSize = probe.pragma("page_size", { simple: true }) as number;
    const schemaPages = probe.pragma("page_count", { simple: true }) as number;
    for (let i = 0; i < 300; i++) storage.replay.claim(`token-${i}-${"t".repeat(60)}`, 2_000_000_000, 1_000);
    storage.close();
    const pages = probe.pragma("page_count", { simple: true }) as number;
    connections.splice(connections.indexOf(probe), 1);
    probe.close();
    expect(pages).toBeGreaterThan(schemaPages);
    // Garbage over the pages the used tokens added: the file opens and its schema reads, and only
    // the integrity check sees the damage.
    const bytes = readFileSync(file);
    bytes.fill(0x5a, schemaPages * pageSize, pages * pageSize);
    writeFileSync(file, bytes);
    expect(openError(() => open(dir))).toBe(`storage: ${file} is damaged or not an x-token database (SQLITE_CORRUPT); restore it from a backup, or move it away to start empty`);
  });

  test("a database another process holds locked past the busy timeout: locked, with the timeout", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const holder = raw(dir);
    holder.pragma("locking_mode = EXCLUSIVE");
    holder.exec("CREATE TABLE held (x); INSERT INTO held VALUES (1);");
    const path = join(dir, DATABASE_FILE);
    expect(openError(() => open(dir, { busyTimeoutMs: 30 }))).toBe(`storage: ${path} is locked by another process for longer than 30 ms`);
  });

  test("the data directory held by a server is released when the open fails, so a later start works", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    writeFileSync(join(dir, DATABASE_FILE), "not a database ".repeat(100));
    expect(openError(() => open(dir, { exclusive: true }))).toMatch(/is damaged or not an x-token database/);
    writeFileSync(join(dir, DATABASE_FILE), "");
    const storage = open(dir, { exclusive: true });
    expect(storage.replay.claim("after", 2_000, 1_000)).toBe("claimed");
  });

  test("a lock file that cannot be opened is refused by name, not as a server in the way", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    mkdirSync(join(dir, "server.lock"));
    expect(openError(() => holdDataDirectory(dir))).toMatch(new RegExp(`^storage: cannot lock the data directory ${dir.replace(/[.]/g, "\\.")}: .+\\(SQLITE_CANTOPEN\\)$`));
  });

  test("the holder's pid is written in the lock file, and release lets the next holder in", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const held = holdDataDirectory(dir);
    expect(openError(() => holdDataDirectory(dir))).toMatch(/is in use by another x-token server/);
    held.release();
    const again = holdDataDirectory(dir);
    again.release();
    const lock = new Database(join(dir, "server.lock"), { readonly: true });
    expect(lock.prepare("SELECT pid FROM holder").pluck().all()).toEqual([process.pid]);
    lock.close();
  });
});

describe("opening: settings and schema", () => {
  test("each connection: WAL, foreign keys on, synchronous NORMAL by default and FULL when asked", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const normal = openDatabase({ dir });
    const full = openDatabase({ dir, synchronous: "full" });
    try {
      expect(normal.db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(normal.db.pragma("foreign_keys", { simple: true })).toBe(1);
      expect(normal.db.pragma("synchronous", { simple: true })).toBe(1);
      expect(full.db.pragma("synchronous", { simple: true })).toBe(2);
      expect(normal.path).toBe(join(dir, DATABASE_FILE));
    } finally {
      normal.db.close();
      full.db.close();
    }
  });

  test("the busy timeout is the one given (5 s by default)", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const plain = openDatabase({ dir });
    const short = openDatabase({ dir, busyTimeoutMs: 250 });
    try {
      expect(plain.db.pragma("busy_timeout", { simple: true })).toBe(5000);
      expect(short.db.pragma("busy_timeout", { simple: true })).toBe(250);
    } finally {
      plain.db.close();
      short.db.close();
    }
  });

  test("maxBytes caps the file in whole pages, rounded down; below one page, nothing more is written", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const plain = openDatabase({ dir });
    const pageSize = plain.db.pragma("page_size", { simple: true }) as number;
    const unlimited = plain.db.pragma("max_page_count", { simple: true }) as number;
    plain.db.close();
    const capped = openDatabase({ dir, maxBytes: 100 * pageSize + pageSize - 1 });
    expect(capped.db.pragma("max_page_count", { simple: true })).toBe(100);
    expect(unlimited).toBeGreaterThan(100_000);
    capped.db.close();
    const tiny = open(dir, { maxBytes: 1 });
    expect(() => {
      for (let i = 0; i < 50; i++) tiny.replay.claim(`token-${i}-${"t".repeat(200)}`, 2_000, 1_000);
    }).toThrow(expect.objectContaining({ code: "SQLITE_FULL" }));
  });

  test("a database at an older schema version is migrated forward, keeping its rows", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const old = raw(dir);
    old.exec(MIGRATIONS[0]!);
    old.pragma("user_version = 1");
    old.prepare("INSERT INTO accounts (jid, first_login) VALUES (?, ?)").run("alice@example.test", 1);
    connections.splice(connections.indexOf(old), 1);
    old.close();
    const storage = open(dir);
    expect(storage.accounts.has("alice@example.test")).toBe(true);
    expect(storage.otp!.all()).toEqual([]);
    const check = raw(dir);
    expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(["otp_credentials", "accounts", "used_tokens"]));
  });

  test("the storage says where it keeps data, that it is durable, and backs up a live database", async () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const storage = open(dir);
    expect(storage.durable).toBe(true);
    expect(storage.where).toBe(`SQLite in ${join(dir, DATABASE_FILE)}`);
    expect(storage.path).toBe(join(dir, DATABASE_FILE));
    storage.accounts.add("alice@example.test");
    const copyDir = tempDir("x-token-mut-sqlite-copy-");
    await storage.backup(join(copyDir, DATABASE_FILE));
    expect(open(copyDir).accounts.has("alice@example.test")).toBe(true);
  });

  test("close folds the WAL back into the file even while another process keeps it open", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const storage = open(dir);
    const other = raw(dir);
    // The other connection has read the database, so it has the WAL open too: closing ours is not
    // the last close, which would fold the WAL back by itself.
    expect(other.prepare("SELECT count(*) FROM accounts").pluck().get()).toBe(0);
    for (let i = 0; i < 20; i++) storage.accounts.add(`user${i}@example.test`);
    const wal = join(dir, `${DATABASE_FILE}-wal`);
    expect(statSync(wal).size).toBeGreaterThan(0);
    storage.close();
    expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
    expect(other.prepare("SELECT count(*) FROM accounts").pluck().get()).toBe(20);
  });
});

const spec = (jid: string, name: string, extra: Partial<OtpCredentialSpec> = {}): OtpCredentialSpec => ({
  jid,
  name,
  kind: "hotp",
  algorithm: "sha1",
  digits: 6,
  period: null,
  secret: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
  pinHash: null,
  counter: 0,
  lastStep: null,
  ...extra,
});
const totp = (jid: string, name: string, extra: Partial<OtpCredentialSpec> = {}): OtpCredentialSpec =>
  spec(jid, name, { kind: "totp", period: 30, counter: 0, lastStep: null, ...extra });

describe("OTP credentials", () => {
  test("a credential is stored whole and read back, after a restart too, oldest first", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const first = open(dir);
    const before = Date.now();
    const phone = first.otp!.add(totp("alice@example.test", "phone", { algorithm: "sha256", digits: 8, period: 60, pinHash: "scrypt$x", lastStep: 7 }));
    const key = first.otp!.add(spec("alice@example.test", "key", { algorithm: "sha512", counter: 42, secret: Uint8Array.from([9, 9, 9]) }));
    const bob = first.otp!.add(spec("bob@example.test", "key"));
    expect(phone).toEqual({
      id: phone.id,
      jid: "alice@example.test",
      name: "phone",
      kind: "totp",
      algorithm: "sha256",
      digits: 8,
      period: 60,
      secret: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
      pinHash: "scrypt$x",
      counter: 0,
      lastStep: 7,
      createdAt: phone.createdAt,
    });
    expect(phone.secret).toBeInstanceOf(Uint8Array);
    expect(phone.createdAt).toBeGreaterThanOrEqual(before);
    expect(phone.createdAt).toBeLessThanOrEqual(Date.now());
    expect(key.id).toBeGreaterThan(phone.id);
    first.close();
    const again = open(dir);
    expect(again.otp!.forAccount("alice@example.test")).toEqual([phone, key]);
    expect(again.otp!.forAccount("carol@example.test")).toEqual([]);
    expect(again.otp!.all()).toEqual([phone, key, bob]);
  });

  test("a name is taken once per account, and an account holds at most the limit", () => {
    const otp = open(tempDir("x-token-mut-sqlite-")).otp!;
    otp.add(spec("alice@example.test", "phone"));
    otp.add(spec("bob@example.test", "phone"));
    expect(() => otp.add(spec("alice@example.test", "phone"))).toThrow(new OtpRecordsError('alice@example.test already has a credential named "phone"'));
    for (let i = 1; i < MAX_OTP_CREDENTIALS_PER_ACCOUNT; i++) otp.add(spec("alice@example.test", `key${i}`));
    expect(otp.forAccount("alice@example.test")).toHaveLength(MAX_OTP_CREDENTIALS_PER_ACCOUNT);
    expect(() => otp.add(spec("alice@example.test", "one-more"))).toThrow(
      new OtpRecordsError(`alice@example.test already has ${MAX_OTP_CREDENTIALS_PER_ACCOUNT} credentials, the most an account may have`),
    );
    expect(otp.forAccount("alice@example.test")).toHaveLength(MAX_OTP_CREDENTIALS_PER_ACCOUNT);
  });

  test("remove: one by name, or all of an account's; the count of removed; others untouched", () => {
    const otp = open(tempDir("x-token-mut-sqlite-")).otp!;
    otp.add(spec("alice@example.test", "phone"));
    otp.add(spec("alice@example.test", "key"));
    otp.add(spec("alice@example.test", "spare"));
    otp.add(spec("bob@example.test", "phone"));
    expect(otp.remove("alice@example.test", "key")).toBe(1);
    expect(otp.remove("alice@example.test", "key")).toBe(0);
    expect(otp.forAccount("alice@example.test").map((c) => c.name)).toEqual(["phone", "spare"]);
    expect(otp.remove("alice@example.test")).toBe(2);
    expect(otp.forAccount("alice@example.test")).toEqual([]);
    expect(otp.forAccount("bob@example.test").map((c) => c.name)).toEqual(["phone"]);
  });

  test("import: refused over existing credentials unless replacing; all or nothing", () => {
    const otp = open(tempDir("x-token-mut-sqlite-")).otp!;
    otp.add(spec("alice@example.test", "old"));
    otp.add(spec("bob@example.test", "old"));
    const batch = [spec("alice@example.test", "new"), spec("carol@example.test", "new"), spec("bob@example.test", "new")];
    expect(() => otp.importAll(batch, { replace: false })).toThrow(
      new OtpRecordsError("already have credentials (give --replace to replace them): alice@example.test, bob@example.test"),
    );
    expect(otp.all().map((c) => `${c.jid}/${c.name}`)).toEqual(["alice@example.test/old", "bob@example.test/old"]);
    // A refusal part-way (a name twice) keeps nothing, not even the removal of the replaced.
    expect(() => otp.importAll([...batch, spec("carol@example.test", "new")], { replace: true })).toThrow(OtpRecordsError);
    expect(otp.all().map((c) => `${c.jid}/${c.name}`)).toEqual(["alice@example.test/old", "bob@example.test/old"]);
    expect(otp.importAll(batch, { replace: true })).toEqual({ added: 3, replacedAccounts: 2 });
    expect(otp.all().map((c) => `${c.jid}/${c.name}`)).toEqual(["alice@example.test/new", "bob@example.test/new", "carol@example.test/new"]);
    expect(otp.importAll([spec("dave@example.test", "a"), spec("dave@example.test", "b")], { replace: false })).toEqual({ added: 2, replacedAccounts: 0 });
  });

  test("HOTP: the counter moves past a code only while it is at or below it, and only on HOTP", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const otp = open(dir).otp!;
    const hotp = otp.add(spec("alice@example.test", "key", { counter: 5 }));
    const time = otp.add(totp("alice@example.test", "phone"));
    expect(otp.advanceCounter(hotp.id, 4)).toBe(false);
    expect(otp.forAccount("alice@example.test")[0]!.counter).toBe(5);
    expect(otp.advanceCounter(hotp.id, 5)).toBe(true);
    expect(otp.forAccount("alice@example.test")[0]!.counter).toBe(6);
    // The same code again, by another process sharing the file: refused.
    expect(open(dir).otp!.advanceCounter(hotp.id, 5)).toBe(false);
    expect(otp.advanceCounter(hotp.id, 9)).toBe(true);
    expect(otp.forAccount("alice@example.test")[0]!.counter).toBe(10);
    expect(otp.advanceCounter(time.id, 20)).toBe(false);
    expect(otp.forAccount("alice@example.test")[1]!.counter).toBe(0);
    expect(otp.advanceCounter(9999, 0)).toBe(false);
  });

  test("TOTP: a step is recorded only while no later or equal step is, and only on TOTP", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const otp = open(dir).otp!;
    const time = otp.add(totp("alice@example.test", "phone"));
    const hotp = otp.add(spec("alice@example.test", "key"));
    expect(otp.claimStep(time.id, 100)).toBe(true);
    expect(otp.forAccount("alice@example.test")[0]!.lastStep).toBe(100);
    expect(open(dir).otp!.claimStep(time.id, 100)).toBe(false);
    expect(otp.claimStep(time.id, 99)).toBe(false);
    expect(otp.forAccount("alice@example.test")[0]!.lastStep).toBe(100);
    expect(otp.claimStep(time.id, 101)).toBe(true);
    expect(otp.forAccount("alice@example.test")[0]!.lastStep).toBe(101);
    expect(otp.claimStep(hotp.id, 5)).toBe(false);
    expect(otp.forAccount("alice@example.test")[1]!.lastStep).toBe(null);
  });

  test("setCounter resynchronises a HOTP credential, and nothing else", () => {
    const otp = open(tempDir("x-token-mut-sqlite-")).otp!;
    const hotp = otp.add(spec("alice@example.test", "key", { counter: 3 }));
    const time = otp.add(totp("alice@example.test", "phone"));
    expect(otp.setCounter(hotp.id, 1)).toBe(true);
    expect(otp.forAccount("alice@example.test")[0]!.counter).toBe(1);
    expect(otp.setCounter(time.id, 50)).toBe(false);
    expect(otp.forAccount("alice@example.test")[1]!.counter).toBe(0);
    expect(otp.setCounter(9999, 1)).toBe(false);
  });
});

describe("used tokens", () => {
  test("an id is held until its expiry (rounded up to the second), and free again from it", () => {
    const replay = open(tempDir("x-token-mut-sqlite-")).replay;
    expect(replay.claim("a", 100.5, 50)).toBe("claimed");
    // Stored as 101: at 100.9 (floored to 100) still held; at 101 free.
    expect(replay.claim("a", 200, 100.9)).toBe("replayed");
    expect(replay.claim("a", 200, 101)).toBe("claimed");
    expect(replay.claim("b", 100, 50)).toBe("claimed");
    expect(replay.claim("b", 200, 99)).toBe("replayed");
    expect(replay.claim("b", 200, 100)).toBe("claimed");
  });

  test("expired ids are swept once a minute, never one that still verifies", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const replay = open(dir).replay;
    const rows = raw(dir).prepare("SELECT id FROM used_tokens ORDER BY id").pluck();
    expect(replay.claim("early", 10, 0)).toBe("claimed");
    expect(replay.claim("late", 61, 30)).toBe("claimed");
    // Not a minute since the last sweep: the expired id is still there.
    expect(replay.claim("other", 1_000, 59)).toBe("claimed");
    expect(rows.all()).toEqual(["early", "late", "other"]);
    // A minute on (60.5 is floored to 60): "early" goes; "late" (61) is kept.
    expect(replay.claim("next", 1_000, 60.5)).toBe("claimed");
    expect(rows.all()).toEqual(["late", "next", "other"]);
    // The next sweep is a minute after that one.
    expect(replay.claim("more", 1_000, 120)).toBe("claimed");
    expect(rows.all()).toEqual(["late", "more", "next", "other"]);
    expect(replay.claim("last", 1_000, 120.5)).toBe("claimed");
    expect(rows.all()).toEqual(["last", "more", "next", "other"]);
  });
});

describe("accounts", () => {
  test("an account added by one process is known to another; an unknown one is not", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const a = open(dir);
    const b = open(dir);
    expect(b.accounts.has("alice@example.test")).toBe(false);
    const before = Date.now();
    a.accounts.add("alice@example.test");
    a.accounts.add("alice@example.test");
    expect(b.accounts.has("alice@example.test")).toBe(true);
    expect(b.accounts.has("bob@example.test")).toBe(false);
    expect(b.accounts.has("bob@example.test")).toBe(false);
    const row = raw(dir).prepare("SELECT jid, first_login FROM accounts").all() as { jid: string; first_login: number }[];
    expect(row).toHaveLength(1);
    expect(row[0]!.jid).toBe("alice@example.test");
    expect(row[0]!.first_login).toBeGreaterThanOrEqual(before);
    expect(row[0]!.first_login).toBeLessThanOrEqual(Date.now());
  });
});

describe("accounts: the cache of known accounts", () => {
  // An account row is never deleted (the cache relies on it); deleting rows behind the cache's
  // back is how a test sees what it answers from memory and what from the file.
  test("an account seen (added, or found in the file) is answered from memory; an unknown one never is", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const accounts = open(dir).accounts;
    const other = open(dir).accounts;
    const file = raw(dir);
    accounts.add("alice@example.test");
    other.add("bob@example.test");
    expect(accounts.has("bob@example.test")).toBe(true);
    expect(accounts.has("carol@example.test")).toBe(false);
    file.exec("DELETE FROM accounts");
    expect(accounts.has("alice@example.test")).toBe(true);
    expect(accounts.has("bob@example.test")).toBe(true);
    expect(accounts.has("carol@example.test")).toBe(false);
    // A known account is not written again.
    accounts.add("alice@example.test");
    expect(file.prepare("SELECT count(*) FROM accounts").pluck().get()).toBe(0);
    accounts.add("carol@example.test");
    expect(file.prepare("SELECT jid FROM accounts").pluck().all()).toEqual(["carol@example.test"]);
  });

  test("memory is bounded: at its size the cache starts again", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const { db } = openDatabase({ dir });
    connections.push(db);
    const accounts = new SqliteAccounts(db, 3);
    const file = raw(dir);
    for (const name of ["a", "b", "c", "d"]) file.prepare("INSERT INTO accounts (jid, first_login) VALUES (?, 0)").run(`${name}@example.test`);
    for (const name of ["a", "b", "c"]) expect(accounts.has(`${name}@example.test`)).toBe(true);
    file.exec("DELETE FROM accounts WHERE jid <> 'd@example.test'");
    // Full, not past it: every one still answered from memory.
    expect(accounts.has("a@example.test")).toBe(true);
    expect(accounts.has("c@example.test")).toBe(true);
    // One more: the cache is emptied and holds only the newest.
    expect(accounts.has("d@example.test")).toBe(true);
    expect(accounts.has("a@example.test")).toBe(false);
    file.exec("DELETE FROM accounts");
    expect(accounts.has("d@example.test")).toBe(true);
  });
});

describe("rosters: waiting subscription requests", () => {
  test("a request removed is gone after a restart; the others stay", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const first = open(dir);
    first.rosters!.addPending({ owner: "alice@example.test", requester: "bob@example.test" });
    first.rosters!.addPending({ owner: "alice@example.test", requester: "carol@example.test" });
    first.rosters!.addPending({ owner: "alice@example.test", requester: "bob@example.test" });
    first.rosters!.removePending({ owner: "alice@example.test", requester: "bob@example.test" });
    first.close();
    expect([...open(dir).rosters!.allPending()]).toEqual([{ owner: "alice@example.test", requester: "carol@example.test" }]);
  });
});

describe("web sessions", () => {
  test("kept with expiry rounded up and creation rounded; removed by hash; expired ones at their second", () => {
    const dir = tempDir("x-token-mut-sqlite-");
    const sessions = open(dir).webSessions!;
    sessions.add({ idHash: "a", username: "alice", expiresAt: 1000.2, createdAt: 10.6 });
    sessions.add({ idHash: "b", username: "bob", expiresAt: 1500, createdAt: 5 });
    sessions.add({ idHash: "c", username: "carol", expiresAt: 3000, createdAt: 20 });
    expect(sessions.all()).toEqual([
      { idHash: "b", username: "bob", expiresAt: 1500, createdAt: 5 },
      { idHash: "a", username: "alice", expiresAt: 1001, createdAt: 11 },
      { idHash: "c", username: "carol", expiresAt: 3000, createdAt: 20 },
    ]);
    sessions.remove("c");
    // 1001.9 floors to 1001: "a" (1001) goes, "b" (1500) stays.
    sessions.removeExpired(1001.9);
    expect(sessions.all().map((s) => s.idHash)).toEqual(["b"]);
    sessions.removeExpired(1499);
    expect(sessions.all().map((s) => s.idHash)).toEqual(["b"]);
  });
});

describe("offline messages", () => {
  test("the bounds at their edges: the last message that fits is stored, in count and in bytes", () => {
    const offline = open(tempDir("x-token-mut-sqlite-"), { offlineLimits: { maxMessagesPerAccount: 2, maxBytesPerAccount: 20 } }).offline;
    // Bytes in UTF-8, not characters: "é" is two. 10 bytes, then 13 (10 characters) do not fit in 20.
    expect(offline.add("bob@example.test", { stanza: "<m>é</m>x", storedAt: 1.4 })).toBe("stored");
    expect(offline.add("bob@example.test", { stanza: "<m>ééé</m>", storedAt: 2 })).toBe("full");
    expect(offline.add("bob@example.test", { stanza: "<m>xx</m>x", storedAt: 2.6 })).toBe("stored");
    expect(offline.count("bob@example.test")).toBe(2);
    expect(offline.add("carol@example.test", { stanza: "<m/>", storedAt: 3 })).toBe("stored");
    expect(offline.add("carol@example.test", { stanza: "<m/>", storedAt: 3 })).toBe("stored");
    expect(offline.add("carol@example.test", { stanza: "<m/>", storedAt: 3 })).toBe("full");
    expect(offline.take("bob@example.test")).toEqual([
      { stanza: "<m>é</m>x", storedAt: 1 },
      { stanza: "<m>xx</m>x", storedAt: 3 },
    ]);
    expect(offline.count("bob@example.test")).toBe(0);
    expect(offline.count("nobody@example.test")).toBe(0);
    // Taken: the account's room is free again.
    expect(offline.add("bob@example.test", { stanza: "<m>ééé</m>", storedAt: 4 })).toBe("stored");
    expect(offline.count("carol@example.test")).toBe(2);
    expect(offline.take("nobody@example.test")).toEqual([]);
  });
});
