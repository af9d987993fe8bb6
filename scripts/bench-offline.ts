/**
 * Offline-message and stored-roster benchmark, against the real server (`x-token serve`, child
 * processes): the SQLite engine (a temporary data directory) against the memory engine as the
 * baseline, in alternating rounds.
 * - Offline messages (XEP-0160): one sender stores --n chat messages for an account that is not
 *   online (timed to the answer of a ping sent after them, so every one is committed), then the
 *   account logs in and sends its initial presence: the time and the server's CPU (read from
 *   /proc, independent of this client) from the presence to the last message received, each
 *   with its delay stamp.
 * - A roster of --roster items (500, the per-account bound) put with roster sets; the SQLite
 *   server is stopped and started again, so the roster is read from the database; then the
 *   roster get: the first after the (re)start and the median of --gets more, time and CPU; and
 *   the time a start takes to read those items from the database (in this process).
 * Printed as medians over the rounds with their spread, and SQLite/memory ratios.
 * Usage: npm run bench:offline [-- --n 1000 --rounds 5 --warmup 1 --roster 500 --gets 20]
 * Everything it writes (the configuration, the data directory) is in one temporary folder,
 * removed at the end.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type net from "node:net";
import { mintToken } from "../src/core/token/mint.js";
import { BENCH_DOMAIN, BENCH_KEY, cpuSeconds, numberFlag, SERVER_BINARY, spread, startProcess, type ServerProcess } from "./lib/harness.js";
import { rawLogin } from "./lib/raw-login.js";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import { DEFAULT_ROSTER_LIMITS, RosterStore } from "../src/server/roster/index.js";

const N = numberFlag("n", 1000);
const ROUNDS = numberFlag("rounds", 5);
const WARMUP = numberFlag("warmup", 1);
const ROSTER = Math.min(numberFlag("roster", 500), 500);
const GETS = numberFlag("gets", 20);
const DOMAIN = BENCH_DOMAIN;

const work = mkdtempSync(join(tmpdir(), "x-token-bench-offline-"));
const configPath = join(work, "config.json");
writeFileSync(
  configPath,
  JSON.stringify({
    domains: { [DOMAIN]: { keys: [BENCH_KEY] } },
    requireTls: false,
    limits: { maxAuthFailuresPerIpPerMinute: 1_000_000 },
    replay: { maxEntries: 1_000_000 },
    storage: { offline: { maxMessagesPerAccount: N, maxBytesPerAccount: Math.max(10 * 1024 * 1024, N * 1024) } },
  }),
);

type Engine = "sqlite" | "memory";
const engineEnv = (engine: Engine, dataDir: string): Record<string, string> =>
  engine === "sqlite" ? { XTOKEN_DATA_DIR: dataDir } : { XTOKEN_STORAGE: "memory" };
const serve = (engine: Engine, dataDir = join(work, "data")) => startProcess(SERVER_BINARY, ["serve", "--config", configPath], engineEnv(engine, dataDir));

/** A bound stream of `user`, and what it receives: text, and a count of `</message>` seen. */
class Stream {
  text = "";
  messages = 0;
  private scanFrom = 0;
  private waiter: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.text += d.toString("latin1");
      let i: number;
      while ((i = this.text.indexOf("</message>", this.scanFrom)) !== -1) {
        this.messages++;
        this.scanFrom = i + "</message>".length;
      }
      this.scanFrom = Math.max(this.scanFrom, this.text.length - "</message>".length);
      this.waiter?.();
    });
  }

  static async open(port: number, user: string): Promise<Stream> {
    const token = mintToken({ jid: `${user}@${DOMAIN}`, key: [BENCH_KEY] });
    const { socket } = await rawLogin({ port, domain: DOMAIN, user, token, keepOpen: true });
    return new Stream(socket!);
  }

  write(text: string): void {
    this.socket.write(text);
  }

  async until(done: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.text.slice(-300)}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  /** Sends a ping and waits for its answer: everything sent before it has been handled. */
  async sync(id: string): Promise<void> {
    this.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await this.until(() => this.text.includes(`id="${id}"`), `the answer to ${id}`);
  }

  close(): void {
    this.socket.end("</stream:stream>");
    this.socket.on("error", () => {});
  }
}

