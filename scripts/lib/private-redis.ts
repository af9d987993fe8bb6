/**
 * A private redis-server (for tests and benchmarks): Debian's binary on a free 127.0.0.1 port,
 * its own temp dir, nothing persisted. It can be stopped and started again on the same port
 * (Redis down, Redis back) and frozen with SIGSTOP (Redis that accepts but never answers).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

function findRedisServer(): string | null {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/bin", "/usr/sbin", "/usr/local/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, "redis-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The redis-server binary, or null when it is not installed. */
export const REDIS_SERVER = findRedisServer();

export interface PrivateRedis {
  readonly port: number;
  /** redis://127.0.0.1:PORT (with the password when one was set). */
  readonly url: string;
  /** Whether the server process is running (it may be frozen). */
  readonly running: boolean;
  /** Stops the server (SIGTERM, then waits for it to exit). Data is gone: nothing is persisted. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open and commands are never answered (a hung Redis). */
  freeze(): void;
  /** SIGCONT: the frozen server answers again, including what it was sent meanwhile. */
  thaw(): void;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Sets requirepass; the url then carries it. */
  password?: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** One PING over a fresh connection; true when the server answers +PONG (or NOAUTH: it is up). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let reply = "";
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG") || reply.startsWith("-NOAUTH"));
    });
  });
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  // A test or benchmark that fails before close() must not leave a redis-server behind (nor a frozen one).
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Starts a private redis-server. Throws when it is not installed (check REDIS_SERVER first). */
export async function startRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const binary = REDIS_SERVER;
  if (!binary) throw new Error("redis-server is not installed (apt-get install redis-server)");
  const dir = mkdtempSync(path.join(os.tmpdir(), "x-token-redis-"));
  let child: ChildProcess | null = null;
  let output = "";
  let port = 0;

  const args = (p: number) => [
    "--port", String(p),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--save", "",
    "--appendonly", "no",
    "--daemonize", "no",
    "--logfile", "",
    "--loglevel", "warning",
    "--databases", "1",
    ...(options.password ? ["--requirepass", options.password] : []),
  ];

  async function launch(p: number): Promise<boolean> {
    output = "";
    const proc = spawn(binary!, args(p), { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    running.add(proc);
    let exited = false;
    proc.once("exit", () => {
      exited = true;
      running.delete(proc);
    });
    const keep = (d: Buffer) => {
      if (output.length < 8192) output += d.toString();
    };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited) return false; // e.g. the port was taken meanwhile
      if (await ping(p)) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    proc.kill("SIGKILL");
    throw new Error(`redis-server did not answer within 10 s: ${output.trim()}`);
  }

  async function stop(): Promise<void> {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGCONT"); // a frozen server cannot act on SIGTERM
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  // The port is free when probed but another process may take it before redis binds: try again.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    if (await launch(port)) break;
    if (attempt === 4) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server would not start: ${output.trim()}`);
    }
  }

  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    stop,
    async start() {
      if (child) return;
      if (!(await launch(port))) throw new Error(`redis-server could not start again on port ${port}: ${output.trim()}`);
    },
    freeze() {
      child?.kill("SIGSTOP");
    },
    thaw() {
      child?.kill("SIGCONT");
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
