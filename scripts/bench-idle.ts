/**
 * Memory per idle authenticated connection and the server's responsiveness while it holds them:
 * the real server (`x-token serve`, a child process) takes N X-TOKEN logins that stay bound and
 * silent (held by load processes), then prints the server's RSS growth per connection and the
 * round-trip time of XMPP pings on held streams, against the same pings with only a few streams
 * held (the baseline, same run). Plain TCP by default, STARTTLS with --tls.
 * The server needs about N + 100 file descriptors: the script raises the soft limit for the server
 * (`ulimit -n`) up to the hard one and says so if the hard limit is too low.
 * Usage: npm run bench:idle [-- --n 10000 --procs 2 --tls]
 */
import { spawnSync } from "node:child_process";
import { BENCH_DOMAIN, BENCH_KEY, benchServerConfig, LoadClients, memoryKiB, median, numberFlag, percentile, SERVER_BINARY, startProcess } from "./lib/harness.js";

const N = numberFlag("n", 10_000);
const PROCS = numberFlag("procs", 2);
const TLS = process.argv.includes("--tls");
const PINGS = 200;
const DOMAIN = BENCH_DOMAIN;
const KEY = BENCH_KEY;

const hardLimit = Number(spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout.trim()) || Infinity;
const needed = N + 100;
if (hardLimit < needed || hardLimit < Math.ceil(N / PROCS) + 100) {
  console.error(`bench:idle needs about ${needed} open files per process (ulimit -n); the hard limit here is ${hardLimit}. Raise it (e.g. LimitNOFILE= in systemd, or ulimit -Hn as root) or use a smaller --n.`);
  process.exit(2);
}

const { configPath, ca } = await benchServerConfig();

// The server runs under `sh -c 'ulimit -n …; exec node …'` so only its soft limit is raised.
const server = await startProcess(
  "-c",
  [`ulimit -n ${Math.min(hardLimit, Math.max(needed, 1024))} && exec "${process.execPath}" "${SERVER_BINARY}" serve --config "${configPath}"`],
  { XMPP_REQUIRE_TLS: String(TLS) },
  [],
  "/bin/sh",
);
const clients = new LoadClients(PROCS);
const job = { port: server.port, domain: DOMAIN, key: KEY, concurrency: 100, ca: TLS ? ca : undefined, keepOpen: true };
const settle = () => new Promise((r) => setTimeout(r, 2000));

try {
  // Warm-up and baseline: a few held streams, pinged.
  await clients.logins({ ...job, users: Array.from({ length: 20 }, (_, i) => `base${i}`) });
  await clients.ping(50);
  const basePing = await clients.ping(PINGS);
  await settle();
  const before = memoryKiB(server.pid).rss;
  const held = await clients.logins({ ...job, users: Array.from({ length: N }, (_, i) => `idle${i}`) });
  if (held.failures > 0) throw new Error(`${held.failures} logins failed: ${held.firstError}`);
  await settle();
  const after = memoryKiB(server.pid).rss;
  const loadedPing = await clients.ping(PINGS);
  const perConnection = (after - before) / N;
  console.log(`${N} idle authenticated ${TLS ? "STARTTLS" : "plain TCP"} connections held by ${PROCS} load processes`);
  console.log(`  server RSS ${(before / 1024).toFixed(0)} MiB -> ${(after / 1024).toFixed(0)} MiB: ${perConnection.toFixed(1)} KiB per connection`);
  const line = (name: string, r: { latencies: number[]; failures: number }) =>
    `  ping RTT ${name}: median ${median(r.latencies).toFixed(2)} ms, p99 ${percentile(r.latencies, 99).toFixed(2)} ms${r.failures ? `, ${r.failures} lost` : ""}`;
  console.log(line("with 20 held (baseline)", basePing));
  console.log(line(`with ${N + 20} held`, loadedPing));
  console.log(`held/baseline ping ratio: ${(median(loadedPing.latencies) / median(basePing.latencies)).toFixed(2)}`);
  await clients.closeHeld();
} finally {
  clients.stop();
  await server.stop();
}