interface OfflineRound {
  storeMs: number;
  storeCpuMs: number;
  deliverMs: number;
  deliverCpuMs: number;
}

const BODY = "Are we still on for tomorrow? I can bring the slides and the notes from last week's meeting.";
let roundNo = 0;

async function offlineRound(server: ServerProcess): Promise<OfflineRound> {
  const n = roundNo++;
  const recipient = `bob${n}`;
  // The account exists once it has logged in.
  (await Stream.open(server.port, recipient)).close();
  const sender = await Stream.open(server.port, `alice${n}`);
  let cpu = cpuSeconds(server.pid);
  let started = process.hrtime.bigint();
  let batch = "";
  for (let i = 0; i < N; i++) batch += `<message to='${recipient}@${DOMAIN}' type='chat' id='m${i}'><body>${BODY} (${i})</body></message>`;
  sender.write(batch);
  await sender.sync("stored");
  const storeMs = Number(process.hrtime.bigint() - started) / 1e6;
  const storeCpuMs = (cpuSeconds(server.pid) - cpu) * 1000;
  if (sender.text.includes('type="error"')) throw new Error(`a message was refused: ${sender.text.slice(0, 400)}`);
  sender.close();

  const back = await Stream.open(server.port, recipient);
  cpu = cpuSeconds(server.pid);
  started = process.hrtime.bigint();
  back.write("<presence/>");
  await back.until(() => back.messages >= N, `${N} messages`);
  const deliverMs = Number(process.hrtime.bigint() - started) / 1e6;
  const deliverCpuMs = (cpuSeconds(server.pid) - cpu) * 1000;
  const stamped = back.text.split("Offline Storage</delay>").length - 1;
  if (stamped !== N || !back.text.includes(`id="m0"`) || back.text.indexOf(`id="m0"`) > back.text.indexOf(`id="m${N - 1}"`)) {
    throw new Error(`expected ${N} delayed messages, oldest first; got ${stamped}`);
  }
  back.close();
  return { storeMs, storeCpuMs, deliverMs, deliverCpuMs };
}

interface RosterFigures {
  setCpuMs: number;
  firstMs: number;
  firstCpuMs: number;
  getMs: number;
  getCpuMs: number;
}

async function rosterGet(server: ServerProcess, stream: Stream, id: string): Promise<{ ms: number; cpuMs: number }> {
  const cpu = cpuSeconds(server.pid);
  const started = process.hrtime.bigint();
  stream.text = "";
  stream.write(`<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`);
  await stream.until(() => stream.text.includes("</iq>"), `the roster ${id}`);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpuMs = (cpuSeconds(server.pid) - cpu) * 1000;
  const items = stream.text.split("<item ").length - 1;
  if (items !== ROSTER) throw new Error(`the roster has ${items} items, not ${ROSTER}`);
  return { ms, cpuMs };
}

/** ROSTER roster sets; for SQLite a restart; then the gets. */
async function rosterCase(engine: Engine): Promise<RosterFigures> {
  const dataDir = join(work, `roster-${engine}`);
  let server = await serve(engine, dataDir);
  try {
    const owner = "carol";
    let stream = await Stream.open(server.port, owner);
    const cpu = cpuSeconds(server.pid);
    let sets = "";
    for (let i = 0; i < ROSTER; i++) {
      sets += `<iq type='set' id='s${i}'><query xmlns='jabber:iq:roster'><item jid='contact${i}@${DOMAIN}' name='Contact ${i}'><group>Friends</group></item></query></iq>`;
    }
    stream.write(sets);
    await stream.sync("sets");
    const setCpuMs = ((cpuSeconds(server.pid) - cpu) * 1000) / ROSTER;
    if (stream.text.includes('type="error"')) throw new Error(`a roster set failed: ${stream.text.slice(0, 400)}`);
    if (engine === "sqlite") {
      // The roster is read from the database when the server starts.
      stream.close();
      await server.stop();
      server = await serve(engine, dataDir);
      stream = await Stream.open(server.port, owner);
    }
    const first = await rosterGet(server, stream, "first");
    const rest: { ms: number; cpuMs: number }[] = [];
    for (let i = 0; i < GETS; i++) rest.push(await rosterGet(server, stream, `get${i}`));
    stream.close();
    const mid = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
    return { setCpuMs, firstMs: first.ms, firstCpuMs: first.cpuMs, getMs: mid(rest.map((r) => r.ms)), getCpuMs: mid(rest.map((r) => r.cpuMs)) };
  } finally {
    await server.stop();
  }
}

