/**
 * A private, real ejabberd node for tests and benchmarks (Debian's ejabberd package, 23.01).
 *
 * Each call to startEjabberd() gets its own temp folder (config, spool, logs), node name, Erlang
 * cookie and loopback ports, and nothing of the system's ejabberd setup is read or touched:
 *
 *   const ej = await startEjabberd({ auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file] } });
 *   // ... log in at 127.0.0.1:ej.c2sPort as someone@ej.domain ...
 *   await ej.stop();   // always, also when the test failed (afterAll / finally)
 *
 * ejabberdPrivateFile(name, text) writes a file only root and the ejabberd user can read (the
 * extauth program's config, with keys); ejabberdPrivateDir() makes a folder only they can use (the
 * program's data directory: storage.dir in its config). ejabberdUnavailable() says why a test must
 * skip.
 *
 * The extauth program's storage: it runs in ejabberd's working directory (ejabberdctl changes to
 * the spool folder), so a config without storage.dir would put ./x-token-data there. Tests name
 * it: `storage: { dir: ejabberdPrivateDir().path }` (SQLite, kept until the test removes it, so
 * it can outlive a restart) or `storage: { engine: "memory" }`. XTOKEN_* variables of the test
 * process are not passed on (they would override the config file); `env` adds some on purpose.
 *
 * Options (all optional but `auth`):
 *   auth: { method: "internal" }      ejabberd's own accounts (add them with ej.register(user, password));
 *         { method: "external", program, poolSize = 2, useCache = false, logPerWorker = false }
 *                                    `program` is the extauth command as argv; its stderr goes to
 *                                    ej.extauthLog (a file), as ejabberd itself discards it, or
 *                                    with logPerWorker to one file per worker process, named by
 *                                    its pid (ej.extauthWorkers(): which workers answered).
 *   domains: ["example.test"]        the hosted domains (ej.domain is the first).
 *   services: [{ host, password }]   adds one ejabberd_service (XEP-0114 component) listener on
 *                                    ej.servicePort accepting these component hosts.
 *   tls: { cert, key } | false        STARTTLS required, with the test certificate by default.
 *   saslMechanisms: "plain-only"     disables every mechanism but PLAIN (so a benchmark compares
 *                                    the same client exchange); by default only X-OAUTH2 is disabled.
 *
 * Facts this relies on (ejabberd 23.01): `ejabberdctl --config-dir DIR` reads DIR/ejabberd.yml,
 * DIR/ejabberdctl.cfg and DIR/vm.args (the cookie) and no /etc file; ERL_DIST_PORT keeps epmd
 * out of it (the control commands reach the node on that port); run as root, ejabberdctl
 * switches to the `ejabberd` user with the environment kept, so the folders are given to that
 * user and the extauth program must be readable by it; PLAIN is offered on an unencrypted stream
 * (no starttls_required here); with external auth X-OAUTH2 is still offered unless disabled;
 * the listeners' default backlog is 5 (raised here); a request goes to the extauth worker a
 * node-wide counter picks (p1_rand:round_robin), so logins one after another often all reach the
 * same worker and only logins in flight together spread over the pool; a worker that exits is
 * started again at once (its supervisor); the program runs in the spool folder (ejabberdctl
 * changes to it); and `auth_use_cache` must be false or ejabberd accepts a successful password
 * again for an hour without asking the program.
 */
