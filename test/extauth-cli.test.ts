/**
 * `x-token extauth` as the compiled binary over real pipes, the way ejabberd and Prosody run
 * it: standard output carries answer frames and nothing else, logs go to standard error and
 * never hold a token, and the program exits 0 when its input closes. Several processes on one
 * data directory (ejabberd's worker pool) share its used tokens, also across a SIGKILL.
 */
import { describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintToken } from "../src/core/token/mint.js";
import { cli, spawnCli } from "./helpers/cli.js";
import { extauthPipe } from "./helpers/ejabberd.js";
import { freshKey } from "./helpers/server.js";

const DOMAIN = "example.test";
const key = freshKey();
const ENV = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: key.tokenSecret, XTOKEN_OTP_SEED: key.otpSeed };

function frame(text: string | Buffer): Buffer {
  const body = typeof text === "string" ? Buffer.from(text) : text;
  const header = Buffer.alloc(2);
  header.writeUInt16BE(body.length);
  return Buffer.concat([header, body]);
}

/** Runs the binary, writes `chunks` (with a pause between them), closes stdin, collects everything. */
function runExtauth(argv: string[], chunks: Buffer[], env: NodeJS.ProcessEnv = ENV): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(["extauth", ...argv], env);
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    let i = 0;
    const next = () => {
      if (i === chunks.length) return child.stdin.end();
      child.stdin.write(chunks[i++]!, () => setTimeout(next, 5));
    };
    next();
  });
}

function answers(stdout: Buffer): number[] {
  expect(stdout.length % 4).toBe(0);
  const list: number[] = [];
  for (let i = 0; i < stdout.length; i += 4) {
    expect(stdout.readUInt16BE(i)).toBe(2);
    list.push(stdout.readUInt16BE(i + 2));
  }
  return list;
}

