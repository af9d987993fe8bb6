/**
 * Revocation with real processes (issue 20 item 4, docs/revocation.md): `x-token revoke` against
 * a running `x-token serve` on the same data directory ends the account's streams (the server
 * reads the database every second) and its old tokens are refused; a revocation the HTTP endpoint
 * acknowledged survives a SIGKILL the instant after the answer.
 */
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { mintToken } from "../src/core/token/mint.js";
import { cli, runBinary, spawnCli } from "./helpers/cli.js";
import { ensureDevSetup } from "../src/app/cli/dev-setup.js";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import { login, postRevocation, startServe, type ServeProcess } from "./helpers/serve-process.js";
import { alive, plainBoundSession, type RawClient } from "./helpers/server.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

const DOMAIN = "example.test";
const KEY = { tokenSecret: "revocation-processes-secret-0123", otpSeed: "XVGR73KMZH2M4XMY" };
const REVOKE_SECRET = "Hk29vLq8ZrT3mWb5Nc7Xd1Pf6Gs4Ja0Y";
const BASE = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: KEY.otpSeed, XMPP_REQUIRE_TLS: "false" };

const processes: ServeProcess[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(processes.splice(0).map((p) => p.stop()));
});
afterAll(removeTempDirs);

function environment(): NodeJS.ProcessEnv {
  const dir = tempDir("x-token-revocation-");
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ revocation: { secretEnv: "REVOKE_SECRET" } }));
  return { ...BASE, XTOKEN_DATA_DIR: join(dir, "data"), XTOKEN_CONFIG: config, REVOKE_SECRET };
}

async function serve(env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const p = await startServe(env);
  processes.push(p);
  return p;
}

const mint = (localpart: string, now?: number) => mintToken({ jid: `${localpart}@${DOMAIN}`, key: KEY, ...(now === undefined ? {} : { now }) });

/** A bound session over plain TCP, kept open. */
async function session(port: number, localpart: string): Promise<RawClient> {
  const client = await plainBoundSession(port, localpart, mint(localpart));
  clients.push(client);
  return client;
}

const post = (port: number, body: string, secret = REVOKE_SECRET) => postRevocation(port, body, secret);


/** One ejabberd extauth request through `x-token extauth` on `env`'s data directory: 1 yes, 0 no. */
function extauth(env: NodeJS.ProcessEnv, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(["extauth"], env);
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.on("error", reject);
    child.on("close", () => {
      const answer = Buffer.concat(out);
      if (answer.length !== 4) return reject(new Error(`unexpected answer ${answer.toString("hex")}`));
      resolve(answer.readUInt16BE(2));
    });
    const body = Buffer.from(request);
    const header = Buffer.alloc(2);
    header.writeUInt16BE(body.length);
    child.stdin.end(Buffer.concat([header, body]));
  });
}

async function kill(p: ServeProcess): Promise<void> {
  processes.splice(processes.indexOf(p), 1);
  const exited = new Promise((resolve) => p.child.once("exit", resolve));
  p.child.kill("SIGKILL");
  await exited;
}

