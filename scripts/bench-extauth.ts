/**
 * `x-token extauth` benchmarks, ratios against baselines measured in the same run:
 *
 * 1. The program over a pipe: auth requests per second through the real ejabberd framing to the
 *    compiled binary (a child process, fresh token per request), one request at a time as an
 *    ejabberd worker sends them, and pipelined; against the same check in this process
 *    (TokenAuthority.check, no framing, no pipe). Also the program's CPU per request.
 * 2. End to end: PLAIN logins (stream, auth, restart, bind) from the same raw load client
 *    against a private Debian ejabberd with x-token extauth (pool of 2 sharing a private Redis as
 *    the replay store when redis-server is installed, a fresh token per login)
 *    and against the same ejabberd with its internal accounts (the same user, a stored password),
 *    in alternating rounds. Logins/s, and the server's CPU per login (ejabberd's VM plus its
 *    extauth programs, and Redis when used, from /proc), with the ratios extauth/internal.
 *
 * Both servers run without TLS so the figures show the cost of authentication, not of handshakes.
 * Usage: npm run bench:extauth [-- --requests 5000 --n 1000 --c 20 --rounds 3 --procs 2]
 * Part 2 runs as root with ejabberd installed (it says why when it cannot).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenAuthority } from "../src/auth/authority.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import { mintToken } from "../src/core/token/mint.js";
import { ejabberdPrivateFile, ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "../test/helpers/ejabberd.js";
import { cpuSeconds, LoadClients, numberFlag, percentile, SERVER_BINARY, spread } from "./lib/harness.js";
import { REDIS_SERVER, startRedis, type PrivateRedis } from "./lib/private-redis.js";

const REQUESTS = numberFlag("requests", 5000);
const N = numberFlag("n", 1000);
const C = numberFlag("c", 20);
const ROUNDS = numberFlag("rounds", 3);
const PROCS = numberFlag("procs", 2);
const DOMAIN = "bench.test";
const KEY = { tokenSecret: "bench-token-secret-for-extauth", otpSeed: "XVGR73KMZH2M4XMY" };
const PASSWORD = "bench-password";

function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(2);
  header.writeUInt16BE(body.length);
  return Buffer.concat([header, body]);
}

function tokens(count: number, prefix: string): { user: string; token: string }[] {
  const now = Date.now() / 1000;
  return Array.from({ length: count }, (_, i) => {
    const user = `${prefix}${i}`;
    return { user, token: mintToken({ jid: `${user}@${DOMAIN}`, key: KEY, now }) };
  });
}

const pipeDataDir = mkdtempSync(join(tmpdir(), "x-token-bench-extauth-"));
process.once("exit", () => rmSync(pipeDataDir, { recursive: true, force: true }));

/** Part 1: the binary on a pipe vs the in-process check. */
async function pipeBenchmark(): Promise<void> {
  const child = spawn(process.execPath, [SERVER_BINARY, "extauth"], {
    // The default engine (SQLite), in a folder of its own removed at exit.
    env: { PATH: process.env.PATH ?? "", XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: KEY.otpSeed, XTOKEN_DATA_DIR: pipeDataDir },
    stdio: ["pipe", "pipe", "ignore"],
  });
  let received = Buffer.alloc(0);
  let wanted = 0;
  let wake: (() => void) | null = null;
  child.stdout.on("data", (d: Buffer) => {
    received = Buffer.concat([received, d]);
    if (received.length >= wanted) wake?.();
  });
  const answers = (count: number) =>
    new Promise<Buffer>((resolve) => {
      wanted = count * 4;
      const check = () => {
        if (received.length < wanted) return;
        wake = null;
        const out = received.subarray(0, wanted);
        received = received.subarray(wanted);
        resolve(out);
      };
      wake = check;
      check();
    });
  const expectAllYes = (out: Buffer, what: string) => {
    for (let i = 0; i < out.length; i += 4) if (out.readUInt32BE(i) !== 0x00020001) throw new Error(`${what}: a request was refused`);
  };

  // Warm-up (start-up, JIT), then one at a time like an ejabberd worker, then pipelined.
  for (const { user, token } of tokens(500, "w")) {
    child.stdin.write(frame(`auth:${user}:${DOMAIN}:${token}`));
    expectAllYes(await answers(1), "warm-up");
  }
  const lockstepFrames = tokens(REQUESTS, "l").map(({ user, token }) => frame(`auth:${user}:${DOMAIN}:${token}`));
  let cpu = cpuSeconds(child.pid!);
  let t0 = process.hrtime.bigint();
  for (const f of lockstepFrames) {
    child.stdin.write(f);
    expectAllYes(await answers(1), "one at a time");
  }
  const lockstepSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const lockstepCpuUs = ((cpuSeconds(child.pid!) - cpu) * 1e6) / REQUESTS;

  const pipelinedFrames = Buffer.concat(tokens(REQUESTS, "p").map(({ user, token }) => frame(`auth:${user}:${DOMAIN}:${token}`)));
  cpu = cpuSeconds(child.pid!);
  t0 = process.hrtime.bigint();
  child.stdin.write(pipelinedFrames);
  expectAllYes(await answers(REQUESTS), "pipelined");
  const pipelinedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const pipelinedCpuUs = ((cpuSeconds(child.pid!) - cpu) * 1e6) / REQUESTS;
  child.stdin.end();
  await new Promise((resolve) => child.once("exit", resolve));

  const authority = new TokenAuthority({ domains: { [DOMAIN]: { keys: [KEY] } }, replay: new MemoryReplayStore({ maxEntries: 1_000_000 }) });
  for (const { user, token } of tokens(500, "iw")) await authority.check(user, DOMAIN, token);
  const inProcess = tokens(REQUESTS, "i");
  const cpu0 = process.cpuUsage();
  t0 = process.hrtime.bigint();
  for (const { user, token } of inProcess) {
    if (!(await authority.check(user, DOMAIN, token)).ok) throw new Error("in-process: a token was refused");
  }
  const inProcessSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu0);
  const inProcessCpuUs = (used.user + used.system) / REQUESTS;

  const rate = (seconds: number) => REQUESTS / seconds;
  console.log(`x-token extauth on a pipe, ${REQUESTS} auth requests (fresh tokens, ejabberd framing):`);
  console.log(`  one at a time (as an ejabberd worker): ${rate(lockstepSeconds).toFixed(0)} requests/s, program CPU ${lockstepCpuUs.toFixed(1)} µs/request`);
  console.log(`  pipelined (32 in flight):              ${rate(pipelinedSeconds).toFixed(0)} requests/s, program CPU ${pipelinedCpuUs.toFixed(1)} µs/request`);
  console.log(`  in-process check (TokenAuthority):     ${rate(inProcessSeconds).toFixed(0)} checks/s, CPU ${inProcessCpuUs.toFixed(1)} µs/check`);
  console.log(`  pipe/in-process ratios: requests/s one at a time ${(rate(lockstepSeconds) / rate(inProcessSeconds)).toFixed(2)}, pipelined ${(rate(pipelinedSeconds) / rate(inProcessSeconds)).toFixed(2)}; ` +
    `CPU per request one at a time ${(lockstepCpuUs / inProcessCpuUs).toFixed(2)}, pipelined ${(pipelinedCpuUs / inProcessCpuUs).toFixed(2)}`);
}

