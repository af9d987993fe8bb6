/**
 * Reconnect storm: N clients log in over STARTTLS with fresh tokens, C at a time, as fast as the
 * real server (`x-token serve`, a child process) takes them; then the same clients log in again
 * resuming their TLS sessions. Load clients run in their own processes (--procs). Rounds of
 * (full storm, resumed storm) are interleaved after a warm-up, and medians are printed with their
 * spread: time until all are bound, logins/s, latency p50/p99/max, server CPU per login, the
 * server's peak RSS, failures (must be 0), and resumed/full CPU per login (the storm's floor is a
 * full handshake: the ratio says what resumption saves).
 * Usage: npm run bench:storm [-- --n 5000 --c 200 --procs 2 --rounds 3]
 */
import { BENCH_DOMAIN, BENCH_KEY, benchServerConfig, cpuSeconds, LoadClients, median, memoryKiB, numberFlag, percentile, SERVER_BINARY, spread, startProcess } from "./lib/harness.js";

const N = numberFlag("n", 5000);
const C = numberFlag("c", 200);
const PROCS = numberFlag("procs", 2);
const ROUNDS = numberFlag("rounds", 3);
const DOMAIN = BENCH_DOMAIN;
const KEY = BENCH_KEY;

const { configPath, ca } = await benchServerConfig();

const server = await startProcess(SERVER_BINARY, ["serve", "--config", configPath], { XMPP_REQUIRE_TLS: "true" });
const clients = new LoadClients(PROCS);
const users = Array.from({ length: N }, (_, i) => `storm${i}`);
const job = { port: server.port, domain: DOMAIN, key: KEY, ca: ca, concurrency: C };

interface Storm {
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
  max: number;
  cpuMs: number;
  peakMiB: number;
  failures: number;
  resumed: number;
}

async function storm(resume: boolean): Promise<Storm> {
  const cpu = cpuSeconds(server.pid);
  const r = await clients.logins({ ...job, users, resume });
  const ok = r.latencies.length;
  if (r.failures > 0) console.log(`  ${r.failures} failures, first: ${r.firstError}`);
  return {
    seconds: r.seconds,
    rate: ok / r.seconds,
    p50: percentile(r.latencies, 50),
    p99: percentile(r.latencies, 99),
    max: r.latencies[r.latencies.length - 1] ?? NaN,
    cpuMs: ((cpuSeconds(server.pid) - cpu) * 1000) / Math.max(1, ok),
    peakMiB: memoryKiB(server.pid).peak / 1024,
    failures: r.failures,
    resumed: r.resumed,
  };
}

try {
  // Warm-up: JIT, TLS setup, the replay store's first growth.
  await clients.logins({ ...job, users: Array.from({ length: Math.min(500, N) }, (_, i) => `warm${i}`) });
  const full: Storm[] = [];
  const resumed: Storm[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    full.push(await storm(false));
    resumed.push(await storm(true));
    const f = full[round]!;
    const r = resumed[round]!;
    console.log(
      `round ${round + 1}: full ${f.seconds.toFixed(2)} s, ${f.cpuMs.toFixed(3)} ms CPU/login; ` +
        `resumed ${r.seconds.toFixed(2)} s, ${r.cpuMs.toFixed(3)} ms CPU/login (${r.resumed}/${N} resumed)`,
    );
  }
  const report = (name: string, s: Storm[]) => {
    console.log(`${name}: ${N} clients over STARTTLS, ${C} in flight, ${PROCS} load processes, ${ROUNDS} rounds (median (min-max))`);
    console.log(`  all bound after ${spread(s.map((x) => x.seconds))} s, ${spread(s.map((x) => x.rate), 0)} logins/s`);
    console.log(`  latency p50 ${spread(s.map((x) => x.p50), 1)} ms, p99 ${spread(s.map((x) => x.p99), 1)} ms, max ${spread(s.map((x) => x.max), 1)} ms`);
    console.log(`  server CPU ${spread(s.map((x) => x.cpuMs), 3)} ms per login, peak RSS ${median(s.map((x) => x.peakMiB)).toFixed(0)} MiB`);
    console.log(`  failures ${s.reduce((n, x) => n + x.failures, 0)}`);
  };
  report("full handshakes", full);
  report("resumed sessions", resumed);
  const ratios = full.map((f, i) => resumed[i]!.cpuMs / f.cpuMs);
  console.log(`resumed/full CPU per login ratio: ${spread(ratios)}`);
  const failures = [...full, ...resumed].reduce((n, x) => n + x.failures, 0);
  if (failures > 0) process.exitCode = 1;
} finally {
  clients.stop();
  await server.stop();
}
