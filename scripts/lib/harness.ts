/**
 * What the server benchmarks share: the real server (`x-token serve`) in a child process,
 * its CPU time and memory read from /proc (independent of the load client's speed), and a pool of
 * load-client processes (scripts/lib/load-client.ts) that split the work between them.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSelfSignedCertificate } from "../../src/app/tls/self-signed.js";
import net from "node:net";
import type { JobResult, LoginJob, PingJob } from "./load-client.js";
export { numberFlag, textFlag } from "./flags.js";

/**
 * CPU seconds a process has run so far, all its threads (libuv's pool included), in nanosecond
 * resolution from /proc/PID/task/TID/schedstat (/proc/PID/stat counts 10 ms ticks, too coarse
 * for a batch of sub-millisecond logins).
 */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e9;
}

/** Resident memory now and at its peak, in KiB (VmRSS, VmHWM). */
export function memoryKiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server did not listen on ${port}: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ServerProcess {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a node script listening on a free c2s port and waits until it accepts connections.
 * `args` follow the script; the port goes in XMPP_C2S_PORT (and as the last argument for scripts
 * that take it there).
 */
export async function startProcess(
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  command = process.execPath,
): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(command, [...nodeArgs, script, ...args], {
    env: { PATH: process.env.PATH ?? "", XMPP_C2S_PORT: String(port), XMPP_HTTP_PORT: "0", PORT: String(port), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out.length < 20_000 ? (out += d) : undefined));
  await waitForPort(port, child, () => out);
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** The project's own server binary (built into dist/). */
export const SERVER_BINARY = new URL("../../src/app/cli/main.js", import.meta.url).pathname;

export class LoadClients {
  private readonly children: ChildProcess[];

  constructor(count: number) {
    const script = new URL("./load-client.js", import.meta.url).pathname;
    this.children = Array.from({ length: count }, () => fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  }

  private ask(child: ChildProcess, job: LoginJob | PingJob | { type: "close" }): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error("load client exited"));
      child.once("exit", onExit);
      child.once("message", (m) => {
        child.off("exit", onExit);
        resolve(m as JobResult);
      });
      child.send(job);
    });
  }

  /** Splits the users over the clients (user i goes to client i mod k, so each keeps its own TLS sessions). */
  async logins(job: Omit<LoginJob, "type">): Promise<JobResult & { seconds: number }> {
    const k = this.children.length;
    const started = process.hrtime.bigint();
    const parts = await Promise.all(
      this.children.map((child, c) =>
        this.ask(child, {
          ...job,
          type: "logins",
          users: job.users.filter((_, i) => i % k === c),
          concurrency: Math.max(1, Math.round(job.concurrency / k)),
        }),
      ),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { ...merge(parts), seconds };
  }

  async ping(count: number): Promise<JobResult> {
    return merge([await this.ask(this.children[0]!, { type: "ping", count })]);
  }

  async closeHeld(): Promise<void> {
    await Promise.all(this.children.map((child) => this.ask(child, { type: "close" })));
  }

  stop(): void {
    for (const child of this.children) child.disconnect();
  }
}

function merge(parts: JobResult[]): JobResult {
  return {
    latencies: parts.flatMap((p) => p.latencies).sort((a, b) => a - b),
    failures: parts.reduce((n, p) => n + p.failures, 0),
    firstError: parts.find((p) => p.firstError)?.firstError,
    resumed: parts.reduce((n, p) => n + p.resumed, 0),
    held: parts.reduce((n, p) => n + p.held, 0),
  };
}

/** The p-th percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** "median (min-max)" of a series. */
export function spread(values: number[], digits = 2): string {
  return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
}

/** The domain and key every server benchmark logs in to. */
export const BENCH_DOMAIN = "bench.test";
export const BENCH_KEY = { tokenSecret: "bench-token-secret", otpSeed: "XVGR73KMZH2M4XMY" };

/**
 * A temp folder with a self-signed certificate and a config.json for `x-token serve`: the bench
 * domain, TLS, and limits that a benchmark's one loopback address does not trip.
 */
export async function benchServerConfig(): Promise<{ configPath: string; ca: string }> {
  const dir = mkdtempSync(join(tmpdir(), "x-token-bench-"));
  const pem = await createSelfSignedCertificate([BENCH_DOMAIN]);
  writeFileSync(join(dir, "cert.pem"), pem.cert);
  writeFileSync(join(dir, "key.pem"), pem.key, { mode: 0o600 });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      domains: { [BENCH_DOMAIN]: { keys: [BENCH_KEY] } },
      tls: { certFile: "cert.pem", keyFile: "key.pem" },
      limits: { maxAuthFailuresPerIpPerMinute: 1_000_000 },
      replay: { maxEntries: 1_000_000 },
      // SQLite beside the configuration (the default engine); XTOKEN_STORAGE=memory overrides it.
      storage: { dir: "data" },
    }),
  );
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return { configPath: join(dir, "config.json"), ca: pem.cert };
}
