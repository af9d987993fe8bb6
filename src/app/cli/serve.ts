import { relative } from "node:path";
import { loadConfig } from "../config/load.js";
import type { AppConfig } from "../config/types.js";
import { DEFAULT_REVOCATION_PATH, ListenError, startServer, type Logger, type ReloadReport, type RunningServer, type ServerConfig, type StartOptions } from "../../server/index.js";
import { TokenAuthority } from "../../auth/authority.js";
import { LoginLimiter, type LoginAttempt, type LoginPolicy, type Settlement } from "../../auth/policy/login-limiter.js";
import { openStores, type OpenedStores } from "../stores.js";
import { join } from "node:path";
import { PrometheusMetrics } from "../../metrics/prometheus.js";
import { oneLineLogger, stderrLogger } from "../../server/log.js";
import { mintToken } from "../../core/token/mint.js";
import { parseFlags } from "./args.js";
import { DEV_DIR, ensureDevSetup, writeDevRuntime, type DevSetup } from "./dev-setup.js";
import { EXIT_OK, keepRunningWhenClosed, println, UsageError, type CliIO } from "./io.js";
import { createHttpHandler } from "./http-handler.js";
import { DEFAULT_OTP_SETTINGS } from "../config/otp.js";

export const SERVE_HELP = `Usage: x-token serve [--config FILE | --dev]

Runs the XMPP server: TCP c2s with STARTTLS, WebSocket on the HTTP port, X-TOKEN and
PLAIN-with-a-token authentication. Configuration from --config FILE (or XTOKEN_CONFIG) and
the environment (XTOKEN_DOMAIN, XTOKEN_SECRET, XTOKEN_OTP_SEED, XMPP_HOST, XMPP_C2S_PORT,
XMPP_HTTP_PORT, XMPP_COMPONENT_PORT, XMPP_REQUIRE_TLS, XMPP_TRUSTED_PROXIES, XTOKEN_REDIS_URL;
see docs/configuration.md). Used tokens, rosters, offline messages and sign-ins are kept in
an SQLite database in the data directory (XTOKEN_DATA_DIR or storage.dir, else ./x-token-data;
--dev: .x-token-dev/data), used tokens in a Redis shared with other processes instead when
store.redis / XTOKEN_REDIS_URL is set; XTOKEN_STORAGE=memory keeps everything in this process
(lost at every restart). A database that cannot be opened stops the start (exit 74).

SIGHUP reloads the configuration (the same file and environment) without dropping a stream:
domains and their keys, the TLS certificate and key, and limits; other changes (listeners,
storage, store, components, demo, ...) are logged as needing a restart. A configuration with a
mistake is refused with one log line and the running one stays. SIGTERM or SIGINT closes every
stream, closes the storage and exits 0. See docs/operations.md.

--dev  development defaults (what \`npm start\` runs): domain localhost on 127.0.0.1, keys,
       a self-signed certificate and demo users generated once into ./${DEV_DIR}/, whose
       config.json is the configuration (edit it, or use it with --config without --dev);
       it sets loopbackWebSocketIsSecure, so ws:// from 127.0.0.1 counts as TLS-protected,
       and presenceBroadcast "domain", so the demo page lists who is online.
       --dev and --config are exclusive; XTOKEN_CONFIG is ignored with --dev (it says so);
       the environment variables above still apply.`;

