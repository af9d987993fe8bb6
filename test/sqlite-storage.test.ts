/**
 * The SQLite engine (src/stores/sqlite) on real files in a temporary data directory: what it
 * stores is read back by a new connection (a restart), two connections share used tokens, each
 * way opening can fail is one StorageOpenError line, and a full database refuses writes without
 * changing what the server holds.
 */
import { afterEach, describe, expect, test } from "@jest/globals";
import Database from "better-sqlite3";
import { chmodSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DATABASE_FILE, SCHEMA_VERSION, StorageOpenError, openSqliteStorage, type SqliteStorage } from "../src/stores/sqlite/index.js";
import { RosterStore, DEFAULT_ROSTER_LIMITS } from "../src/server/roster/store.js";
import type { RosterItem } from "../src/core/records/roster.js";

const dirs: string[] = [];
const opened: SqliteStorage[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "x-token-sqlite-"));
  dirs.push(dir);
  return dir;
}

function open(dir: string, options: Partial<Parameters<typeof openSqliteStorage>[0]> = {}): SqliteStorage {
  const storage = openSqliteStorage({ dir, ...options });
  opened.push(storage);
  return storage;
}

function openError(dir: string, options: Partial<Parameters<typeof openSqliteStorage>[0]> = {}): string {
  try {
    open(dir, options);
  } catch (err) {
    if (err instanceof StorageOpenError) return err.message;
    throw err;
  }
  throw new Error("opened");
}

