/**
 * Replay claims on Redis against the in-memory store, in one run: µs per claim for the memory
 * store, for Redis one claim at a time (a network round trip each) and for Redis with many claims
 * in flight (node-redis pipelines the commands written in the same tick), and their ratios.
 * Redis is a private redis-server on a loopback port (or XTOKEN_BENCH_REDIS_URL); without
 * redis-server installed the Redis cases are skipped with a note.
 * Cases are interleaved over a few rounds and each round's best is kept.
 * Usage: node dist/scripts/bench-replay.js [--seconds 1] [--in-flight 100]   (run by `npm run bench`)
 */
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import { connectRedis, RedisReplayStore } from "../src/stores/redis/index.js";
import { REDIS_SERVER, startRedis, type PrivateRedis } from "./lib/private-redis.js";
import { positiveFlag as flag } from "./lib/flags.js";


const SECONDS = flag("seconds", 1);
const IN_FLIGHT = Math.round(flag("in-flight", 100));
const ROUNDS = 4;
const NOW = 1_700_000_000;
const EXPIRES = NOW + 60;
let counter = 0;
/** A fresh replay id per claim, shaped like the real ones (bare JID, OTP and nonce). */
function nextId(): string {
  return `alice@example.com 12345678${String(counter++).padStart(32, "0")}`;
}

type Case = { name: string; run: (seconds: number) => Promise<number> };

/** Claims per second, one awaited after another. */
async function sequential(claim: (id: string) => unknown, seconds: number): Promise<number> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  do {
    for (let n = 0; n < 100; n++) {
      if ((await claim(nextId())) !== "claimed") throw new Error("a fresh id was not claimed: the benchmark is broken");
    }
    ops += 100;
  } while (process.hrtime.bigint() < deadline);
  return ops / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Claims per second with IN_FLIGHT claims sent together, then awaited together. */
async function pipelined(claim: (id: string) => Promise<unknown>, seconds: number): Promise<number> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  do {
    const answers = await Promise.all(Array.from({ length: IN_FLIGHT }, () => claim(nextId())));
    if (answers.some((a) => a !== "claimed")) throw new Error("a fresh id was not claimed: the benchmark is broken");
    ops += IN_FLIGHT;
  } while (process.hrtime.bigint() < deadline);
  return ops / (Number(process.hrtime.bigint() - start) / 1e9);
}

const memory = new MemoryReplayStore({ maxEntries: 5_000_000 });
const memoryClaim = (id: string) => memory.claim(id, EXPIRES, NOW);
const cases: Case[] = [{ name: "memory, one at a time", run: (s) => sequential(memoryClaim, s) }];

let privateRedis: PrivateRedis | null = null;
let url = process.env.XTOKEN_BENCH_REDIS_URL || "";
if (!url && REDIS_SERVER) {
  privateRedis = await startRedis();
  url = privateRedis.url;
}
const connection = url ? await connectRedis({ url, log: { info() {}, warn: (m) => console.error(m) } }) : null;
if (connection) {
  const redis = new RedisReplayStore({ client: connection.client, keyPrefix: `x-token-bench:${process.pid}:`, timeoutMs: 5000 });
  const redisClaim = (id: string) => redis.claim(id, EXPIRES, NOW);
  cases.push(
    { name: "Redis, one at a time", run: (s) => sequential(redisClaim, s) },
    { name: `Redis, ${IN_FLIGHT} in flight (pipelined)`, run: (s) => pipelined(redisClaim, s) },
  );
}

try {
  console.log(`Replay claims, memory vs Redis${connection ? ` (${connection.where}, loopback)` : ""}: ${ROUNDS} interleaved rounds, ${SECONDS} s per case in all, best round kept`);
  if (!connection) console.log("  Redis cases skipped: redis-server is not installed (apt-get install redis-server) and XTOKEN_BENCH_REDIS_URL is not set");
  for (const c of cases) await c.run(0.05); // warm-up: connection, JIT
  const best = new Map<string, number>(cases.map((c) => [c.name, 0]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) best.set(c.name, Math.max(best.get(c.name)!, await c.run(SECONDS / ROUNDS)));
  }
  for (const [name, rate] of best) {
    console.log(`  ${name.padEnd(36)} ${Math.round(rate).toLocaleString("en-US").padStart(10)} claims/s  ${(1e6 / rate).toFixed(2).padStart(8)} µs/claim`);
  }
  if (connection) {
    const [mem, one, many] = cases.map((c) => best.get(c.name)!) as [number, number, number];
    console.log(`redis-one-at-a-time/memory ratio (µs per claim): ${(mem / one).toFixed(1)}`);
    console.log(`redis-pipelined/memory ratio (µs per claim): ${(mem / many).toFixed(1)}`);
    console.log(`one-at-a-time/pipelined ratio on Redis: ${(many / one).toFixed(1)}`);
  }
} finally {
  await connection?.close();
  await privateRedis?.close();
}