const servers: ServerProcess[] = [];
try {
  const sqlite = await serve("sqlite");
  servers.push(sqlite);
  const memory = await serve("memory");
  servers.push(memory);
  for (let i = 0; i < WARMUP; i++) {
    await offlineRound(sqlite);
    await offlineRound(memory);
  }
  const runs: Record<Engine, OfflineRound[]> = { sqlite: [], memory: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so a drift in the machine's load falls on both alike.
    const order: Engine[] = round % 2 === 0 ? ["sqlite", "memory"] : ["memory", "sqlite"];
    for (const engine of order) runs[engine].push(await offlineRound(engine === "sqlite" ? sqlite : memory));
  }
  console.log(`offline messages: ${N} chat messages stored for one account, then delivered at its login; ${ROUNDS} rounds after ${WARMUP} warm-up (median (min-max))`);
  for (const engine of ["sqlite", "memory"] as const) {
    const r = runs[engine];
    console.log(
      `  ${engine.padEnd(6)} store: ${spread(r.map((x) => x.storeMs), 1)} ms, server CPU ${spread(r.map((x) => (x.storeCpuMs * 1000) / N), 1)} µs/message;` +
        ` deliver: ${spread(r.map((x) => x.deliverMs), 1)} ms, server CPU ${spread(r.map((x) => x.deliverCpuMs), 1)} ms`,
    );
  }
  const ratio = (pick: (x: OfflineRound) => number) => spread(runs.sqlite.map((x, i) => pick(x) / pick(runs.memory[i]!)));
  console.log(`  sqlite/memory: store CPU ${ratio((x) => x.storeCpuMs)}, deliver time ${ratio((x) => x.deliverMs)}, deliver CPU ${ratio((x) => x.deliverCpuMs)}`);

  const rosters: Record<Engine, RosterFigures> = { sqlite: await rosterCase("sqlite"), memory: await rosterCase("memory") };
  console.log(`roster of ${ROSTER} items (roster sets; SQLite restarted before the gets, so its roster was read from the database)`);
  for (const engine of ["sqlite", "memory"] as const) {
    const r = rosters[engine];
    console.log(
      `  ${engine.padEnd(6)} set: server CPU ${(r.setCpuMs * 1000).toFixed(0)} µs/item; first get: ${r.firstMs.toFixed(2)} ms, CPU ${r.firstCpuMs.toFixed(2)} ms;` +
        ` get (median of ${GETS} more): ${r.getMs.toFixed(2)} ms, CPU ${r.getCpuMs.toFixed(2)} ms`,
    );
  }
  // What a start does with the database's rosters (RosterStore reads every item once), in this process.
  const stored = openSqliteStorage({ dir: join(work, "roster-sqlite") });
  const loads: number[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      const started = process.hrtime.bigint();
      const store = new RosterStore(DEFAULT_ROSTER_LIMITS, stored.rosters);
      loads.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (store.totalItems !== ROSTER) throw new Error(`read ${store.totalItems} items, not ${ROSTER}`);
    }
  } finally {
    stored.close();
  }
  console.log(`  reading the ${ROSTER} items from the database at start (RosterStore over SqliteRosterRecords): ${spread(loads, 2)} ms over 10 reads`);
  const s = rosters.sqlite;
  const m = rosters.memory;
  console.log(`  sqlite/memory: set CPU ${(s.setCpuMs / m.setCpuMs).toFixed(2)}, first get CPU ${(s.firstCpuMs / m.firstCpuMs).toFixed(2)}, get CPU ${(s.getCpuMs / m.getCpuMs).toFixed(2)}`);
} finally {
  for (const server of servers) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