afterEach(() => {
  for (const storage of opened.splice(0)) storage.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const item = (jid: string, extra: Partial<RosterItem> = {}): RosterItem => ({ jid, subscription: "none", ask: false, groups: [], ...extra });

describe("SQLite storage: files and schema", () => {
  test("the folder is 0700 and the database 0600, in WAL mode at the current schema version", () => {
    const dir = join(tempDir(), "data");
    const storage = open(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, DATABASE_FILE)).mode & 0o777).toBe(0o600);
    storage.close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  test("an existing folder with wider permissions is made private", () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    open(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test("a schema newer than this version stops the open with one line", () => {
    const dir = tempDir();
    open(dir).close();
    const db = new Database(join(dir, DATABASE_FILE));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const message = openError(dir);
    expect(message).toContain(`schema version ${SCHEMA_VERSION + 1}, newer than this x-token knows (${SCHEMA_VERSION})`);
    expect(message).not.toContain("\n");
  });

  test("a file that is not a database, and a truncated database, are refused as damaged", () => {
    const garbage = tempDir();
    writeFileSync(join(garbage, DATABASE_FILE), "this is not an SQLite database, just text that is long enough to have a header".repeat(100));
    expect(openError(garbage)).toMatch(/is damaged or not an x-token database \(SQLITE_NOTADB\); restore it from a backup/);

    const truncated = tempDir();
    const storage = open(truncated);
    for (let i = 0; i < 2000; i++) storage.rosters!.put(`user${i}@example.test`, item(`contact${i}@example.test`, { name: "x".repeat(100) }));
    storage.close();
    const size = statSync(join(truncated, DATABASE_FILE)).size;
    truncateSync(join(truncated, DATABASE_FILE), Math.floor(size / 2));
    expect(openError(truncated)).toMatch(/is damaged or not an x-token database \(SQLITE_CORRUPT\w*\)/);
  });

  test("a data directory that cannot be created names the folder and the setting", () => {
    const parent = tempDir();
    writeFileSync(join(parent, "a-file"), "");
    expect(openError(join(parent, "a-file", "data"))).toMatch(/^storage: cannot use the data directory .*a-file\/data: .*ENOTDIR.*; make it writable by this user or choose another with XTOKEN_DATA_DIR/);
  });

  test("a server holds its data directory: a second one is refused, a reader (extauth) is not", () => {
    const dir = tempDir();
    const first = open(dir, { exclusive: true });
    expect(openError(dir, { exclusive: true })).toBe(`storage: the data directory ${dir} is in use by another x-token server; stop it, or give this one its own XTOKEN_DATA_DIR`);
    const reader = open(dir);
    expect(reader.replay.claim("shared-id", 2_000_000_000, 1_000)).toBe("claimed");
    first.close();
    // Released on close: the next server starts.
    open(dir, { exclusive: true });
  });
});

describe("SQLite storage: what it keeps", () => {
  test("a used token is refused by the next connection (a restart) and by another connection at the same time", () => {
    const dir = tempDir();
    const a = open(dir);
    const b = open(dir);
    expect(a.replay.claim("token-1", 1_000_100, 1_000_000)).toBe("claimed");
    expect(b.replay.claim("token-1", 1_000_100, 1_000_000)).toBe("replayed");
    expect(a.replay.claim("token-1", 1_000_100, 1_000_050)).toBe("replayed");
    a.close();
    b.close();
    const after = open(dir);
    expect(after.replay.claim("token-1", 1_000_100, 1_000_060)).toBe("replayed");
    // Once it could no longer verify, the id may be claimed again (and is remembered again).
    expect(after.replay.claim("token-1", 1_000_300, 1_000_100)).toBe("claimed");
    expect(after.replay.claim("token-1", 1_000_300, 1_000_101)).toBe("replayed");
  });

  test("claimSignature and claim of the signature's text are one row", () => {
    const storage = open(tempDir());
    const bytes = new Uint8Array(64).fill(7);
    const signature = bytes.subarray(16, 48);
    expect(storage.replay.claimSignature!(signature, 2_000, 1_000)).toBe("claimed");
    expect(storage.replay.claim(Buffer.from(signature).toString("base64"), 2_000, 1_000)).toBe("replayed");
  });

  test("rosters and waiting requests come back after a restart, in the order they were added", () => {
    const dir = tempDir();
    const first = open(dir);
    const store = new RosterStore(DEFAULT_ROSTER_LIMITS, first.rosters);
    store.put("alice@example.test", item("carol@example.test", { name: "Carol", groups: ["Friends", "Work"], subscription: "both" }));
    store.put("alice@example.test", item("bob@example.test", { ask: true }));
    store.put("bob@example.test", item("alice@example.test", { subscription: "from" }));
    store.remove("bob@example.test", "alice@example.test");
    store.addPending("bob@example.test", "alice@example.test");
    first.close();

    const again = new RosterStore(DEFAULT_ROSTER_LIMITS, open(dir).rosters);
    expect(again.items("alice@example.test")).toEqual([
      { jid: "carol@example.test", name: "Carol", subscription: "both", ask: false, groups: ["Friends", "Work"] },
      { jid: "bob@example.test", subscription: "none", ask: true, groups: [] },
    ]);
    expect(again.items("bob@example.test")).toEqual([]);
    expect(again.totalItems).toBe(2);
    expect(again.pendingFor("bob@example.test")).toEqual(["alice@example.test"]);
  });

  test("a unit that fails stores none of its writes, and memory is read back from the records", () => {
    const dir = tempDir();
    const storage = open(dir);
    const store = new RosterStore(DEFAULT_ROSTER_LIMITS, storage.rosters);
    store.put("alice@example.test", item("bob@example.test"));
    const sent: string[] = [];
    expect(() =>
      store.atomically(() => {
        store.put("alice@example.test", item("bob@example.test", { subscription: "to" }));
        store.put("bob@example.test", item("alice@example.test", { subscription: "from" }));
        store.afterCommit(() => sent.push("push"));
        throw new Error("the second half failed");
      }),
    ).toThrow("the second half failed");
    expect(sent).toEqual([]);
    expect(store.items("alice@example.test")).toEqual([item("bob@example.test")]);
    expect(store.items("bob@example.test")).toEqual([]);
    storage.close();
    expect(new RosterStore(DEFAULT_ROSTER_LIMITS, open(dir).rosters).items("bob@example.test")).toEqual([]);
  });

  test("offline messages: oldest first, bounded in count and bytes, taken once, kept across a restart", () => {
    const dir = tempDir();
    const first = open(dir, { offlineLimits: { maxMessagesPerAccount: 3, maxBytesPerAccount: 100 } });
    expect(first.offline.add("bob@example.test", { stanza: "<message>1</message>", storedAt: 1000 })).toBe("stored");
    expect(first.offline.add("bob@example.test", { stanza: "<message>2</message>", storedAt: 2000 })).toBe("stored");
    expect(first.offline.add("bob@example.test", { stanza: `<message>${"x".repeat(80)}</message>`, storedAt: 3000 })).toBe("full");
    expect(first.offline.add("bob@example.test", { stanza: "<message>3</message>", storedAt: 3000 })).toBe("stored");
    expect(first.offline.add("bob@example.test", { stanza: "<message>4</message>", storedAt: 4000 })).toBe("full");
    first.close();
    const again = open(dir, { offlineLimits: { maxMessagesPerAccount: 3, maxBytesPerAccount: 100 } });
    const other = open(dir);
    expect(again.offline.count("bob@example.test")).toBe(3);
    expect(again.offline.take("bob@example.test")).toEqual([
      { stanza: "<message>1</message>", storedAt: 1000 },
      { stanza: "<message>2</message>", storedAt: 2000 },
      { stanza: "<message>3</message>", storedAt: 3000 },
    ]);
    expect(other.offline.take("bob@example.test")).toEqual([]);
  });

  test("accounts and web sessions are kept", () => {
    const dir = tempDir();
    const first = open(dir);
    first.accounts.add("alice@example.test");
    first.webSessions!.add({ idHash: "a".repeat(64), username: "alice", expiresAt: 2000, createdAt: 1 });
    first.webSessions!.add({ idHash: "b".repeat(64), username: "bob", expiresAt: 1000, createdAt: 2 });
    first.close();
    const again = open(dir);
    expect(again.accounts.has("alice@example.test")).toBe(true);
    expect(again.accounts.has("mallory@example.test")).toBe(false);
    again.webSessions!.removeExpired(1500);
    expect(again.webSessions!.all()).toEqual([{ idHash: "a".repeat(64), username: "alice", expiresAt: 2000, createdAt: 1 }]);
  });
});

describe("SQLite storage: a full database", () => {
  test("refuses writes with an error, keeps what it acknowledged, and the roster in memory stays as stored", () => {
    const dir = tempDir();
    const storage = open(dir, { maxBytes: 64 * 1024 });
    const store = new RosterStore({ ...DEFAULT_ROSTER_LIMITS, maxItems: 100_000 }, storage.rosters);
    let stored = 0;
    let failure: unknown = null;
    for (let i = 0; i < 10_000 && !failure; i++) {
      try {
        store.put("alice@example.test", item(`contact${i}@example.test`, { name: "n".repeat(200) }));
        stored++;
      } catch (err) {
        failure = err;
      }
    }
    expect((failure as { code?: string }).code).toBe("SQLITE_FULL");
    expect(store.items("alice@example.test")).toHaveLength(stored);
    // Used tokens: the claim fails, it never answers "claimed".
    let claimError: unknown = null;
    for (let i = 0; i < 10_000 && !claimError; i++) {
      try {
        expect(storage.replay.claim(`token-${i}-${"t".repeat(40)}`, 2_000, 1_000)).toBe("claimed");
      } catch (err) {
        claimError = err;
      }
    }
    expect((claimError as { code?: string }).code).toBe("SQLITE_FULL");
    storage.close();
    expect(new RosterStore({ ...DEFAULT_ROSTER_LIMITS, maxItems: 100_000 }, open(dir).rosters).items("alice@example.test")).toHaveLength(stored);
  });
});
