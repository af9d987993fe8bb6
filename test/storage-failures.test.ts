/**
 * Failure is loud and safe: a database that cannot be opened stops `x-token serve` with one line
 * and exit 74 (real processes, real files), and a database that fills up while running refuses
 * what needed the write (a login gets temporary-auth-failure, a roster set an error) while what
 * was acknowledged before stays. The full database is real: SQLite's max_page_count
 * (`storage.maxSizeMiB` / `maxBytes`) makes it answer SQLITE_FULL as a full disk would.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import Database from "better-sqlite3";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DATABASE_FILE, SCHEMA_VERSION, openSqliteStorage } from "../src/stores/sqlite/index.js";
import { spawn } from "node:child_process";
import { BINARY } from "./helpers/cli.js";
import { startServe } from "./helpers/serve-process.js";
import { loginRaw, RawClient, saslAuth, startTestServer, streamHeader } from "./helpers/server.js";

const root = mkdtempSync(join(tmpdir(), "x-token-storage-failures-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const folder = () => join(root, `case-${n++}`);
const ENV = { XTOKEN_DOMAIN: "example.test", XTOKEN_SECRET: "storage-failure-test-secret", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY", XMPP_REQUIRE_TLS: "false", XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" };

/** `x-token serve` on `dataDir`, as the user `uid` when given: its exit code and stderr. */
async function serveFails(dataDir: string, uid?: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BINARY, "serve"], {
    env: { PATH: process.env.PATH, ...ENV, XTOKEN_DATA_DIR: dataDir },
    ...(uid !== undefined ? { uid, gid: uid } : {}),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stderr };
}

describe("a database that cannot be opened stops the start: one line, exit 74", () => {
  const oneLine = (stderr: string) => stderr.trim().split("\n").filter((line) => !line.startsWith("Warning:"));

  test("a folder this user cannot write", async () => {
    const parent = folder();
    mkdirSync(parent, { mode: 0o755 });
    chmodSync(parent, 0o755);
    // Tests run as root, whom permissions do not stop: the server runs as nobody (65534) here.
    const result = await serveFails(join(parent, "data"), process.getuid?.() === 0 ? 65534 : undefined);
    expect(result.code).toBe(74);
    expect(oneLine(result.stderr)).toEqual([expect.stringMatching(/^x-token: storage: cannot use the data directory .*\/data: EACCES.*; make it writable by this user or choose another with XTOKEN_DATA_DIR/)]);
  });

  test("a damaged file", async () => {
    const dir = folder();
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, DATABASE_FILE), Buffer.alloc(8192, 0x5a), { mode: 0o600 });
    const result = await serveFails(dir);
    expect(result.code).toBe(74);
    expect(oneLine(result.stderr)).toEqual([`x-token: storage: ${join(dir, DATABASE_FILE)} is damaged or not an x-token database (SQLITE_NOTADB); restore it from a backup, or move it away to start empty`]);
  });

  test("a schema newer than this version", async () => {
    const dir = folder();
    openSqliteStorage({ dir }).close();
    const db = new Database(join(dir, DATABASE_FILE));
    db.pragma(`user_version = ${SCHEMA_VERSION + 4}`);
    db.close();
    const result = await serveFails(dir);
    expect(result.code).toBe(74);
    expect(oneLine(result.stderr)).toEqual([expect.stringContaining(`has schema version ${SCHEMA_VERSION + 4}, newer than this x-token knows (${SCHEMA_VERSION}); run the newer x-token, or restore a backup`)]);
  });

  test("another server holding the folder", async () => {
    const dir = folder();
    const first = await startServe({ ...ENV, XTOKEN_DATA_DIR: dir });
    try {
      const result = await serveFails(dir);
      expect(result.code).toBe(74);
      expect(oneLine(result.stderr)).toEqual([`x-token: storage: the data directory ${dir} is in use by another x-token server; stop it, or give this one its own XTOKEN_DATA_DIR`]);
      // The first one is unharmed.
      expect(first.child.exitCode).toBeNull();
    } finally {
      await first.stop();
    }
  });
});

describe("a database that refuses writes while running", () => {
  test("refuses the login (temporary-auth-failure) and the roster change, and keeps what it acknowledged", async () => {
    // The writes fail for real: another connection holds the database's write lock past the
    // server's busy timeout (SQLITE_BUSY), as a stuck process or a disk that stopped answering
    // would. (A full file, SQLITE_FULL, is the same path: test/sqlite-storage.test.ts.)
    const dir = folder();
    const storage = openSqliteStorage({ dir, busyTimeoutMs: 100 });
    const t = await startTestServer({ requireTls: false, storage });
    const blocker = new Database(join(dir, DATABASE_FILE));
    try {
      const { client: alice } = await loginRaw(t, "alice");
      alice.write("<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='bob@example.test' name='Bob'/></query></iq>");
      await alice.waitFor(/type=["']result["']/);
      alice.clear();
      blocker.exec("BEGIN IMMEDIATE");

      const client = await RawClient.connect(t.server.ports.c2s!);
      client.write(streamHeader());
      await client.waitFor("</stream:features>");
      client.clear();
      const token = t.mint("carol");
      client.write(saslAuth("carol", token));
      await client.waitFor("</failure>");
      expect(client.received).toContain("<temporary-auth-failure/>");
      expect(t.logLines.some((line) => /authentication failed for carol@example\.test .*replay-store-error/.test(line))).toBe(true);

      alice.write("<iq type='set' id='more'><query xmlns='jabber:iq:roster'><item jid='dave@example.test' name='Dave'/></query></iq>");
      const answer = await alice.waitFor(/id=["']more["'][\s\S]*<\/iq>/);
      expect(answer).toMatch(/type=["']error["']/);
      expect(answer).toMatch(/<internal-server-error xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']\/>/);
      alice.clear();
      alice.write("<iq type='get' id='get'><query xmlns='jabber:iq:roster'/></iq>");
      const roster = await alice.waitFor(/id=["']get["'][\s\S]*<\/iq>/);
      expect(roster).toContain("bob@example.test");
      expect(roster).not.toContain("dave@example.test");

      alice.clear();
      alice.write("<presence to='bob@example.test' type='subscribe'/>");
      const refused = await alice.waitFor(/<presence[^>]*type=["']error["'][\s\S]*?<\/presence>/);
      expect(refused).toMatch(/<internal-server-error xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']\/>/);
      expect(t.logLines.some((line) => line.includes("subscription subscribe from alice@example.test to bob@example.test not stored"))).toBe(true);
      expect(t.server.rosters.get("alice@example.test", "bob@example.test")).toMatchObject({ subscription: "none", ask: false });

      // Once the database answers again, the same token logs in: the refusal did not use it up.
      blocker.exec("ROLLBACK");
      client.write(saslAuth("carol", token));
      await client.waitFor("<success");
      client.destroy();
      alice.destroy();
    } finally {
      blocker.close();
      await t.close();
      storage.close();
    }
    // What was acknowledged is in the file, and nothing else.
    const again = openSqliteStorage({ dir });
    expect(again.rosters!.items("alice@example.test").map((i) => i.jid)).toEqual(["bob@example.test"]);
    again.close();
  });
});
