/**
 * Demo sign-ins that survive restarts: the SessionStore over the storage's WebSessionRecords
 * (SQLite in a temporary data directory), then a real `x-token serve --dev` killed (SIGKILL) and
 * started again on the same XTOKEN_DATA_DIR, over HTTP and in Chromium. Only hashes of session
 * ids are ever stored; sign-out, eviction and expiry remove rows; a store that fails refuses the
 * sign-in (503) instead of handing out a session that would not survive.
 */
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import type { WebSessionRecord, WebSessionRecords } from "../src/core/records/web-sessions.js";
import { openSqliteStorage, type SqliteStorage } from "../src/stores/sqlite/index.js";
import { SessionStorageError, SessionStore, type SessionStoreOptions } from "../src/web/demo/session.js";
import { spawnCli, watch } from "./helpers/cli.js";
import { collectPageErrors, describeWithChromium, launchChromium } from "./helpers/browser.js";

const SECRET = "a-session-secret-for-the-web-sessions-test-0123456789";
const dirs: string[] = [];
const opened: SqliteStorage[] = [];

function tempDir(prefix = "x-token-web-sessions-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function open(dir: string): SqliteStorage {
  const storage = openSqliteStorage({ dir });
  opened.push(storage);
  return storage;
}

function closeAll(): void {
  for (const storage of opened.splice(0)) storage.close();
}

