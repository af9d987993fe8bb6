/**
 * Login benchmark: X-TOKEN logins with fresh tokens against the real server (`x-token serve`, a
 * child process) on its two storage engines (SQLite in a temporary data directory, each used
 * token committed before its <success/>; and memory), interleaved in rounds with the same logins
 * against a canned responder (the floor: same exchange, constant answers, no parsing, no crypto;
 * scripts/lib/canned-responder.ts). Prints login/floor for each engine and sqlite/memory.
 * The load runs in separate processes (--procs). Printed after a warm-up, as medians over the
 * rounds with their spread: the server's CPU per login (read from /proc, independent of the load
 * client), logins/s, p50/p99 latency, and `login/floor ratio`; then the same over STARTTLS; then
 * SASL2 + Bind 2 over STARTTLS (resumed TLS sessions, SQLite), X-TOKEN logins that ask for a FAST
 * token against FAST logins (HT-SHA-256-NONE) with those tokens, in the same run (issue 20).
 * Usage: npm run bench:login [-- --n 1000 --c 50 --rounds 5 --warmup 5 --procs 2 --profile DIR]
 * (--warmup: batches of --n logins each side runs before any is measured)
 * --profile DIR runs the real server under `node --cpu-prof` and leaves a .cpuprofile per case in DIR.
 */
import { mintToken } from "../src/core/token/mint.js";
import { checkToken } from "../src/core/token/verify.js";
import { Keyring } from "../src/core/token/keys.js";
import { BENCH_DOMAIN, BENCH_KEY, benchServerConfig, cpuSeconds, LoadClients, numberFlag, percentile, SERVER_BINARY, spread, startProcess, textFlag, type ServerProcess } from "./lib/harness.js";

const N = numberFlag("n", 1000);
const C = numberFlag("c", 50);
const ROUNDS = numberFlag("rounds", 5);
const PROCS = numberFlag("procs", 2);
const WARMUP_BATCHES = numberFlag("warmup", 5);
const PROFILE_DIR = textFlag("profile");
const DOMAIN = BENCH_DOMAIN;
const KEY = BENCH_KEY;
const PROSODY_CPU_MS = 2.8; // Prosody 0.12 + mod_auth_token, plain TCP, measured on the same kind of machine (issue 3)

const { configPath, ca } = await benchServerConfig();

const profile = PROFILE_DIR ? ["--cpu-prof", "--cpu-prof-dir", PROFILE_DIR] : [];
type Engine = "sqlite" | "memory";
const serve = (requireTls: boolean, engine: Engine = "sqlite") =>
  startProcess(SERVER_BINARY, ["serve", "--config", configPath], { XMPP_REQUIRE_TLS: String(requireTls), XTOKEN_STORAGE: engine }, profile);
const canned = () => startProcess(new URL("./lib/canned-responder.js", import.meta.url).pathname, [], { DOMAIN });
const clients = new LoadClients(PROCS);

interface Batch {
  cpuMs: number;
  rate: number;
  p50: number;
  p99: number;
}

let batchNo = 0;
async function batch(target: ServerProcess, tls: boolean, n = N, sasl2?: { users: string[]; mode: "x-token" | "fast" }): Promise<Batch> {
  const users = sasl2?.users ?? Array.from({ length: n }, (_, i) => `u${batchNo}x${i}`);
  batchNo++;
  const cpu = cpuSeconds(target.pid);
  const r = await clients.logins({
    port: target.port,
    domain: DOMAIN,
    key: KEY,
    users,
    concurrency: C,
    ca: tls ? ca : undefined,
    ...(sasl2 ? { sasl2: sasl2.mode, resume: true } : {}),
  });
  if (r.failures > 0) throw new Error(`${r.failures} logins failed: ${r.firstError}`);
  return {
    cpuMs: ((cpuSeconds(target.pid) - cpu) * 1000) / n,
    rate: n / r.seconds,
    p50: percentile(r.latencies, 50),
    p99: percentile(r.latencies, 99),
  };
}

function report(name: string, batches: Batch[]): void {
  console.log(`  ${name}: CPU ${spread(batches.map((b) => b.cpuMs), 3)} ms/login, ${spread(batches.map((b) => b.rate), 0)} logins/s, ` +
    `p50 ${spread(batches.map((b) => b.p50), 1)} ms, p99 ${spread(batches.map((b) => b.p99), 1)} ms`);
}