import { execFile, execFileSync, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

const EJABBERDCTL = "/usr/sbin/ejabberdctl";
const EJABBERD_USER = "ejabberd";

/** Why the ejabberd tests cannot run here, or null when they can. */
export function ejabberdUnavailable(): string | null {
  if (!existsSync(EJABBERDCTL)) return `${EJABBERDCTL} is not installed (Debian package "ejabberd"; .ci/run installs it)`;
  if (process.getuid?.() !== 0) return "ejabberdctl must be run as root here (it switches to the ejabberd user itself)";
  return null;
}

export type EjabberdAuth =
  | { method: "internal" }
  | { method: "external"; program: string[]; poolSize?: number; useCache?: boolean; logPerWorker?: boolean };

export interface EjabberdOptions {
  auth: EjabberdAuth;
  domains?: string[];
  services?: { host: string; password: string }[];
  saslMechanisms?: "default" | "plain-only";
  /**
   * STARTTLS, required before authentication, with this PEM pair; the committed test
   * certificate (test/fixtures/tls, trusted by `npm test`) by default; false: no TLS (PLAIN in
   * the clear, for a raw benchmark client; @xmpp/client will not send PLAIN without TLS).
   */
  tls?: { cert: string; key: string } | false;
  /** Extra environment for ejabberd and its extauth program. */
  env?: NodeJS.ProcessEnv;
}

export interface RunningEjabberd {
  domain: string;
  domains: string[];
  host: "127.0.0.1";
  c2sPort: number;
  /** The ejabberd_service listener's port, or null when no `services` were given. */
  servicePort: number | null;
  /** The Erlang VM's process id (for CPU figures). */
  pid: number;
  /** The temp folder holding config/, spool/ and logs/. */
  dir: string;
  /** Where the extauth program's stderr goes (external auth only; empty with logPerWorker). */
  extauthLog: string;
  /**
   * With logPerWorker: every extauth worker process ejabberd started so far (also ones that have
   * exited), by pid, with its stderr, in the order they started.
   */
  extauthWorkers(): { pid: number; log: string }[];
  /** ejabberd's own log so far. */
  log(): string;
  /** Adds an account for internal auth (ejabberdctl register). */
  register(user: string, password: string, domain?: string): Promise<void>;
  /** Stops the node (SIGTERM, then SIGKILL after a bound) and removes the temp folder. */
  stop(): Promise<void>;
}

/** A free loopback TCP port (bound and released; fine for tests, which pick several at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The test process's environment for ejabberd and its extauth program, without XTOKEN_* (which
 * would override the program's config file) and jest's NODE_OPTIONS and NODE_EXTRA_CA_CERTS (a
 * path relative to the checkout, which the program, running in the spool folder, warns about).
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("XTOKEN_") && name !== "NODE_OPTIONS" && name !== "NODE_EXTRA_CA_CERTS"));
}

/** Single quotes for /bin/sh, which ejabberd uses to start the extauth program. */
function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function canEjabberdRead(path: string): boolean {
  try {
    execFileSync("su", ["-s", "/bin/sh", "-c", 'test -r "$0"', EJABBERD_USER, "--", path], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Nodes still running when the test process exits are killed (a failed test must not leave one). */
const running = new Set<number>();
process.once("exit", () => {
  for (const pid of running) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

export async function startEjabberd(options: EjabberdOptions): Promise<RunningEjabberd> {
  const unavailable = ejabberdUnavailable();
  if (unavailable) throw new Error(`cannot start ejabberd: ${unavailable}`);
  const domains = options.domains ?? ["example.test"];
  const dir = mkdtempSync(join(tmpdir(), "x-token-ejabberd-"));
  const configDir = join(dir, "config");
  const spoolDir = join(dir, "spool");
  const logsDir = join(dir, "logs");
  for (const d of [configDir, spoolDir, logsDir]) mkdirSync(d);
  const extauthLog = join(logsDir, "extauth.log");
  writeFileSync(extauthLog, "");
  const [c2sPort, distPort, servicePort] = await Promise.all([freePort(), freePort(), options.services?.length ? freePort() : Promise.resolve(null)]);
  const node = `xtoken${randomBytes(6).toString("hex")}@localhost`;
  const cookie = randomBytes(24).toString("hex");

  const tls = options.tls === undefined ? testCertificate() : options.tls;
  const certFile = join(configDir, "certificate.pem");
  if (tls) writeFileSync(certFile, `${tls.cert.trim()}\n${tls.key.trim()}\n`, { mode: 0o600 });
  const listen: Record<string, unknown>[] = [
    // backlog: the default of 5 drops connections under a benchmark's bursts.
    { port: c2sPort, ip: "127.0.0.1", module: "ejabberd_c2s", access: "c2s", shaper: "none", backlog: 1024, max_stanza_size: 65536, ...(tls ? { starttls: true, starttls_required: true } : {}) },
  ];
  if (servicePort !== null) {
    const hosts = Object.fromEntries(options.services!.map((s) => [s.host, { password: s.password }]));
    listen.push({ port: servicePort, ip: "127.0.0.1", module: "ejabberd_service", access: "all", shaper: "none", hosts });
  }
  const disabled = options.saslMechanisms === "plain-only" ? ["X-OAUTH2", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS", "DIGEST-MD5"] : ["X-OAUTH2"];
  const auth: Record<string, unknown> =
    options.auth.method === "internal"
      ? { auth_method: ["internal"], auth_password_format: "plain" }
      : {
          auth_method: ["external"],
          extauth_program: options.auth.logPerWorker
            ? // sh -c 'exec "$@" 2>>"$0/extauth-$$.log"' LOGS program...: $$ is the shell's pid, which exec hands to the program.
              ["/bin/sh", "-c", 'exec "$@" 2>>"$0/extauth-$$.log"', logsDir, ...options.auth.program].map(shellQuote).join(" ")
            : `${options.auth.program.map(shellQuote).join(" ")} 2>>${shellQuote(extauthLog)}`,
          extauth_pool_size: options.auth.poolSize ?? 2,
          auth_use_cache: options.auth.useCache ?? false,
        };
  if (options.auth.method === "external") {
    for (const file of options.auth.program.filter((a) => a.startsWith("/"))) {
      if (!canEjabberdRead(file)) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`the ejabberd user cannot read ${file} (the extauth program runs as that user): put the checkout where other users can read it`);
      }
    }
  }
  // JSON is YAML: no quoting rules of our own.
  const config = {
    hosts: domains,
    loglevel: "info",
    ...(tls ? { certfiles: [certFile] } : {}),
    listen,
    ...auth,
    disable_sasl_mechanisms: disabled,
    acl: { local: { user_regexp: "" } },
    access_rules: { c2s: { allow: "all" }, local: { allow: "local" } },
    shaper_rules: {},
    modules: { mod_disco: {}, mod_roster: {}, mod_ping: {} },
  };
  writeFileSync(join(configDir, "ejabberd.yml"), JSON.stringify(config, null, 2));
  writeFileSync(
    join(configDir, "ejabberdctl.cfg"),
    [`ERL_DIST_PORT=${distPort}`, `EJABBERD_PID_PATH=${join(spoolDir, "ejabberd.pid")}`, `ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"`, ""].join("\n"),
  );
  writeFileSync(join(configDir, "vm.args"), `-setcookie ${cookie}\n-kernel inet_dist_use_interface {127,0,0,1}\n`);
  writeFileSync(join(configDir, "inetrc"), `{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n`);
  // ejabberd runs as its own user: it owns the folders; the cookie and config stay private to it.
  const { uid, gid } = ejabberdIds();
  for (const path of [dir, configDir, spoolDir, logsDir, extauthLog, ...["ejabberd.yml", "ejabberdctl.cfg", "vm.args", "inetrc"].map((f) => join(configDir, f)), ...(tls ? [certFile] : [])]) {
    chownSync(path, uid, gid);
  }
  chmodSync(dir, 0o700);

  const ctl = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        EJABBERDCTL,
        ["--config-dir", configDir, "--spool", spoolDir, "--logs", logsDir, "--node", node, ...args],
        { env: { ...inheritedEnv(), ...options.env }, timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`ejabberdctl ${args[0]} failed: ${(stderr || stdout || err.message).trim()}`)) : resolve(stdout)),
      );
    });
  const log = () => {
    try {
      return readFileSync(join(logsDir, "ejabberd.log"), "utf8");
    } catch {
      return "";
    }
  };

  let pid = 0;
  const stop = async () => {
    if (pid && isAlive(pid)) {
      process.kill(pid, "SIGTERM");
      // SIGTERM makes the VM shut down cleanly (about 2 s); a hung node is killed.
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
    }
    running.delete(pid);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await ctl(["start"]);
    // Bounded wait for the pid file and then for the c2s listener (about 1-2 s normally).
    const pidFile = join(spoolDir, "ejabberd.pid");
    for (let i = 0; i < 300; i++) {
      if (!pid && existsSync(pidFile)) {
        pid = Number(readFileSync(pidFile, "utf8").trim()) || 0;
        if (pid) running.add(pid);
      }
      if (pid && (await canConnect(c2sPort)) && (servicePort === null || (await canConnect(servicePort)))) break;
      if (pid && !isAlive(pid)) break;
      await sleep(100);
    }
    if (!pid || !isAlive(pid) || !(await canConnect(c2sPort))) {
      throw new Error(`ejabberd did not start; its log ends with:\n${log().split("\n").slice(-30).join("\n")}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    domain: domains[0]!,
    domains,
    host: "127.0.0.1",
    c2sPort,
    servicePort,
    pid,
    dir,
    extauthLog,
    extauthWorkers() {
      const workers = readdirSync(logsDir)
        .map((name) => /^extauth-(\d+)\.log$/.exec(name))
        .filter((match) => match !== null)
        .map((match) => ({ pid: Number(match[1]), log: readFileSync(join(logsDir, match[0]), "utf8") }));
      // Each log starts with the worker's ISO timestamp (a worker that logged nothing yet sorts last).
      return workers.sort((a, b) => (a.log || "~").localeCompare(b.log || "~"));
    },
    log,
    async register(user, password, domain = domains[0]!) {
      await ctl(["register", user, domain, password]);
    },
    stop,
  };
}

/** The committed test certificate (example.test, other.test, localhost, 127.0.0.1). */
function testCertificate(): { cert: string; key: string } {
  const dir = new URL("../fixtures/tls/", import.meta.url);
  return { cert: readFileSync(new URL("cert.pem", dir), "utf8"), key: readFileSync(new URL("key.pem", dir), "utf8") };
}

/** The ejabberd user's uid and gid (to give it files, or to run a program as it). */
export function ejabberdIds(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(`${EJABBERD_USER}:`));
  if (!line) throw new Error(`no ${EJABBERD_USER} user (is the ejabberd package installed?)`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A new empty folder (mode 0700) owned by the ejabberd user, under the system temp folder: the
 * extauth program's data directory, say. remove() deletes it and everything in it (the test runs
 * as root); call it in afterAll, after ej.stop().
 */
export function ejabberdPrivateDir(prefix = "x-token-ejabberd-data-"): { path: string; remove(): void } {
  const { uid, gid } = ejabberdIds();
  const path = mkdtempSync(join(tmpdir(), prefix));
  try {
    chownSync(path, uid, gid);
    chmodSync(path, 0o700);
  } catch (err) {
    rmSync(path, { recursive: true, force: true });
    throw err;
  }
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Writes `content` to a new private file that only root and the ejabberd user can read (an
 * extauth program's config with its keys, say); remove() deletes it and its folder.
 */
export function ejabberdPrivateFile(name: string, content: string): { path: string; remove(): void } {
  const { uid, gid } = ejabberdIds();
  const dir = ejabberdPrivateDir("x-token-ejabberd-file-");
  const path = join(dir.path, name);
  writeFileSync(path, content, { mode: 0o600 });
  chownSync(path, uid, gid);
  return { path, remove: dir.remove };
}

/**
 * Talks to an `x-token extauth` child over its pipes the way ejabberd does (2-byte length, then the
 * request; the answer is 2-byte length 2 and a 16-bit 1 or 0), one request at a time or several:
 * answers come back in request order. `stderr()` is what the program logged so far.
 */
export function extauthPipe(child: ChildProcessByStdio<Writable, Readable, Readable>) {
  let pending = Buffer.alloc(0);
  let stderr = "";
  const waiting: { resolve(answer: number): void; reject(err: Error): void }[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 4 && waiting.length > 0) {
      const waiter = waiting.shift()!;
      if (pending.readUInt16BE(0) === 2) waiter.resolve(pending.readUInt16BE(2));
      else waiter.reject(new Error(`not an extauth answer: ${pending.toString("hex")}`));
      pending = pending.subarray(4);
    }
  });
  void exited.then(({ code, signal }) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`extauth exited (${code ?? signal}) before answering; its log:\n${stderr}`));
  });
  return {
    pid: child.pid!,
    /** Sends `auth:USER:SERVER:TOKEN` (or any request) and resolves with the answer, 1 or 0. */
    ask(request: string): Promise<number> {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        const body = Buffer.from(request);
        const header = Buffer.alloc(2);
        header.writeUInt16BE(body.length);
        child.stdin.write(Buffer.concat([header, body]));
      });
    },
    stderr: () => stderr,
    /** Once the program logged a line matching `pattern` (its lines come in batches, at most 100 ms apart). */
    async logged(pattern: RegExp, ms = 10_000): Promise<string> {
      for (const deadline = Date.now() + ms; !pattern.test(stderr); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline) throw new Error(`extauth did not log ${pattern}; its log:\n${stderr}`);
      }
      return stderr;
    },
    /** Closes its input, as ejabberd does when it stops: the program exits 0. */
    async close() {
      child.stdin.end();
      return exited;
    },
    exited,
  };
}