describe("x-token extauth, the binary over pipes", () => {
  test("ejabberd protocol: answers only on stdout, logs on stderr without the token, exit 0 on EOF", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    const request = frame(`auth:alice:${DOMAIN}:${token}`);
    const { code, stdout, stderr } = await runExtauth([], [
      request.subarray(0, 1), // the length split across writes
      request.subarray(1, 30),
      request.subarray(30),
      frame(`auth:alice:${DOMAIN}:${token}`), // replayed
      frame(Buffer.from([0xde, 0xad, 0xbe, 0xef])),
      frame(Buffer.alloc(5000, 0x41)), // over the 4096-byte bound
      frame(`isuser:bob:${DOMAIN}`),
      frame(`isuser:bob:elsewhere.test`),
      frame(`setpass:alice:${DOMAIN}:newpassword`),
      frame(`auth:bob:${DOMAIN}:${mintToken({ jid: `alice@${DOMAIN}`, key })}`),
    ]);
    expect(code).toBe(0);
    expect(answers(stdout)).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
    expect(stderr).toContain(`auth accepted for alice@${DOMAIN}`);
    expect(stderr).toContain(`auth refused for alice@${DOMAIN}: replayed`);
    expect(stderr).toContain("request refused: oversized");
    // The isuser yes is not a login (issue 22 item 14).
    expect(stderr).toContain("extauth input closed after 8 requests (1 login accepted, 1 isuser answered yes)");
    expect(stderr).not.toContain(token.split(" ")[1]!);
    expect(stderr).not.toContain(token.split(" ")[0]!);
    expect(stderr).not.toContain("newpassword");
    expect(stderr).not.toContain(key.tokenSecret);
  });

  test("EOF in the middle of a frame: answers for the complete ones, exit 0", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    const { code, stdout, stderr } = await runExtauth([], [frame(`isuser:a:${DOMAIN}`), frame(`auth:alice:${DOMAIN}:${token}`).subarray(0, 20)]);
    expect(code).toBe(0);
    expect(answers(stdout)).toEqual([1]);
    expect(stderr).toContain("input ended inside a request (20 bytes)");
  });

  test("Prosody protocol: one line per answer", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    const { code, stdout } = await runExtauth(["--protocol", "prosody"], [Buffer.from(`auth:alice:${DOMAIN}:${token}\nauth:alice:${DOMAIN}:${token}\n`), Buffer.from(`isuser:x:${DOMAIN}\r\n`)]);
    expect(code).toBe(0);
    expect(stdout.toString()).toBe("1\n0\n1\n");
  });

  test("a config file (with TLS-less listeners) is enough; --isuser none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "x-token-extauth-"));
    try {
      const file = join(dir, "config.json");
      writeFileSync(file, JSON.stringify({ domains: { [DOMAIN]: { keys: [key] } } }));
      const { code, stdout } = await runExtauth(["--config", file, "--isuser", "none"], [frame(`isuser:bob:${DOMAIN}`)], {});
      expect(code).toBe(0);
      expect(answers(stdout)).toEqual([0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("mistakes in the call: exit 2, one line on stderr, nothing on stdout", async () => {
    for (const argv of [["--protocol", "xml"], ["--isuser", "all"], ["--max-request-bytes", "10"], ["--bogus"]]) {
      const result = await runExtauth(argv, []);
      expect(result.code).toBe(2);
      expect(result.stdout.length).toBe(0);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
    const noDomain = await runExtauth([], [], {});
    expect(noDomain.code).toBe(2);
    expect(noDomain.stdout.length).toBe(0);
    expect(noDomain.stderr).toContain("no domain configured");
  });

  test("--help documents the protocols and where used tokens are remembered", async () => {
    const { code, stdout } = await cli(["extauth", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("--protocol prosody");
    expect(stdout).toContain("XTOKEN_DATA_DIR");
    expect(stdout).toContain("store.redis");
  });
});

describe("x-token extauth processes sharing one data directory (ejabberd's worker pool)", () => {
  const auth = (user: string, token: string) => `auth:${user}:${DOMAIN}:${token}`;
  const fresh = (user: string) => mintToken({ jid: `${user}@${DOMAIN}`, key });

  /** A temporary data directory for the test's processes, removed afterwards. */
  async function withDataDir(body: (env: NodeJS.ProcessEnv, database: string) => Promise<void>) {
    const dir = mkdtempSync(join(tmpdir(), "x-token-extauth-data-"));
    try {
      await body({ ...ENV, XTOKEN_DATA_DIR: dir }, join(dir, "x-token.sqlite"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("two processes refuse each other's used tokens; the same token sent to both at once is accepted once", async () => {
    await withDataDir(async (env, database) => {
      const a = extauthPipe(spawnCli(["extauth"], env));
      const b = extauthPipe(spawnCli(["extauth"], env));
      try {
        const alice = fresh("alice");
        expect(await a.ask(auth("alice", alice))).toBe(1);
        expect(await b.ask(auth("alice", alice))).toBe(0);
        const bob = fresh("bob");
        expect(await b.ask(auth("bob", bob))).toBe(1);
        expect(await a.ask(auth("bob", bob))).toBe(0);
        // Racing: each claim is one upsert on the shared file, so exactly one process says yes.
        for (let i = 0; i < 20; i++) {
          const token = fresh(`racer${i}`);
          const answers = await Promise.all([a.ask(auth(`racer${i}`, token)), b.ask(auth(`racer${i}`, token))]);
          expect(answers.sort()).toEqual([0, 1]);
        }
        await b.logged(/auth refused for alice@/);
        await a.logged(/auth refused for bob@/);
        for (const p of [a, b]) expect(p.stderr()).toContain(`used tokens remembered in SQLite in ${database} (shared by`);
        expect(b.stderr()).toContain(`auth refused for alice@${DOMAIN}: replayed`);
        expect(a.stderr()).toContain(`auth refused for bob@${DOMAIN}: replayed`);
      } finally {
        expect((await a.close()).code).toBe(0);
        expect((await b.close()).code).toBe(0);
      }
      expect(`${a.stderr()}${b.stderr()}`.match(/auth accepted for racer\d+@/g)).toHaveLength(20);
    });
  });

  test("a token used just before its process is killed (SIGKILL) is refused by the next process", async () => {
    await withDataDir(async (env) => {
      const first = extauthPipe(spawnCli(["extauth"], env));
      const token = fresh("alice");
      try {
        expect(await first.ask(auth("alice", token))).toBe(1);
      } finally {
        process.kill(first.pid, "SIGKILL");
      }
      expect((await first.exited).signal).toBe("SIGKILL");
      const next = extauthPipe(spawnCli(["extauth"], env));
      try {
        expect(await next.ask(auth("alice", token))).toBe(0);
        expect(await next.ask(auth("bob", fresh("bob")))).toBe(1);
        await next.logged(/auth accepted for bob@/);
        expect(next.stderr()).toContain(`auth refused for alice@${DOMAIN}: replayed`);
      } finally {
        expect((await next.close()).code).toBe(0);
      }
    });
  });

  test("XTOKEN_STORAGE=memory: each process remembers only its own used tokens (and says so)", async () => {
    const env = { ...ENV, XTOKEN_STORAGE: "memory" };
    const a = extauthPipe(spawnCli(["extauth"], env));
    const b = extauthPipe(spawnCli(["extauth"], env));
    try {
      const token = fresh("alice");
      expect(await a.ask(auth("alice", token))).toBe(1);
      expect(await a.ask(auth("alice", token))).toBe(0);
      expect(await b.ask(auth("alice", token))).toBe(1);
      expect(await a.logged(/used tokens remembered in memory \(this process only/)).toBeTruthy();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
