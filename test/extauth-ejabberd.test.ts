/**
 * `x-token extauth` behind a real, private ejabberd (test/helpers/ejabberd.ts): real
 * @xmpp/client logins with PLAIN over STARTTLS, the token as the password. Every program config
 * here names its storage: a private data directory owned by the ejabberd user (SQLite, shared by
 * the workers, removed afterwards), or memory where the store does not matter.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { mintToken } from "../src/core/token/mint.js";
import type { TokenKey } from "../src/core/token/keys.js";
import { BINARY } from "./helpers/cli.js";
import { ejabberdIds, ejabberdPrivateDir, ejabberdPrivateFile, ejabberdUnavailable, extauthPipe, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
import { loginWithPassword } from "./helpers/ejabberd-login.js";
import { freshKey } from "./helpers/server.js";
import { REDIS_SERVER, startRedis, type PrivateRedis } from "./helpers/redis.js";

const unavailable = ejabberdUnavailable();
if (unavailable) console.warn(`skipping the ejabberd + x-token extauth tests: ${unavailable}`);
const describeWithEjabberd = unavailable ? describe.skip : describe;

const DOMAIN = "example.test";

/**
 * The extauth programs' log once `ready` holds for it: the program writes its log lines in
 * batches (at most 100 ms apart), so a line may land just after the login that caused it.
 */
async function extauthLog(ej: RunningEjabberd, ready: (log: string) => boolean): Promise<string> {
  let log = "";
  for (let i = 0; i < 100; i++) {
    log = readFileSync(ej.extauthLog, "utf8");
    if (ready(log)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return log;
}

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

/** ejabberd running our binary as its extauth program, with `config` as the program's config file. */
async function ejabberdWithExtauth(config: object, poolSize: number, more: { useCache?: boolean; logPerWorker?: boolean } = {}) {
  const file = ejabberdPrivateFile("x-token.json", JSON.stringify(config));
  try {
    const ej = await startEjabberd({ domains: [DOMAIN], auth: { method: "external", program: extauthProgram(file.path), poolSize, ...more } });
    return { ej, file };
  } catch (err) {
    file.remove();
    throw err;
  }
}

const extauthProgram = (configFile: string) => [process.execPath, BINARY, "extauth", "--config", configFile];

/** The database the workers share in a data directory (src/stores/sqlite: x-token.sqlite). */
const databaseIn = (dir: string) => join(dir, "x-token.sqlite");

describeWithEjabberd("ejabberd with x-token extauth (one worker, SQLite in a private data directory)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  const removals: (() => void)[] = [];
  let dataDir = "";
  beforeAll(async () => {
    const data = ejabberdPrivateDir();
    removals.push(data.remove);
    dataDir = data.path;
    const started = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key], disabledUsers: ["mallory"] } }, storage: { dir: data.path } }, 1);
    ej = started.ej;
    removals.push(started.file.remove);
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    for (const remove of removals) remove();
  }, 30_000);

  test("a token logs in once; the same token again, another user's token and a disabled user's are refused", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "bob", mintToken({ jid: `alice@${DOMAIN}`, key }))).toBe("not-authorized");
    expect(await loginWithPassword(ej, "mallory", mintToken({ jid: `mallory@${DOMAIN}`, key }))).toBe("not-authorized");
    // nodeprep as everywhere: "Carol" typed by the user is carol.
    expect(await loginWithPassword(ej, "Carol", mintToken({ jid: `carol@${DOMAIN}`, key }))).toBe(`online carol@${DOMAIN}/test`);
    const log = await extauthLog(ej, (text) => text.includes("auth accepted for carol@"));
    expect(log).toContain(`auth refused for alice@${DOMAIN}: replayed`);
    expect(log).toContain(`auth refused for bob@${DOMAIN}: bad-signature`);
    expect(log).toContain(`auth refused for mallory@${DOMAIN}: account-disabled`);
    expect(log).not.toContain(token.split(" ")[1]!);
    expect(log).toContain(`used tokens remembered in SQLite in ${databaseIn(dataDir)} (shared by`);
  });

  test("a token from another key is refused", async () => {
    expect(await loginWithPassword(ej, "alice", mintToken({ jid: `alice@${DOMAIN}`, key: freshKey() }))).toBe("not-authorized");
  });
});