export async function serve(io: CliIO): Promise<number> {
  const { argv, env, stdout } = io;
  const flags = parseFlags("serve", argv, { config: { type: "string" }, dev: { type: "boolean" } });
  if (flags.help) return println(stdout, SERVE_HELP), EXIT_OK;
  // `serve --dev | head -1`: whoever read the banner left; the server keeps serving.
  keepRunningWhenClosed(stdout, () => println(io.stderr, "x-token: standard output was closed; still serving (log lines go to standard error)"));
  keepRunningWhenClosed(io.stderr);
  if (flags.dev && flags.config !== undefined) {
    throw new UsageError(`serve: --dev runs on its own configuration (${DEV_DIR}/config.json); give either --dev or --config FILE`);
  }
  // From here on SIGHUP no longer ends the process: a reload asked for during start-up waits for the server.
  let reloader: ConfigReloader | null = null;
  let reloadWaiting = false;
  io.reloadSignal?.(() => {
    if (reloader) reloader.request();
    else reloadWaiting = true;
  });
  const cwd = io.cwd ?? process.cwd();
  const dev = flags.dev ? await ensureDevSetup(cwd) : null;
  if (dev && dev.added.length > 0) {
    println(io.stderr, `x-token: --dev: ${relative(cwd, dev.configFile)} was made by an older version; added ${dev.added.join(", ")} (see docs/configuration.md)`);
  }
  if (dev && env.XTOKEN_CONFIG) println(io.stderr, `x-token: --dev: XTOKEN_CONFIG is ignored, the configuration is ${relative(cwd, dev.configFile)}`);
  // SIGHUP reloads from the same file and environment as the start.
  const source = { file: flags.config ?? dev?.configFile, env: dev ? { ...env, XTOKEN_CONFIG: undefined } : env };
  const config: AppConfig = loadConfig(source);
  const otp = config.otp ?? DEFAULT_OTP_SETTINGS;
  const log = stderrLogger(io.stderr);
  // SQLite in the data directory (or memory), and a Redis shared with other processes when
  // configured (docs/storage.md, docs/scaling.md); closed whatever happens.
  const stores = await openStores(config, log, { cwd, role: "server", ...(dev ? { defaultDir: join(dev.dir, "data") } : {}) });
  try {
    const authority = new TokenAuthority({ domains: config.domains, replay: stores.replay, revocations: stores.storage.revocations });
    // One policy for XMPP logins and the demo's sign-in (the demo app is handed this same object).
    const loginPolicy = new SwappableLoginPolicy(loginLimiter(config.limits, stores));
    // Metrics read the server's streams when scraped; the server is there by then.
    let running: RunningServer | null = null;
    const metrics = config.metrics
      ? new PrometheusMetrics({ allowFrom: config.metrics.allowFrom, streams: () => running?.streamsByState() ?? {} })
      : null;
    const server = await listenOrExplain(
      config,
      { log, authority, loginPolicy, storage: stores.storage, otp, ...(config.fast ? { fast: config.fast } : {}), revocationBus: stores.revocationBus, revocationEndpoint: config.revocation ?? null, ...(metrics ? { metrics } : {}) },
      metrics,
    );
    running = server;
    let forgetRuntime: (() => void) | null = null;
    // From here on the ports are open: whatever happens, they are closed before serve returns or throws.
    try {
      printWelcome(io, config, server.ports, { replay: stores.where, storage: stores.storage }, dev, cwd);
      // component --dev reads where this server really listens (ports from the environment, or 0).
      forgetRuntime = dev ? writeDevRuntime(dev.dir, devRuntime(config, server.ports)) : null;
      reloader = new ConfigReloader(() => loadConfig(source), server, stores, oneLineLogger(log), loginPolicy);
      if (reloadWaiting) reloader.request();
      const signal = await (io.stopSignal?.() ?? new Promise<string>(() => {}));
      reloader.stop();
      println(io.stderr, `x-token: ${signal} received, closing streams`);
    } finally {
      forgetRuntime?.();
      await server.close();
    }
  } finally {
    await stores.close();
  }
  return EXIT_OK;
}

function loginLimiter(limits: AppConfig["limits"], stores: OpenedStores): LoginLimiter {
  const counters = stores.loginCounters(limits);
  return new LoginLimiter({ limits, ...(counters ? { counters } : {}) });
}

/**
 * The login policy the server and the demo app share: a reload that changes the limits swaps
 * the LoginLimiter it delegates to, for both at once (on Redis the counts themselves stay).
 */
class SwappableLoginPolicy implements LoginPolicy {
  constructor(private current: LoginPolicy) {}

  get maxFailuresPerConnection(): number {
    return this.current.maxFailuresPerConnection;
  }

  admit(ip: string): boolean | Promise<boolean> {
    return this.current.admit(ip);
  }

  settle(attempt: LoginAttempt): Settlement | Promise<Settlement> {
    return this.current.settle(attempt);
  }

  swap(next: LoginPolicy): this {
    this.current = next;
    return this;
  }
}

/**
 * The configuration settings serve reads once at start beyond the server's own (a Record, so a
 * new setting has to be classified here); null: not serve's (`x-token component` reads it).
 */
const APP_RESTART_SETTINGS: Record<Exclude<keyof AppConfig, keyof ServerConfig>, string | null> = {
  demo: "demo",
  tokenComponent: null,
  store: "store.redis",
  storage: "storage",
  metrics: "metrics",
  otp: "otp",
  revocation: "revocation",
  fast: "fast",
};

/**
 * SIGHUP: reads the configuration again and applies what can change while running
 * (RunningServer.reload). One log line for the outcome, one more for settings that need a
 * restart. A configuration that does not load (or that the server cannot use) is refused whole
 * with one line: the running configuration stays. Requests that arrive together are coalesced
 * into one reload, and a reload runs to its end before the next starts (it is synchronous).
 */
class ConfigReloader {
  private queued = false;
  private stopped = false;

  constructor(
    private readonly load: () => AppConfig,
    private readonly server: RunningServer,
    private readonly stores: OpenedStores,
    private readonly log: Logger,
    private readonly loginPolicy: SwappableLoginPolicy,
  ) {}