afterEach(closeAll);
afterAll(() => {
  closeAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A request carrying the cookie a Set-Cookie header value set. */
const request = (setCookie: string) => ({ headers: { cookie: setCookie.split(";")[0] } }) as IncomingMessage;
const idOf = (setCookie: string) => setCookie.split(";")[0]!.split("=")[1]!.split(".")[0]!;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Every byte under `dir` (the database, its WAL and shared memory), as latin1 text to search in. */
function bytesUnder(dir: string): string {
  return readdirSync(dir)
    .map((name) => readFileSync(join(dir, name)).toString("latin1"))
    .join("\n");
}

/** A clock the test moves, and a store over `records` with it. */
function clock(start = 1_700_000_000) {
  const time = { now: start };
  const store = (records: WebSessionRecords | undefined, options: Partial<SessionStoreOptions> = {}) =>
    new SessionStore({ secret: SECRET, now: () => time.now, ...(records ? { records } : {}), ...options });
  return { time, store };
}

describe("SessionStore with records (SQLite)", () => {
  test("a session is stored as the hash of its id (never the id), and a new store over the same database knows the cookie", () => {
    const dir = tempDir();
    const { store } = clock();
    const first = store(open(dir).webSessions!);
    const alice = first.create("alice");
    const rows = opened[0]!.webSessions!.all();
    expect(rows).toEqual([{ idHash: sha256(idOf(alice)), username: "alice", expiresAt: 1_700_000_000 + 8 * 3600, createdAt: 1_700_000_000_000 }]);
    closeAll();
    // Neither the database nor its WAL holds the id, only its hash.
    const bytes = bytesUnder(dir);
    expect(bytes).not.toContain(idOf(alice));
    expect(bytes).toContain(sha256(idOf(alice)));

    const second = store(open(dir).webSessions!);
    expect(second.user(request(alice))).toBe("alice");
    expect(second.size).toBe(1);
    // The stored hash is not a cookie: a cookie carrying it (even well signed) is someone else's id.
    const forged = `xtoken_demo=${sha256(idOf(alice))}.x`;
    expect(second.user(request(forged))).toBeNull();
  });

  test("sign-out removes the row: a new store does not know the cookie", () => {
    const dir = tempDir();
    const { store } = clock();
    const first = store(open(dir).webSessions!);
    const alice = first.create("alice");
    const bob = first.create("bob");
    expect(first.destroy(request(alice))).toMatch(/^xtoken_demo=; .*Max-Age=0$/);
    expect(first.user(request(alice))).toBeNull();
    expect(opened[0]!.webSessions!.all().map((r) => r.username)).toEqual(["bob"]);
    closeAll();
    const second = store(open(dir).webSessions!);
    expect(second.user(request(alice))).toBeNull();
    expect(second.user(request(bob))).toBe("bob");
  });

  test("expired sessions are not revived; their rows go at load, and when found expired", () => {
    const dir = tempDir();
    const { time, store } = clock();
    const first = store(open(dir).webSessions!, { lifetimeSeconds: 600 });
    const early = first.create("alice");
    time.now += 300;
    const late = first.create("bob");
    time.now += 301; // early expired, late has 299 s left
    closeAll();

    const second = store(open(dir).webSessions!, { lifetimeSeconds: 600 });
    expect(second.size).toBe(1);
    expect(second.user(request(early))).toBeNull();
    expect(second.user(request(late))).toBe("bob");
    expect(opened[0]!.webSessions!.all().map((r) => r.username)).toEqual(["bob"]);
    time.now += 300;
    expect(second.user(request(late))).toBeNull(); // found expired: its row goes too
    expect(opened[0]!.webSessions!.all()).toEqual([]);
  });

  test("a shorter lifetime configured since applies to stored sessions: they end at their creation plus it", () => {
    const dir = tempDir();
    const { time, store } = clock();
    const alice = store(open(dir).webSessions!).create("alice"); // 8 hours
    const bob = (time.now += 100, store(opened[0]!.webSessions!).create("bob"));
    time.now += 550;
    closeAll();
    const shorter = store(open(dir).webSessions!, { lifetimeSeconds: 600 });
    expect(shorter.user(request(alice))).toBeNull(); // created 650 s ago
    expect(shorter.user(request(bob))).toBe("bob"); // created 550 s ago
    expect(opened[0]!.webSessions!.all().map((r) => r.username)).toEqual(["bob"]);
  });

  test("at load the bounds hold: the newest sessions, at most maxSessionsPerUser each, at most maxSessions; the rest is removed", () => {
    const dir = tempDir();
    const { time, store } = clock();
    const records = open(dir).webSessions!;
    const roomy = store(records, { maxSessionsPerUser: 10, maxSessions: 100 });
    const alice = Array.from({ length: 5 }, () => (time.now++, roomy.create("alice")));
    const bob = Array.from({ length: 2 }, () => (time.now++, roomy.create("bob")));
    const carol = (time.now++, roomy.create("carol"));
    expect(records.all()).toHaveLength(8);

    const strict = store(records, { maxSessionsPerUser: 2, maxSessions: 4 });
    // Newest first: carol, bob x2, alice's newest; then the global bound stops.
    expect([carol, ...bob, ...alice].map((c) => strict.user(request(c)))).toEqual(["carol", "bob", "bob", null, null, null, null, "alice"]);
    expect(strict.size).toBe(4);
    expect(records.all().map((r) => r.username)).toEqual(["alice", "bob", "bob", "carol"]);
  });

  test("evictions remove rows: a user's oldest when over maxSessionsPerUser, the oldest of all when full", () => {
    const dir = tempDir();
    const { time, store } = clock();
    const records = open(dir).webSessions!;
    const sessions = store(records, { maxSessionsPerUser: 2, maxSessions: 3 });
    const a1 = sessions.create("alice");
    time.now++;
    sessions.create("alice");
    time.now++;
    sessions.create("alice"); // a1 goes
    expect(sessions.user(request(a1))).toBeNull();
    expect(records.all().map((r) => r.username)).toEqual(["alice", "alice"]);
    time.now++;
    sessions.create("bob");
    time.now++;
    sessions.create("carol"); // full: the oldest of all (alice's second) goes
    expect(records.all().map((r) => r.username)).toEqual(["alice", "bob", "carol"]);
    expect(sessions.size).toBe(3);
  });

  test("a store that cannot write refuses the sign-in (SessionStorageError) and changes nothing; sign-out that cannot be stored keeps the session", () => {
    const dir = tempDir();
    const { time, store } = clock();
    const real = open(dir).webSessions!;
    let failing = false;
    const flaky: WebSessionRecords = {
      all: () => real.all(),
      add: (record: WebSessionRecord) => {
        if (failing) throw new Error("database or disk is full");
        real.add(record);
      },
      remove: (idHash: string) => {
        if (failing) throw new Error("attempt to write a readonly database");
        real.remove(idHash);
      },
      removeExpired: (now: number) => real.removeExpired(now),
    };
    const sessions = store(flaky, { maxSessionsPerUser: 1 });
    const alice = sessions.create("alice");
    time.now++;
    failing = true;
    expect(() => sessions.create("alice")).toThrow(SessionStorageError);
    expect(() => sessions.create("alice")).toThrow(/the sign-in could not be stored: database or disk is full/);
    // The per-user eviction the new session would have caused did not happen.
    expect(sessions.user(request(alice))).toBe("alice");
    expect(sessions.size).toBe(1);
    expect(() => sessions.destroy(request(alice))).toThrow(/the sign-out could not be stored: attempt to write a readonly database/);
    expect(sessions.user(request(alice))).toBe("alice");
    expect(real.all()).toHaveLength(1);
    failing = false;
    sessions.destroy(request(alice));
    expect(sessions.user(request(alice))).toBeNull();
    expect(real.all()).toEqual([]);
  });

  test("records that cannot be read stop the start with a SessionStorageError; without records nothing is stored", () => {
    const broken: WebSessionRecords = {
      all: () => {
        throw new Error("disk I/O error");
      },
      add: () => {},
      remove: () => {},
      removeExpired: () => {},
    };
    expect(() => new SessionStore({ secret: SECRET, records: broken })).toThrow(/the stored sign-ins could not be read: disk I\/O error/);
    const memory = new SessionStore({ secret: SECRET });
    expect(memory.user(request(memory.create("alice")))).toBe("alice");
  });
});

// --- A real `x-token serve --dev`, killed and started again on the same data directory ---

interface Served {
  base: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  output: () => string;
}

/** A free TCP port on 127.0.0.1 (for a server that must come back on the same one). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `x-token serve --dev` in `cwd` (its .x-token-dev/ is made there) on `dataDir`; resolves once it listens. */
async function serveDev(cwd: string, dataDir: string, httpPort = 0): Promise<Served> {
  const child = spawnCli(["serve", "--dev"], { XTOKEN_DATA_DIR: dataDir, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: String(httpPort), XMPP_COMPONENT_PORT: "0" }, cwd);
  const out = watch(child);
  try {
    const [, port] = await out.waitFor(/Demo web app: +http:\/\/127\.0\.0\.1:(\d+)\//, 30_000);
    return {
      base: `http://127.0.0.1:${port}`,
      output: out.text,
      async stop(signal = "SIGKILL") {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill(signal);
        await out.exited;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    await out.exited;
    throw err;
  }
}

const passwordOf = (cwd: string, user: string) => (JSON.parse(readFileSync(join(cwd, ".x-token-dev", "demo-passwords.json"), "utf8")) as Record<string, string>)[user]!;

async function signIn(base: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/signin`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ username, password }).toString(),
  });
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/chat");
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

async function signOut(base: string, cookie: string): Promise<void> {
  const res = await fetch(`${base}/signout`, { method: "POST", redirect: "manual", headers: { origin: base, cookie, "content-type": "application/x-www-form-urlencoded" }, body: "" });
  expect(res.status).toBe(303);
  expect(res.headers.get("set-cookie")).toMatch(/Max-Age=0$/);
}

/** Who the cookie signs in as, by the token endpoint (401: nobody) and the chat page. */
async function signedInAs(base: string, cookie: string): Promise<string | null> {
  const res = await fetch(`${base}/api/token`, { headers: { cookie }, cache: "no-store" });
  const chat = await fetch(`${base}/chat`, { redirect: "manual", headers: { cookie } });
  if (res.status === 401) {
    expect(chat.status).toBe(303);
    return null;
  }
  expect(res.status).toBe(200);
  expect(chat.status).toBe(200);
  return ((await res.json()) as { jid: string }).jid;
}

describe("x-token serve --dev: demo sign-ins survive a restart (SQLite in XTOKEN_DATA_DIR)", () => {
  test("signed in, SIGKILL, started again: the same cookie is signed in; sign-out ends it, also after the next restart", async () => {
    const cwd = tempDir("x-token-web-sessions-cwd-");
    const dataDir = join(cwd, "data");
    let server = await serveDev(cwd, dataDir);
    const cookies: string[] = [];
    try {
      expect(server.output()).toContain(`SQLite in ${join(dataDir, "x-token.sqlite")}`);
      const alice = await signIn(server.base, "alice", passwordOf(cwd, "alice"));
      const bob = await signIn(server.base, "bob", passwordOf(cwd, "bob"));
      cookies.push(alice, bob);
      expect(await signedInAs(server.base, alice)).toBe("alice@localhost");
      await server.stop("SIGKILL");

      server = await serveDev(cwd, dataDir);
      expect(await signedInAs(server.base, alice)).toBe("alice@localhost");
      expect(await signedInAs(server.base, bob)).toBe("bob@localhost");
      await signOut(server.base, alice);
      expect(await signedInAs(server.base, alice)).toBeNull();
      await server.stop("SIGKILL");

      server = await serveDev(cwd, dataDir);
      expect(await signedInAs(server.base, alice)).toBeNull();
      expect(await signedInAs(server.base, bob)).toBe("bob@localhost");
      await server.stop("SIGTERM");
    } finally {
      await server.stop();
    }
    // Only hashes were ever written: no cookie's id is in the data directory.
    const bytes = bytesUnder(dataDir);
    for (const cookie of cookies) {
      const id = cookie.split("=")[1]!.split(".")[0]!;
      expect(bytes).not.toContain(id);
    }
    expect(bytes).toContain(sha256(cookies[1]!.split("=")[1]!.split(".")[0]!));
  }, 90_000);

  test("a session that expired while the server was down is not revived, and its row is gone", async () => {
    const cwd = tempDir("x-token-web-sessions-cwd-");
    const dataDir = join(cwd, "data");
    let server = await serveDev(cwd, dataDir);
    const alice = await signIn(server.base, "alice", passwordOf(cwd, "alice"));
    const bob = await signIn(server.base, "bob", passwordOf(cwd, "bob"));
    await server.stop("SIGKILL");

    // While it is down, alice's session reaches its end (as 8 hours passing would make it).
    const storage = open(dataDir);
    const rows = storage.webSessions!.all();
    const aliceRow = rows.find((r) => r.username === "alice")!;
    storage.webSessions!.remove(aliceRow.idHash);
    storage.webSessions!.add({ ...aliceRow, expiresAt: Math.floor(Date.now() / 1000) - 1 });
    closeAll();

    server = await serveDev(cwd, dataDir);
    try {
      expect(await signedInAs(server.base, alice)).toBeNull();
      expect(await signedInAs(server.base, bob)).toBe("bob@localhost");
    } finally {
      await server.stop("SIGTERM");
    }
    expect(open(dataDir).webSessions!.all().map((r) => r.username)).toEqual(["bob"]);
  }, 90_000);
});

describeWithChromium("the demo page across a restart of x-token serve --dev, in Chromium", () => {
  let browser: Browser;
  afterAll(async () => {
    await browser?.close();
  });

  test("the page reconnects by itself with the kept session, a reload shows the signed-in user; a login that fails on the way is said and retried", async () => {
    browser = await launchChromium();
    const cwd = tempDir("x-token-web-sessions-cwd-");
    const dataDir = join(cwd, "data");
    const port = await freePort();
    let server = await serveDev(cwd, dataDir, port);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors = collectPageErrors(page);
      await page.goto(`${server.base}/`);
      await page.fill("input[name=username]", "alice");
      await page.fill("input[name=password]", passwordOf(cwd, "alice"));
      await page.click("button[type=submit]");
      await page.waitForURL(`${server.base}/chat`);
      await page.waitForSelector('#state[data-state="online"]');

      // The first token asked for after the restart fails: the page says so, then tries again.
      let failNext = false;
      await page.route("**/api/token", (route) => {
        if (!failNext) return route.continue();
        failNext = false;
        return route.fulfill({ status: 503, contentType: "application/json", body: '{"error":"unavailable"}' });
      });
      // Without its FAST token (test/browser-demo-fast.test.ts covers reconnecting with it) the
      // page needs a fresh X-TOKEN from the web app after the restart.
      await page.evaluate(() => localStorage.clear());
      await server.stop("SIGKILL");
      await page.waitForSelector('#state[data-state="offline"]');
      failNext = true;
      server = await serveDev(cwd, dataDir, port);
      await page.waitForSelector('#roster-note:has-text("the web app did not hand out a token (HTTP 503)")', { timeout: 20_000 });
      expect(await page.textContent("#state")).toBe("offline");
      expect(await page.textContent("#roster-note")).toMatch(/Reconnecting…/);
      await page.waitForSelector('#state[data-state="online"]', { timeout: 20_000 });
      expect(page.url()).toBe(`${server.base}/chat`);
      expect(await page.textContent("#me")).toBe("alice@localhost");

      await page.reload();
      await page.waitForSelector('#state[data-state="online"]', { timeout: 20_000 });
      expect(page.url()).toBe(`${server.base}/chat`);
      expect(await page.textContent("#me")).toBe("alice@localhost");
      expect(await page.textContent("#online")).toBe("alice@localhost (you)");
      // Only the refused WebSocket connections and the 503 while the server was away show up as errors.
      expect(errors.filter((e) => !/ERR_CONNECTION_REFUSED|status of 503/.test(e))).toEqual([]);
    } finally {
      await context.close();
      await server.stop("SIGTERM");
    }
  }, 120_000);
});