/** A process and all its descendants (ejabberd's VM, its port helper, the extauth shells and programs). */
function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) comes after the command name in parentheses, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** The redis-server process serving `port` (its title names the address), or null. */
function redisPid(port: number): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (title.includes("redis-server") && title.includes(`:${port}`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

function treeCpuSeconds(pids: number[]): { total: number; byPid: Map<number, number> } {
  const byPid = new Map<number, number>();
  for (const pid of pids) {
    try {
      byPid.set(pid, cpuSeconds(pid));
    } catch {
      byPid.set(pid, 0);
    }
  }
  return { total: [...byPid.values()].reduce((a, b) => a + b, 0), byPid };
}

interface Batch {
  cpuMs: number;
  /** The VM's share (the rest is the extauth programs and Redis). */
  vmCpuMs: number;
  redisCpuMs: number;
  rate: number;
  p50: number;
  p99: number;
}

/** Part 2: the same logins against ejabberd + x-token extauth and ejabberd + internal accounts. */
async function ejabberdBenchmark(): Promise<void> {
  const unavailable = ejabberdUnavailable();
  if (unavailable) {
    console.log(`ejabberd end to end: skipped (${unavailable})`);
    return;
  }
  // Two workers share used tokens through a Redis when there is one, else through the SQLite file
  // beside the configuration (the default for one ejabberd node).
  const redis: PrivateRedis | null = REDIS_SERVER ? await startRedis() : null;
  const store = redis ? { store: { redis: { url: redis.url } } } : { storage: { dir: "data" } };
  const config = ejabberdPrivateFile("x-token.json", JSON.stringify({ domains: { [DOMAIN]: { keys: [KEY] } }, replay: { maxEntries: 1_000_000 }, ...store }));
  let external: RunningEjabberd | undefined;
  let internal: RunningEjabberd | undefined;
  const clients = new LoadClients(PROCS);
  try {
    [external, internal] = await Promise.all([
      startEjabberd({ domains: [DOMAIN], tls: false, saslMechanisms: "plain-only", auth: { method: "external", program: [process.execPath, SERVER_BINARY, "extauth", "--config", config.path], poolSize: 2 } }),
      startEjabberd({ domains: [DOMAIN], tls: false, saslMechanisms: "plain-only", auth: { method: "internal" } }),
    ]);
    await internal.register("bench", PASSWORD);
    const users = Array.from({ length: N }, () => "bench");
    const batch = async (ej: RunningEjabberd, withTokens: boolean, n = N): Promise<Batch> => {
      const redisProcess = withTokens && redis ? redisPid(redis.port) : null;
      const pids = [...processTree(ej.pid), ...(redisProcess ? [redisProcess] : [])];
      const before = treeCpuSeconds(pids);
      const r = await clients.logins({ port: ej.c2sPort, domain: DOMAIN, key: KEY, users: users.slice(0, n), concurrency: C, mechanism: "PLAIN", password: withTokens ? undefined : PASSWORD });
      if (r.failures > 0) throw new Error(`${r.failures} logins failed: ${r.firstError}`);
      const after = treeCpuSeconds(pids);
      return {
        cpuMs: ((after.total - before.total) * 1000) / n,
        vmCpuMs: (((after.byPid.get(ej.pid) ?? 0) - (before.byPid.get(ej.pid) ?? 0)) * 1000) / n,
        redisCpuMs: redisProcess ? (((after.byPid.get(redisProcess) ?? 0) - (before.byPid.get(redisProcess) ?? 0)) * 1000) / n : 0,
        rate: n / r.seconds,
        p50: percentile(r.latencies, 50),
        p99: percentile(r.latencies, 99),
      };
    };
    await batch(external, true, 300); // warm-up: the extauth programs' JIT, ejabberd's tables
    await batch(internal, false, 300);
    const ext: Batch[] = [];
    const int: Batch[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so a drift in the machine's load falls on both alike.
      if (round % 2 === 0) {
        ext.push(await batch(external, true));
        int.push(await batch(internal, false));
      } else {
        int.push(await batch(internal, false));
        ext.push(await batch(external, true));
      }
    }
    const show = (name: string, b: Batch[]) =>
      console.log(`  ${name}: ${spread(b.map((x) => x.rate), 0)} logins/s, server CPU ${spread(b.map((x) => x.cpuMs), 3)} ms/login ` +
        `(VM ${spread(b.map((x) => x.vmCpuMs), 3)}${b[0]!.redisCpuMs ? `, Redis ${spread(b.map((x) => x.redisCpuMs), 3)}` : ""}), p50 ${spread(b.map((x) => x.p50), 1)} ms, p99 ${spread(b.map((x) => x.p99), 1)} ms`);
    console.log(`ejabberd 23.01 end to end, PLAIN without TLS: ${N} logins a round, ${C} in flight, ${PROCS} load processes, ${ROUNDS} rounds after a warm-up (median (min-max))`);
    show(`x-token extauth (pool 2, ${redis ? "Redis store" : "in-memory store"})`, ext);
    show("internal accounts (same user, password)  ", int);
    console.log(`  extauth/internal ratio: logins/s ${spread(ext.map((b, i) => b.rate / int[i]!.rate))}, CPU per login ${spread(ext.map((b, i) => b.cpuMs / int[i]!.cpuMs))}`);
  } finally {
    clients.stop();
    await Promise.all([external?.stop(), internal?.stop()]);
    config.remove();
    await redis?.close();
  }
}

await pipeBenchmark();
await ejabberdBenchmark();