  request(): void {
    if (this.queued || this.stopped) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      if (!this.stopped) this.reload();
    });
  }

  /** Shutting down: further requests are ignored. */
  stop(): void {
    this.stopped = true;
  }

  private reload(): void {
    let report: ReloadReport;
    try {
      const next = this.load();
      // What runs now: the server keeps serve's own settings (demo, storage, ...) as they started.
      const running = this.server.config as AppConfig;
      // A login limit changed: new counters with it (on Redis, the counts themselves stay).
      report = this.server.reload(next, { loginPolicy: (limits) => this.loginPolicy.swap(loginLimiter(limits, this.stores)) });
      for (const [key, name] of Object.entries(APP_RESTART_SETTINGS) as [keyof typeof APP_RESTART_SETTINGS, string | null][]) {
        if (name !== null && JSON.stringify(running[key] ?? null) !== JSON.stringify(next[key] ?? null)) report.needsRestart.push(name);
      }
      // The demo mints with the keys it started with.
      const demoDomain = running.demo?.domain;
      if (demoDomain && !report.needsRestart.includes("demo") && JSON.stringify(running.domains[demoDomain]?.keys) !== JSON.stringify(next.domains[demoDomain]?.keys)) {
        report.needsRestart.push(`demo (its tokens use ${demoDomain}'s keys from the start)`);
      }
    } catch (err) {
      // ConfigError and KeyError messages name the setting, never a secret's value.
      const reason = err instanceof Error ? err.message : String(err);
      this.log.warn(`configuration reload refused, still running the previous configuration: ${reason}`);
      return;
    }
    const applied = report.applied.length > 0 ? report.applied.join("; ") : report.needsRestart.length > 0 ? "nothing to apply while running" : "no change";
    this.log.info(`configuration reloaded: ${applied}`);
    if (report.needsRestart.length > 0) this.log.warn(`${report.needsRestart.join(", ")} changed; restart to apply (the running values stay until then)`);
  }
}

/** The settings that choose each listener's port, as a user would change them. */
const PORT_SETTINGS = {
  c2s: "XMPP_C2S_PORT (or listeners.c2sPort in the configuration file)",
  http: "XMPP_HTTP_PORT (or listeners.httpPort in the configuration file)",
  directTls: "listeners.directTlsPort in the configuration file",
  component: "XMPP_COMPONENT_PORT (or listeners.componentPort in the configuration file)",
} as const;
const HOST_SETTING = "XMPP_HOST (or listeners.host in the configuration file)";

/** Starts the server; a listener that cannot start is a usage error naming the setting that changes it. */
async function listenOrExplain(config: AppConfig, options: StartOptions, metrics: PrometheusMetrics | null): Promise<RunningServer> {
  try {
    const httpHandler = createHttpHandler(config, metrics ?? undefined, {
      webSessions: options.storage?.webSessions,
      log: options.log,
      // The demo's two-factor sign-in: the same credentials, login policy and account rules as XMPP logins.
      ...(options.storage ? { otpCredentials: options.storage.otp } : {}),
      ...(options.loginPolicy ? { loginPolicy: options.loginPolicy } : {}),
      ...(options.authority ? { accounts: options.authority } : {}),
    });
    return await startServer(config, { ...options, httpHandler });
  } catch (err) {
    if (!(err instanceof ListenError)) throw err;
    const where = `${err.host}:${err.port}`;
    switch (err.code) {
      case "EADDRINUSE":
        throw new UsageError(`cannot listen: ${where} (${err.listener}) is already in use; choose another port with ${PORT_SETTINGS[err.listener]}`);
      case "EACCES":
        throw new UsageError(`cannot listen: ${where} (${err.listener}) needs privileges this user does not have; choose a port above 1023 with ${PORT_SETTINGS[err.listener]}`);
      case "EADDRNOTAVAIL":
        throw new UsageError(`cannot listen: ${err.host} is not an address of this machine; change ${HOST_SETTING}`);
      case "ENOTFOUND":
      case "EAI_AGAIN":
      case "EAI_FAIL":
      case "EAI_NONAME":
        throw new UsageError(`cannot listen: ${JSON.stringify(err.host)} is not an IP address or a host name this machine knows; change ${HOST_SETTING}`);
      default:
        throw new UsageError(`cannot listen: ${where} (${err.listener}): ${err.code ?? "error"}; check ${HOST_SETTING} and ${PORT_SETTINGS[err.listener]}`);
    }
  }
}

/** What `component --dev` needs to join this server and to tell users where its WebSocket is. */
function devRuntime(config: AppConfig, ports: RunningServer["ports"]) {
  const host = config.listeners.host;
  // A server bound to every address is reached on loopback from the same machine.
  const reachable = (h: string) => (h === "0.0.0.0" ? "127.0.0.1" : h === "::" ? "::1" : h);
  return {
    pid: process.pid,
    componentService: ports.component === null ? null : url("xmpp", reachable(config.listeners.componentHost ?? "127.0.0.1"), ports.component),
    websocketUrl: ports.http === null ? null : url("ws", reachable(host), ports.http, config.listeners.websocketPath),
  };
}