describe("x-token revoke and x-token serve on one data directory", () => {
  test("the CLI revokes alice: the running server ends her streams (not bob's) and refuses her old tokens", async () => {
    const env = environment();
    const server = await serve(env);
    expect(server.stdout()).toMatch(/Revocation endpoint: +http:\/\/127\.0\.0\.1:\d+\/x-token\/revoke \(POST; shared secret\)\n/);
    const alice = await session(server.c2s, "alice");
    const alice2 = await session(server.c2s, "alice");
    const bob = await session(server.c2s, "bob");
    const now = Math.floor(Date.now() / 1000);
    // A minute ahead: every token minted until then is refused, whatever second the test runs at.
    const result = await runBinary(["revoke", "--jid", `alice@${DOMAIN}`, "--not-before", String(now + 60)], env);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^revoked alice@example\\.test: tokens minted before \\S+Z are refused \\(new ones from \\S+Z\\); 0 FAST token\\(s\\) removed\\nrunning servers on .*x-token\\.sqlite end its streams within a second\\n$`));
    for (const client of [alice, alice2]) {
      expect(await client.waitFor("</stream:stream>")).toContain("<not-authorized");
      await client.waitForClose();
    }
    await alive(bob, "bob-1");
    expect(await login(server.c2s, DOMAIN, "alice", mint("alice"))).toBe("not-authorized");
    expect(await login(server.c2s, DOMAIN, "bob", mint("bob"))).toBe("success");
    const lines = await server.logged(/revoked alice@example\.test/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("(by another process on the database (x-token revoke)): tokens minted before");
    expect(lines[0]).toContain("ended 2 stream(s)");
    await server.logged(/authentication failed for alice@example\.test from 127\.0\.0\.1: revoked$/);
  });

  test("the CLI refuses what is no revocation, with one line and exit 2", async () => {
    const env = environment();
    for (const [argv, message] of [
      [["revoke"], "--jid is required"],
      [["revoke", "--jid", "alice@elsewhere.test"], "elsewhere.test is not a domain of this server"],
      [["revoke", "--jid", `alice@${DOMAIN}/phone`], "give a bare JID"],
      [["revoke", "--jid", `alice@${DOMAIN}`, "--not-before", "soon"], "--not-before must be a unix time in seconds"],
      [["revoke", "--jid", `alice@${DOMAIN}`, "--not-before", String(Math.floor(Date.now() / 1000) + 3 * 86_400)], "at most 86400 s in the future"],
    ] as const) {
      const result = await runBinary([...argv], env);
      expect([result.code, result.stdout]).toEqual([2, ""]);
      expect(result.stderr).toContain(message);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
    const memory = await runBinary(["revoke", "--jid", `alice@${DOMAIN}`], { ...BASE, XTOKEN_STORAGE: "memory" });
    expect(memory.code).toBe(2);
    expect(memory.stderr).toContain("the storage engine is memory");
  });

  test("--dev revokes in serve --dev's own configuration and data directory", async () => {
    const cwd = tempDir("x-token-revoke-dev-");
    const missing = await cli(["revoke", "--dev", "--jid", "alice@localhost"], { XTOKEN_STORAGE: "sqlite" }, "", { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no .x-token-dev/config.json here");
    await ensureDevSetup(cwd);
    const result = await cli(["revoke", "--dev", "--jid", "alice@localhost"], { XTOKEN_STORAGE: "sqlite" }, "", { cwd });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const database = join(cwd, ".x-token-dev", "data", "x-token.sqlite");
    expect(result.stdout).toContain(`running servers on ${database} end its streams within a second`);
    const storage = openSqliteStorage({ dir: join(cwd, ".x-token-dev", "data") });
    try {
      expect(storage.revocations.notBefore("alice@localhost")).not.toBeNull();
    } finally {
      storage.close();
    }
    expect((await cli(["revoke", "--dev", "--config", "x.json", "--jid", "alice@localhost"], {}, "", { cwd })).stderr).toContain("give either --dev or --config FILE");
  });

  test("x-token extauth workers on the same data directory refuse a revoked account's tokens", async () => {
    const env = environment();
    expect(await extauth(env, `auth:alice:${DOMAIN}:${mint("alice")}`)).toBe(1);
    const result = await runBinary(["revoke", "--jid", `alice@${DOMAIN}`, "--not-before", String(Math.floor(Date.now() / 1000) + 60)], env);
    expect(result.code).toBe(0);
    expect(await extauth(env, `auth:alice:${DOMAIN}:${mint("alice")}`)).toBe(0);
    expect(await extauth(env, `auth:bob:${DOMAIN}:${mint("bob")}`)).toBe(1);
  });

  test("a revocation the endpoint acknowledged survives SIGKILL the instant after the answer", async () => {
    const env = environment();
    const first = await serve(env);
    const now = Math.floor(Date.now() / 1000);
    const answer = await post(first.http, JSON.stringify({ jid: `alice@${DOMAIN}`, notBefore: now + 60 }));
    await kill(first);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ jid: `alice@${DOMAIN}`, notBefore: now + 60, acceptedFrom: Math.ceil((now + 60) / 30) * 30 });
    const second = await serve(env);
    expect(await login(second.c2s, DOMAIN, "alice", mint("alice"))).toBe("not-authorized");
    await second.logged(/authentication failed for alice@example\.test from 127\.0\.0\.1: revoked$/);
    expect(await login(second.c2s, DOMAIN, "bob", mint("bob"))).toBe("success");
  });
});