// The verify-only cost, in this process, for comparison with the per-login server CPU.
const keys = new Keyring([KEY]);
const now = Date.now() / 1000;
const sample = Array.from({ length: 20_000 }, (_, i) => mintToken({ jid: `user${i}@${DOMAIN}`, key: keys, now }));
const t0 = process.hrtime.bigint();
for (let i = 0; i < sample.length; i++) checkToken(sample[i], { jid: `user${i}@${DOMAIN}`, keys, now });
const verifyUs = Number(process.hrtime.bigint() - t0) / 1e3 / sample.length;

try {
  const real = await serve(false, "sqlite");
  const memory = await serve(false, "memory");
  const floor = await canned();
  const sides = [real, memory, floor];
  // Warm-up: V8 keeps compiling the login path on background threads (their CPU is counted)
  // for a few thousand logins; with a 500-login warm-up a quarter of the first measured
  // round's CPU was the optimising compiler (perf). Every side gets the same warm-up.
  for (let i = 0; i < WARMUP_BATCHES; i++) for (const side of sides) await batch(side, false);
  const results = new Map<ServerProcess, Batch[]>(sides.map((side) => [side, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate which goes first, so a drift in the machine's load falls on all alike.
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(round + k) % sides.length]!;
      results.get(side)!.push(await batch(side, false));
    }
  }
  for (const side of sides) await side.stop();
  const reals = results.get(real)!;
  const memories = results.get(memory)!;
  const floors = results.get(floor)!;
  console.log(`plain TCP: ${N} logins a round, ${C} in flight, ${PROCS} load processes, ${ROUNDS} rounds after ${WARMUP_BATCHES * N} warm-up logins (median (min-max))`);
  report("server, SQLite", reals);
  report("server, memory", memories);
  report("floor         ", floors);
  console.log(`login/floor ratio: SQLite ${spread(reals.map((b, i) => b.cpuMs / floors[i]!.cpuMs))}, memory ${spread(memories.map((b, i) => b.cpuMs / floors[i]!.cpuMs))}`);
  console.log(`SQLite/memory CPU per login: ${spread(reals.map((b, i) => b.cpuMs / memories[i]!.cpuMs))}`);
  console.log(`  (Prosody 0.12 + mod_auth_token: ${PROSODY_CPU_MS} ms/login measured once on this kind of machine)`);

  const secure = await serve(true);
  for (let i = 0; i < Math.min(WARMUP_BATCHES, 2); i++) await batch(secure, true);
  const tlsBatches: Batch[] = [];
  for (let round = 0; round < Math.min(ROUNDS, 3); round++) tlsBatches.push(await batch(secure, true));
  await secure.stop();
  console.log(`STARTTLS (full handshakes): ${N} logins a round, ${C} in flight`);
  report("server", tlsBatches);

  // SASL2: the same users log in with X-TOKEN (asking for a FAST token: one write) and with FAST.
  // The first FAST login after a new token promotes it (one write) and is not measured; the
  // second is the steady state (a read and two hashes). TLS sessions are resumed on both sides.
  const fastServer = await serve(true);
  const fastUsers = Array.from({ length: N }, (_, i) => `fast${i}`);
  await batch(fastServer, true, N, { users: fastUsers, mode: "x-token" });
  const xTokenBatches: Batch[] = [];
  const fastBatches: Batch[] = [];
  for (let round = 0; round < Math.min(ROUNDS, 3) + 1; round++) {
    const xToken = await batch(fastServer, true, N, { users: fastUsers, mode: "x-token" });
    await batch(fastServer, true, N, { users: fastUsers, mode: "fast" });
    const fast = await batch(fastServer, true, N, { users: fastUsers, mode: "fast" });
    // The first round warms the SASL2 paths up.
    if (round === 0) continue;
    xTokenBatches.push(xToken);
    fastBatches.push(fast);
  }
  await fastServer.stop();
  console.log(`SASL2 + Bind 2 over STARTTLS (resumed sessions), SQLite: ${N} logins a round, ${C} in flight`);
  report("X-TOKEN + request-token", xTokenBatches);
  report("FAST (HT-SHA-256-NONE) ", fastBatches);
  console.log(`FAST/X-TOKEN CPU per login: ${spread(fastBatches.map((b, i) => b.cpuMs / xTokenBatches[i]!.cpuMs))}`);
  console.log(`verify only (checkToken): ${verifyUs.toFixed(1)} µs per token`);
} finally {
  clients.stop();
}