function url(scheme: string, host: string, port: number, path = ""): string {
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
}

/** What c2s offers, as the session does: STARTTLS only with a certificate. */
function c2sLabel(config: AppConfig): string {
  if (!config.tls) return "XMPP c2s (no TLS)";
  return `XMPP c2s (STARTTLS${config.requireTls ? " required" : " optional"})`;
}

function printWelcome(
  { stdout }: CliIO,
  config: AppConfig,
  ports: RunningServer["ports"],
  stores: { replay: string; storage: { where: string; durable: boolean } },
  dev: DevSetup | null,
  cwd: string,
): void {
  const host = config.listeners.host;
  const rows: [string, string][] = [];
  if (ports.c2s !== null) rows.push([c2sLabel(config), url("xmpp", host, ports.c2s)]);
  if (ports.directTls !== null) rows.push(["XMPP direct TLS", url("xmpps", host, ports.directTls)]);
  if (ports.http !== null) rows.push(["WebSocket", url("ws", host, ports.http, config.listeners.websocketPath)]);
  // Said every start: it lets PLAIN and requireTls through on loopback without TLS.
  if (ports.http !== null && config.loopbackWebSocketIsSecure) rows.push(["WebSocket from loopback", "counts as TLS-protected (loopbackWebSocketIsSecure)"]);
  // Said every start: every user on a domain then sees every other's presence.
  if (config.presenceBroadcast === "domain") rows.push(["Presence", "everyone on a domain sees everyone (presenceBroadcast: domain)"]);
  if (ports.http !== null && config.demo) rows.push(["Demo web app", url("http", host, ports.http, "/")]);
  if (ports.http !== null && config.metrics) rows.push(["Metrics", url("http", host, ports.http, "/metrics")]);
  if (ports.http !== null && config.revocation) {
    const who = [config.revocation.secret !== null && "shared secret", config.revocation.allowFrom !== null && `from ${config.revocation.allowFrom.join(", ")}`].filter(Boolean).join(" and ");
    rows.push(["Revocation endpoint", `${url("http", host, ports.http, config.revocation.path ?? DEFAULT_REVOCATION_PATH)} (POST; ${who})`]);
  }
  rows.push(["Storage", stores.storage.durable ? stores.storage.where : "IN MEMORY: used tokens, rosters, offline messages and sign-ins are lost at every restart"]);
  if (stores.replay !== stores.storage.where) rows.push(["Used tokens", stores.replay]);
  if (ports.component !== null) {
    const components = Object.keys(config.components ?? {}).join(", ");
    rows.push(["Components (XEP-0114)", `${url("xmpp", config.listeners.componentHost ?? "127.0.0.1", ports.component)} for ${components}`]);
  }
  const width = Math.max(0, ...rows.map(([label]) => label.length)) + 1;
  println(stdout, `x-token server for ${Object.keys(config.domains).join(", ")}`);
  for (const [label, address] of rows) println(stdout, `  ${`${label}:`.padEnd(width)} ${address}`);
  if (!dev) return;

  // The dev configuration is an ordinary file the user may have edited: take names from it.
  const domainName = config.demo?.domain ?? Object.keys(config.domains)[0]!;
  const domain = config.domains[domainName]!;
  const jid = `${config.demo?.users[0]?.username ?? "alice"}@${domainName}`;
  const token = mintToken({ jid, key: domain.keys, nonceDigits: domain.nonceDigits });
  const configPath = relative(cwd, dev.configFile);
  println(stdout);
  println(stdout, `Development setup in ${relative(cwd, dev.dir)}/ (generated secrets: keep them out of version control).`);
  if (config.demo && ports.http !== null) {
    const known = new Set(config.demo.users.map((u) => u.username));
    const users = Object.entries(dev.passwords).filter(([u]) => known.has(u)).map(([u, p]) => `${u} / ${p}`).join(", ");
    println(stdout, `  Demo users: ${users || `see ${configPath} (passwords file missing)`}`);
  }
  println(stdout, `  A token for ${jid}, valid for about a minute, usable once:`);
  println(stdout, `    ${token}`);
  println(stdout, `  Mint another: npx x-token mint --config ${configPath} --jid ${jid}`);
  if (ports.component !== null && config.tokenComponent) {
    println(stdout, `  Login tokens over XMPP: npx x-token component --dev, then run "Get a login token" on ${config.tokenComponent.domain}`);
  }
  if (config.tls) println(stdout, `  Node clients trust the self-signed certificate with NODE_EXTRA_CA_CERTS=${relative(cwd, dev.certFile)}`);
}