describeWithEjabberd("ejabberd with auth_use_cache left on (why docs/ejabberd.md requires false)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let remove = () => {};
  beforeAll(async () => {
    // What the program remembers does not matter here: ejabberd never asks it the second time.
    ({ ej, file: { remove } } = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key] } }, storage: { engine: "memory" } }, 1, { useCache: true }));
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
  }, 30_000);

  test("a used token logs in again from ejabberd's cache, and the program is never asked", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    // Give a line from the program time to arrive: none about a second request must.
    await new Promise((r) => setTimeout(r, 300));
    const log = readFileSync(ej.extauthLog, "utf8");
    expect(log.match(/auth accepted for alice@/g)).toHaveLength(1);
    expect(log).not.toContain("replayed");
  });
});

const describeWithEjabberdAndRedis = unavailable || !REDIS_SERVER ? describe.skip : describe;
if (!unavailable && !REDIS_SERVER) console.warn("skipping ejabberd + x-token extauth + Redis: redis-server is not installed (apt-get install redis-server)");

describeWithEjabberdAndRedis("ejabberd with x-token extauth, two workers sharing a private Redis", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let redis: PrivateRedis;
  let remove = () => {};
  beforeAll(async () => {
    redis = await startRedis();
    // Used tokens go to Redis; the program keeps nothing else, so no data directory (memory).
    ({ ej, file: { remove } } = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key] } }, store: { redis: { url: redis.url, timeoutMs: 250 } }, storage: { engine: "memory" } }, 2));
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
    await redis?.close();
  }, 30_000);

  const fresh = (user: string) => mintToken({ jid: `${user}@${DOMAIN}`, key });

  test("a token logs in once: the same token is refused by both workers; another user's token is refused", async () => {
    const token = fresh("alice");
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    // Four more tries at once (spread over the pool, see AT_ONCE; the SQLite test below checks that each worker answered).
    expect(await Promise.all([1, 2, 3, 4].map(() => loginWithPassword(ej, "alice", token)))).toEqual(Array(4).fill("not-authorized"));
    expect(await loginWithPassword(ej, "bob", fresh("alice"))).toBe("not-authorized");
    const log = await extauthLog(
      ej,
      (text) => count(text, /auth refused for bob@/g) === 1 && count(text, /replayed/g) === 4 && count(text, /used tokens remembered in Redis/g) === 2,
    );
    expect(log.match(/auth refused for alice@example\.test: replayed/g)).toHaveLength(4);
    // Both workers said so: each logs its own start-up line, with the shared store.
    expect(log.match(/used tokens remembered in Redis at redis:\/\/127\.0\.0\.1:\d+$/gm)).toHaveLength(2);
  });

  test("Redis stopped: logins are refused (fail closed, one log line per outage and worker); Redis back: logins work again", async () => {
    await redis.stop();
    for (let i = 0; i < 4; i++) expect(await loginWithPassword(ej, "carol", fresh("carol"))).toBe("not-authorized");
    let log = await extauthLog(ej, (text) => count(text, /auth refused for carol@example\.test: replay-store-error/g) === 4);
    expect(log.match(/auth refused for carol@example\.test: replay-store-error/g)).toHaveLength(4);
    const outageLines = log.split("\n").filter((line) => line.includes("unavailable"));
    expect(outageLines.length).toBeGreaterThanOrEqual(1);
    expect(outageLines.length).toBeLessThanOrEqual(2); // one per worker, not one per login

    await redis.start();
    let answer = "";
    // The workers reconnect by themselves (backoff up to 1 s): bounded retries, a fresh token each.
    for (let i = 0; i < 40 && !answer.startsWith("online"); i++) {
      answer = await loginWithPassword(ej, "carol", fresh("carol"));
      if (!answer.startsWith("online")) await new Promise((r) => setTimeout(r, 250));
    }
    expect(answer).toBe(`online carol@${DOMAIN}/test`);
    // And single use holds again across the workers.
    const token = fresh("dave");
    expect(await loginWithPassword(ej, "dave", token)).toBe(`online dave@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "dave", token)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "dave", token)).toBe("not-authorized");
    log = await extauthLog(ej, (text) => text.includes("auth refused for dave@") && text.includes("answers again after"));
    expect(log).toMatch(/answers again after/);
    expect(log).not.toContain(token.split(" ")[1]!);
  });
});

type Worker = { pid: number; log: string };
const sum = (workers: Worker[], of: (w: Worker) => number) => workers.reduce((total, w) => total + of(w), 0);
const acceptedIn = (w: Worker) => count(w.log, /auth accepted for /g);
const replayedIn = (user: string) => (w: Worker) => count(w.log, new RegExp(`auth refused for ${user}@example\\.test: replayed`, "g"));

/** The workers' logs once `ready` holds for them (their lines come in batches, as above). */
async function workersWhen(ej: RunningEjabberd, ready: (workers: Worker[]) => boolean): Promise<Worker[]> {
  let workers = ej.extauthWorkers();
  for (let i = 0; i < 100 && !ready(workers); i++) {
    await new Promise((r) => setTimeout(r, 50));
    workers = ej.extauthWorkers();
  }
  return workers;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * ejabberd 23.01 picks a worker by a node-wide counter (p1_rand:round_robin: unique_integer rem
 * the pool size), which other work advances too: one login after another often lands on the same
 * worker every time. Logins in flight together spread over the pool; this many at once.
 */
const AT_ONCE = 4;

/**
 * Logs in with a used `token`, AT_ONCE at a time, until each of two workers (of those `among`
 * picks) has refused it as replayed (bounded), every attempt refused; returns the workers' logs.
 */
async function refusedByEveryWorker(ej: RunningEjabberd, user: string, token: string, among: (w: Worker) => boolean = () => true): Promise<Worker[]> {
  const replayed = replayedIn(user);
  const current = () => ej.extauthWorkers().filter(among);
  let workers = current();
  for (let round = 0; round < 10 && !(workers.length === 2 && workers.every((w) => replayed(w) > 0)); round++) {
    const expected = sum(workers, replayed) + AT_ONCE;
    const answers = await Promise.all(Array.from({ length: AT_ONCE }, () => loginWithPassword(ej, user, token)));
    expect(answers).toEqual(Array(AT_ONCE).fill("not-authorized"));
    for (let i = 0; i < 100 && sum(current(), replayed) < expected; i++) await new Promise((r) => setTimeout(r, 50));
    workers = current();
  }
  return workers;
}

describeWithEjabberd("ejabberd with two x-token extauth workers sharing one SQLite file (no Redis)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let configFile = "";
  let dataDir = "";
  const removals: (() => void)[] = [];
  const start = () => startEjabberd({ domains: [DOMAIN], auth: { method: "external", program: extauthProgram(configFile), poolSize: 2, logPerWorker: true } });
  beforeAll(async () => {
    const data = ejabberdPrivateDir();
    removals.push(data.remove);
    dataDir = data.path;
    const file = ejabberdPrivateFile("x-token.json", JSON.stringify({ domains: { [DOMAIN]: { keys: [key] } }, storage: { dir: data.path } }));
    removals.push(file.remove);
    configFile = file.path;
    ej = await start();
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    for (const remove of removals) remove();
  }, 30_000);

  const fresh = (user: string) => mintToken({ jid: `${user}@${DOMAIN}`, key });
  /** A token that verifies for at least 55 s more (minted for the next time step): restarts take seconds. */
  const lasting = (user: string) => mintToken({ jid: `${user}@${DOMAIN}`, key, now: Math.floor(Date.now() / 1000) + 25 });

  test("several logins reach both workers; a used token is refused whichever worker answers", async () => {
    // Log in with fresh tokens, AT_ONCE users at a time, until both workers have accepted some (bounded).
    let workers = ej.extauthWorkers();
    for (let logins = 0; logins < 10 * AT_ONCE && !(workers.length === 2 && workers.every((w) => acceptedIn(w) > 0)); ) {
      const users = Array.from({ length: AT_ONCE }, (_, i) => `user${logins + i}`);
      const answers = await Promise.all(users.map((user) => loginWithPassword(ej, user, fresh(user))));
      expect(answers).toEqual(users.map((user) => `online ${user}@${DOMAIN}/test`));
      logins += AT_ONCE;
      workers = await workersWhen(ej, (ws) => sum(ws, acceptedIn) === logins);
    }
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(acceptedIn(w)).toBeGreaterThan(0);
      // Two live worker processes of our binary, each with the one database file.
      expect(readFileSync(`/proc/${w.pid}/cmdline`, "utf8").split("\0")).toEqual(expect.arrayContaining([BINARY, "extauth"]));
      expect(w.log).toContain(`used tokens remembered in SQLite in ${databaseIn(dataDir)} (shared by`);
    }
    expect(workers[0]!.pid).not.toBe(workers[1]!.pid);

    // One token: accepted by one worker, then refused as replayed by each of them.
    const token = fresh("alice");
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    workers = await refusedByEveryWorker(ej, "alice", token);
    expect(workers.filter((w) => w.log.includes(`auth accepted for alice@${DOMAIN}`))).toHaveLength(1);
    for (const w of workers) expect(w.log).toContain(`auth refused for alice@${DOMAIN}: replayed`);
    for (const w of workers) expect(w.log).not.toContain(token.split(" ")[1]!);
  });

  test("a direct x-token extauth on the same file (as the ejabberd user) and ejabberd's workers refuse each other's used tokens", async () => {
    const direct = extauthPipe(spawn(process.execPath, extauthProgram(configFile).slice(1), { ...ejabberdIds(), cwd: "/", env: { PATH: process.env.PATH } }));
    try {
      const usedThroughEjabberd = fresh("bob");
      expect(await loginWithPassword(ej, "bob", usedThroughEjabberd)).toBe(`online bob@${DOMAIN}/test`);
      expect(await direct.ask(`auth:bob:${DOMAIN}:${usedThroughEjabberd}`)).toBe(0);
      const usedDirectly = fresh("carol");
      expect(await direct.ask(`auth:carol:${DOMAIN}:${usedDirectly}`)).toBe(1);
      await refusedByEveryWorker(ej, "carol", usedDirectly);
      const log = await direct.logged(/auth accepted for carol@/);
      expect(log).toContain(`used tokens remembered in SQLite in ${databaseIn(dataDir)} (shared by`);
      expect(log).toContain(`auth refused for bob@${DOMAIN}: replayed`);
    } finally {
      expect((await direct.close()).code).toBe(0);
    }
  });

  test("a used token stays refused after its workers are killed (SIGKILL) and after ejabberd restarts", async () => {
    const token = lasting("dave");
    expect(await loginWithPassword(ej, "dave", token)).toBe(`online dave@${DOMAIN}/test`);
    const killed = await workersWhen(ej, (ws) => ws.some((w) => w.log.includes(`auth accepted for dave@`)));
    expect(killed.filter((w) => w.log.includes(`auth accepted for dave@${DOMAIN}`))).toHaveLength(1);
    // Killed at once, as by the OOM killer or a crash: nothing flushed, nothing closed.
    for (const w of killed) process.kill(w.pid, "SIGKILL");
    for (let i = 0; i < 100 && killed.some((w) => isAlive(w.pid)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(killed.filter((w) => isAlive(w.pid))).toEqual([]);

    // ejabberd starts new workers (on the next request if not before); they refuse the token.
    const oldPids = new Set(killed.map((w) => w.pid));
    let answer = "";
    for (let i = 0; i < 40 && answer !== "not-authorized"; i++) {
      answer = await loginWithPassword(ej, "dave", token);
      if (answer !== "not-authorized") await new Promise((r) => setTimeout(r, 250));
    }
    expect(answer).toBe("not-authorized");
    let workers = await refusedByEveryWorker(ej, "dave", token, (w) => !oldPids.has(w.pid));
    expect(workers).toHaveLength(2);
    for (const w of workers) expect(w.log).toContain(`auth refused for dave@${DOMAIN}: replayed`);

    // The whole node restarted (its temp folder is new; the data directory is the same).
    await ej.stop();
    ej = await start();
    workers = await refusedByEveryWorker(ej, "dave", token);
    expect(workers).toHaveLength(2);
    for (const w of workers) expect(w.log).toContain(`auth refused for dave@${DOMAIN}: replayed`);
    // And the database still takes new tokens, once each.
    const next = fresh("erin");
    expect(await loginWithPassword(ej, "erin", next)).toBe(`online erin@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "erin", next)).toBe("not-authorized");
  }, 90_000);
});

describeWithEjabberd("ejabberd with x-token extauth and no storage in its config (what docs/ejabberd.md warns of)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let remove = () => {};
  beforeAll(async () => {
    ({ ej, file: { remove } } = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key] } } }, 1));
  }, 60_000);
  afterAll(async () => {
    await ej?.stop(); // removes ej.dir, and the database in it
    remove();
  }, 30_000);

  test("the database lands in ./x-token-data under ejabberd's working directory, its spool folder", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe("not-authorized");
    const log = await extauthLog(ej, (text) => text.includes("replayed"));
    expect(log).toContain(`used tokens remembered in SQLite in ${databaseIn(join(realpathSync(ej.dir), "spool", "x-token-data"))} (shared by`);
  });
});
