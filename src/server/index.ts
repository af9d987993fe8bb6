// The @xmpp/* packages ship no declarations: ours travel with the package (see package.json "files").
/// <reference path="../types/xmpp.d.ts" preserve="true" />
/** startServer: listeners (TCP c2s, direct TLS, HTTP + WebSocket) around XmppSession, and the services sessions share. */
import http from "node:http";
import net from "node:net";
import type stream from "node:stream";
import tls from "node:tls";
import { WebSocketServer } from "ws";
import type { LimitsConfig, ServerConfig } from "./config.js";
import { TokenAuthority } from "../auth/authority.js";
import { systemClock, type Clock } from "../core/clock.js";
import { memoryStorage, type Storage } from "../core/records/storage.js";
import { createXTokenSasl, externalMechanism } from "../auth/sasl/index.js";
import { OtpVerifier } from "../auth/otp/verifier.js";
import { DEFAULT_FAST_SETTINGS, FastTokens, htSha256NoneMechanism, type FastSettings } from "../auth/fast/index.js";
import { SaslRegistry } from "../auth/sasl/registry.js";
import { certificateLogin } from "../auth/client-certs/index.js";
import { LoginLimiter, type LoginPolicy } from "../auth/policy/login-limiter.js";
import { TrustedProxies, clientOrigin } from "../auth/policy/trusted-proxies.js";
import { oneLineLogger, stderrLogger, type Logger } from "./log.js";
import { createServerIq, type DiscoItems } from "./iq/index.js";
import { registerClientCertHandlers, type CertificateSessions } from "./iq/client-certs.js";
import { createRosters, type RosterStore } from "./roster/index.js";
import { Router } from "./router.js";
import { FailureLog } from "./failure-log.js";
import { createComponentListener, listComponentsInDisco, type ComponentListener } from "./components.js";
import { XmppSession, type SessionServices } from "./session.js";
import type { HoldBack, LoginMetrics } from "./sasl-exchange.js";
import { TcpTransport, peerCertificateFingerprint } from "./transport/tcp.js";
import { TlsTickets } from "./transport/tls-tickets.js";
import { WEBSOCKET_PAYLOAD_SLACK, WebSocketTransport } from "./transport/websocket.js";
import { ListenError, type ListenerName } from "./listen-error.js";
import { AccountRevoker, type RevocationMetrics, type RevokeOptions, type RevokeReport } from "./revocation.js";
import { createRevocationEndpoint, type RevocationEndpointConfig } from "./revocation-endpoint.js";
import type { RevocationBus } from "../core/records/revocations.js";

export { stderrLogger, silentLogger, oneLine, type Logger } from "./log.js";
export { XmlFramer, FramingError } from "./transport/xml-framer.js";
export { ListenError, type ListenerName } from "./listen-error.js";
export type { ServerConfig, DomainConfig, ListenerConfig, LimitsConfig, TlsConfig } from "./config.js";
export type { LoginPolicy } from "../auth/policy/login-limiter.js";
export type { LoginMetrics } from "./sasl-exchange.js";
export { RevocationError, REVOKED_CONDITION, REVOKED_TEXT, type RevokeOptions, type RevokeReport, type RevocationMetrics, type RevocationSource } from "./revocation.js";
export { createRevocationEndpoint, DEFAULT_REVOCATION_PATH, MAX_REVOCATION_BODY_BYTES, RevocationEndpointError, type RevocationEndpointConfig } from "./revocation-endpoint.js";
export type { Revocation, RevocationBus, RevocationRecords } from "../core/records/revocations.js";

export interface StartOptions {
  log?: Logger;
  /** Every HTTP request that is not the WebSocket endpoint (the demo app mounts here); default 404. */
  httpHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Unix seconds, for token checks. */
  now?: Clock;
  /**
   * How an answer the login policy holds back waits, for clients and components alike: by default
   * a timer of that many seconds. Tests pass their own to see which answers wait, and for how long.
   */
  holdBack?: HoldBack;
  /**
   * What outlives a login: used tokens, accounts, rosters, offline messages (src/core/records; the
   * SQLite engine is in src/stores/sqlite). By default the memory engine: nothing survives the
   * process. The caller opens and closes it; close() does not.
   */
  storage?: Storage;
  /**
   * Share one authority (and its replay store) with others; by default built from `config`,
   * `storage.replay` and `storage.revocations`. Give yours `revocations: storage.revocations`
   * too, or revoked accounts' tokens are not refused (docs/revocation.md).
   */
  authority?: TokenAuthority;
  /**
   * The login policy every SASL exchange consults; by default a LoginLimiter over in-memory
   * counters with `config.limits` (give one with shared counters, or wrap it for metrics).
   */
  loginPolicy?: LoginPolicy;
  /** Where login (and revocation) figures go (src/metrics' Prometheus adapter); none by default. */
  metrics?: LoginMetrics & Partial<RevocationMetrics>;
  /**
   * Nodes sharing a Redis: revocations are announced on it so every node ends the account's
   * streams (src/stores/redis RedisRevocationBus); give `storage.revocations` on the same Redis.
   */
  revocationBus?: RevocationBus | null;
  /**
   * The revocation endpoint on the HTTP listener (docs/revocation.md): a shared secret, an
   * allow-list of addresses, or both; none by default. Answered before `httpHandler`.
   */
  revocationEndpoint?: RevocationEndpointConfig | null;
  /**
   * One-time password accounts (docs/otp.md), whose credentials are `storage.otp`: the HOTP
   * look-ahead (counter values beyond the stored one a code may be for; 4 by default).
   */
  otp?: { maxOffset?: number };
  /**
   * FAST tokens (XEP-0484, docs/fast.md), kept in `storage.fast`: their lifetime and the age after
   * which a login with one gets a new one (src/app/config's `fast`; 14 days and 1 day by default).
   */
  fast?: Partial<FastSettings>;
}

/** What `RunningServer.reload` takes besides the configuration. */
export interface ReloadOptions {
  /**
   * Builds the login policy every stream consults from now on (existing ones included), called
   * only when a login limit (failures per connection, per IP, per JID) changed. Without it, a
   * server that built its own LoginLimiter builds a new one (its in-memory failure counts then
   * start over); a policy given to startServer is kept.
   */
  loginPolicy?: (limits: LimitsConfig) => LoginPolicy;
}

/** What a reload did, for its one log line. */
export interface ReloadReport {
  /** What changed and is in effect now, in words ("domains a, b (added b)", "keys rotated for a", "certificate replaced", "limits idleTimeoutSeconds"); empty when nothing did. */
  applied: string[];
  /** Settings that differ from the running ones and keep their running value until a restart. */
  needsRestart: string[];
}

/**
 * The ServerConfig settings a reload cannot apply, with the name a log line gives them; `tls`
 * is here for turning TLS on or off only (replacing the certificate and key is applied).
 * A Record, so a new setting must be classified here (or made reloadable) to compile.
 */
const RESTART_SETTINGS: Record<Exclude<keyof ServerConfig, "domains" | "limits">, string> = {
  listeners: "listeners",
  tls: "tls (turning TLS on or off)",
  requireTls: "requireTls",
  allowPlainWithoutTls: "allowPlainWithoutTls",
  trustedProxies: "trustedProxies",
  loopbackWebSocketIsSecure: "loopbackWebSocketIsSecure",
  presenceBroadcast: "presenceBroadcast",
  replayMaxEntries: "replay.maxEntries",
  components: "components",
};

const LOGIN_LIMITS = ["maxAuthFailuresPerConnection", "maxAuthFailuresPerIpPerMinute", "maxAuthFailuresPerJidPerMinute"] as const;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface ConnectionStats {
  kind: "tcp" | "websocket";
  remoteAddress: string;
  /** Bytes queued for the peer and not yet sent. */
  outboundBytes: number;
  /** Reading from it is paused because it does not read what is sent to it. */
  outboundPaused: boolean;
}

export interface RunningServer {
  readonly config: ServerConfig;
  readonly authority: TokenAuthority;
  /** Ports actually bound (useful with port 0). */
  readonly ports: { c2s: number | null; directTls: number | null; http: number | null; component: number | null };
  /** Sessions open right now. */
  readonly sessionCount: number;
  /**
   * Revokes an account (docs/revocation.md): its X-TOKENs minted before `notBefore` (now by
   * default) are refused from now on, on every node sharing the storage; its streams here end
   * with `not-authorized`, its FAST tokens are forgotten, and other nodes are told (the bus).
   * Rejects with RevocationError for a caller's mistake, with the storage's error when the
   * revocation could not be recorded (then nothing was done).
   */
  revokeAccount(jid: string, options?: Omit<RevokeOptions, "source">): Promise<RevokeReport>;
  /** Each open connection's outbound queue, and whether reading from it is paused for it (tests, metrics). */
  connections(): ConnectionStats[];
  /** Open streams by state: unauthenticated, authenticated, bound (metrics). */
  streamsByState(): Record<"unauthenticated" | "authenticated" | "bound", number>;
  /** The server's disco#items (XEP-0030): hosted services add their entries here. */
  readonly discoItems: DiscoItems;
  /** Every account's roster (held in memory, written through to the storage's records). */
  readonly rosters: RosterStore;
  /** What the server keeps across logins (StartOptions.storage). */
  readonly storage: Storage;
  /**
   * Closes the streams that logged in with this client certificate (SASL EXTERNAL), with the
   * stream error not-authorized; how many. For a certificate revoked by a library call
   * (src/auth/client-certs); XEP-0257 and the ad-hoc command do it themselves.
   */
  endCertificateSessions(fingerprint: string): number;
  /**
   * Applies a new configuration without dropping a stream (`x-token serve` on SIGHUP):
   * - `domains`: the authority's domains are replaced (its replay store stays): a domain added
   *   accepts logins and streams at once, a domain removed refuses new streams and logins, keys
   *   rotate for the next login; sessions already logged in stay.
   * - `tls`: a replaced certificate and key serve new connections (STARTTLS on connections
   *   accepted from now on, direct-TLS handshakes from now on); encrypted connections keep theirs.
   * - `limits`: connections accepted from now on get every new value; the login limits
   *   (failures per connection, per IP, per JID) apply to every stream at once (see
   *   ReloadOptions). Streams already open keep the rest of the limits they started with
   *   (stanza sizes, timeouts, outbound bound, failure log lines), so none is cut off by a
   *   timer or bound it did not know about.
   * Any other setting that differs keeps its running value and is listed in `needsRestart`.
   * Throws (KeyError for a domain, an Error for a certificate Node cannot use) before anything
   * changes. Synchronous, so two reloads never interleave.
   */
  reload(config: ServerConfig, options?: ReloadOptions): ReloadReport;
  /** Stops listening, ends every stream with a system-shutdown error, and resolves when done. */
  close(): Promise<void>;
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

/**
 * Who is at the other end of a WebSocket, and whether the stream counts as TLS-protected.
 * This server speaks plain ws:// only, so:
 * - from a peer listed in `trustedProxies` (a TLS-terminating reverse proxy): the client is what
 *   X-Forwarded-For says (see clientOrigin), secure when X-Forwarded-Proto is https or wss;
 * - from loopback without forwarded headers: secure only when the operator said so
 *   (`loopbackWebSocketIsSecure`, which `serve --dev` sets); a loopback address by itself proves
 *   nothing (a local proxy we were not told about, or an SSRF, may be relaying a remote client);
 * - from anyone else, or from loopback with forwarded headers that nobody configured us to
 *   believe: the headers are ignored and the stream is not secure (fail closed).
 */
export function websocketPeer(
  req: http.IncomingMessage,
  trusted: TrustedProxies,
  loopbackIsSecure: boolean,
): { address: string; secure: boolean; ignoredForwardedHeaders: boolean } {
  const origin = clientOrigin(req.socket.remoteAddress, req.headers, trusted);
  if (origin.viaTrustedProxy) {
    return { address: origin.address, secure: origin.forwardedProto === "https" || origin.forwardedProto === "wss", ignoredForwardedHeaders: false };
  }
  const secure = loopbackIsSecure && isLoopback(origin.address) && !origin.ignoredForwardedHeaders;
  return { address: origin.address, secure, ignoredForwardedHeaders: origin.ignoredForwardedHeaders };
}

/** Answers a refused WebSocket upgrade with a plain HTTP status and closes the connection. */
function refuseUpgrade(socket: stream.Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`);
}

/** Starts one listener; a failure names the listener (the CLI turns it into the setting to change). */
function listen(server: net.Server, port: number, host: string, listener: ListenerName): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(new ListenError(listener, host, port, err.code));
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const log = oneLineLogger(options.log ?? stderrLogger());
  const now = options.now ?? systemClock;
  const storage = options.storage ?? memoryStorage({ replayMaxEntries: config.replayMaxEntries });
  const authority = options.authority ?? new TokenAuthority({ domains: config.domains, replay: storage.replay, now, revocations: storage.revocations });
  // The configuration in force: reload() replaces it (its domains, certificate and limits).
  let live = config;
  // The login policy is applied by each stream's SASL exchange (src/server/sasl-exchange.ts).
  // PLAIN takes PIN + code for accounts with one-time password credentials, read at each login.
  const otp = new OtpVerifier({ credentials: storage.otp, now, accounts: authority, ...(options.otp?.maxOffset !== undefined ? { maxOffset: options.otp.maxOffset } : {}) });
  const sasl = createXTokenSasl({ authority, allowPlainWithoutTls: config.allowPlainWithoutTls, otp });
  // Offered only to a stream whose TLS client certificate is registered (docs/client-certs.md),
  // in legacy SASL and in SASL2 alike.
  sasl.use(externalMechanism({ login: (fingerprint, domain) => certificateLogin(storage.clientCerts, fingerprint, domain, now), accounts: authority }));
  // FAST: SASL2 logins with a token handed out after a strong login (offered on TLS only).
  const fast = new FastTokens({ records: storage.fast, now, settings: { ...DEFAULT_FAST_SETTINGS, ...options.fast } });
  const fastSasl = new SaslRegistry().use(htSha256NoneMechanism({ tokens: fast, accounts: authority, revocations: storage.revocations }));
  const sessions = new Set<XmppSession>();
  const revoker = new AccountRevoker({
    records: storage.revocations,
    fast: storage.fast,
    bus: options.revocationBus ?? null,
    streams: () => sessions,
    hosts: (domain) => authority.hosts(domain),
    log,
    metrics: options.metrics,
    now,
  });
  const router = new Router();
  // Each reload that changes its limit starts a new one; streams keep the one they started with.
  const failureLogs = [new FailureLog(log, { linesPerMinute: config.limits.maxFailureLinesPerIpPerMinute })];
  const rosters = createRosters(router, (domain) => Object.hasOwn(live.domains, domain), config.presenceBroadcast, undefined, storage.rosters);
  const iq = createServerIq(rosters);
  const certificateSessions: CertificateSessions = {
    resourcesUsing: (fingerprint) =>
      [...sessions].filter((s) => s.loginCertificate === fingerprint && s.state === "bound").map((s) => s.fullJid.slice(s.fullJid.indexOf("/") + 1)),
    end(fingerprint) {
      const using = [...sessions].filter((s) => s.loginCertificate === fingerprint);
      for (const session of using) session.streamError("not-authorized", "the client certificate this session logged in with was revoked");
      return using.length;
    },
  };
  registerClientCertHandlers(iq.handlers, iq.discoItems, { records: storage.clientCerts, sessions: certificateSessions, log });
  // Every stream, old or new, consults the policy in force (reload() may replace it).
  let loginPolicy = options.loginPolicy ?? new LoginLimiter({ limits: config.limits });
  const policy: LoginPolicy = {
    get maxFailuresPerConnection() {
      return loginPolicy.maxFailuresPerConnection;
    },
    admit: (ip) => loginPolicy.admit(ip),
    settle: (attempt) => loginPolicy.settle(attempt),
  };
  // What new streams get; a reload makes a new one, and streams keep the one they started with.
  let services: SessionServices = {
    config,
    sasl,
    fastSasl,
    fast,
    router,
    log,
    policy,
    failureLog: failureLogs[0]!,
    ...(options.holdBack ? { holdBack: options.holdBack } : {}),
    iqHandlers: iq.handlers,
    rosters,
    storage,
    onEnd: (s) => sessions.delete(s),
    // Every login passes the revoker: a stream whose login raced its account's revocation ends.
    onAuthenticated: (s) => revoker.checkAuthenticated(s),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  const tickets = config.tls ? new TlsTickets({ cert: config.tls.cert, key: config.tls.key }) : null;
  const { host } = config.listeners;
  const trustedProxies = TrustedProxies.parse(config.trustedProxies);
  let warnedForwarded = false;
  const servers: net.Server[] = [];

  let closing: Promise<void> | null = null;
  const startSession = (transport: TcpTransport | WebSocketTransport) => {
    const session = new XmppSession(transport, services);
    transport.session = session;
    sessions.add(session);
    // A connection accepted while shutting down is told so at once rather than left open.
    if (closing) session.streamError("system-shutdown", "the server is shutting down");
  };

  const ports: RunningServer["ports"] = { c2s: null, directTls: null, http: null, component: null };
  let components: ComponentListener | null = null;
  let wss: WebSocketServer | null = null;
  try {
    if (config.listeners.c2sPort !== null) {
      const server = net.createServer((socket) =>
        startSession(new TcpTransport(socket, tickets?.context ?? null, live.limits.maxStanzaBytesBeforeAuth, false, live.limits.maxOutboundBytes)),
      );
      servers.push(server);
      ports.c2s = await listen(server, config.listeners.c2sPort, host, "c2s");
    }
    if (config.listeners.directTlsPort !== null) {
      if (!tickets) throw new Error("directTlsPort needs a TLS certificate");
      const server = tickets.createServer((socket) =>
        startSession(new TcpTransport(socket, null, live.limits.maxStanzaBytesBeforeAuth, true, live.limits.maxOutboundBytes)),
      );
      servers.push(server);
      ports.directTls = await listen(server, config.listeners.directTlsPort, host, "directTls");
    }
    if (config.listeners.httpPort !== null) {
      const rest = options.httpHandler ?? ((_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      });
      const revocation = options.revocationEndpoint
        ? createRevocationEndpoint(options.revocationEndpoint, () => revoker, (peer, why) =>
            failureLogs[failureLogs.length - 1]!.failure(peer, `revocation refused from ${peer}: ${why}`),
          )
        : null;
      const handler = revocation ? (req: http.IncomingMessage, res: http.ServerResponse) => revocation(req, res) || rest(req, res) : rest;
      const server = http.createServer(handler);
      // ws refuses a larger message from its frame header, before buffering it (close code 1009);
      // our own check answers one slightly over the limit with policy-violation. The limit is the
      // pre-authentication one; each stream raises its own once authenticated (websocket.ts).
      wss = new WebSocketServer({
        noServer: true,
        maxPayload: config.limits.maxStanzaBytesBeforeAuth + WEBSOCKET_PAYLOAD_SLACK,
        handleProtocols: (protocols) => (protocols.has("xmpp") ? "xmpp" : false),
      });
      server.on("upgrade", (req, socket, head) => {
        socket.on("error", () => socket.destroy()); // a reset mid-upgrade is not the server's problem
        const path = (req.url ?? "").split("?")[0];
        if (path !== config.listeners.websocketPath) return refuseUpgrade(socket, 404, "Not Found");
        // RFC 7395 3.1: without the xmpp subprotocol there is no XMPP connection to establish.
        const protocols = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
        if (!protocols.includes("xmpp")) return refuseUpgrade(socket, 400, "Bad Request");
        wss!.handleUpgrade(req, socket, head, (ws) => {
          const { address, secure, ignoredForwardedHeaders } = websocketPeer(req, trustedProxies, config.loopbackWebSocketIsSecure === true);
          if (ignoredForwardedHeaders && !warnedForwarded) {
            // Once per process: a misconfigured proxy would otherwise write this line per connection.
            warnedForwarded = true;
            log.warn(`forwarded headers from ${address} ignored: not in trustedProxies (WebSocket streams from it are not secure)`);
          }
          // Only a TLS connection this server terminated carries a client certificate (not ws:// behind a proxy).
          const certificate = req.socket instanceof tls.TLSSocket ? peerCertificateFingerprint(req.socket) : null;
          startSession(new WebSocketTransport(ws, address, secure, live.limits.maxStanzaBytesBeforeAuth, live.limits.maxOutboundBytes, certificate));
        });
      });
      servers.push(server);
      ports.http = await listen(server, config.listeners.httpPort, host, "http");
    }
    if (config.listeners.componentPort != null && Object.keys(config.components ?? {}).length > 0) {
      components = createComponentListener(config, router, log, () => closing !== null, options.holdBack);
      listComponentsInDisco(iq.discoItems, components);
      servers.push(components.server);
      ports.component = await listen(components.server, config.listeners.componentPort, config.listeners.componentHost ?? "127.0.0.1", "component");
    }
    await revoker.start();
  } catch (err) {
    tickets?.stop();
    await revoker.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    throw err;
  }

  log.info(
    `listening on ${host}: ` +
      [ports.c2s !== null && `c2s ${ports.c2s}`, ports.directTls !== null && `direct-tls ${ports.directTls}`, ports.http !== null && `http ${ports.http}`, ports.component !== null && `component ${config.listeners.componentHost}:${ports.component}`]
        .filter(Boolean)
        .join(", "),
  );

  const reload = (next: ServerConfig, reloadOptions: ReloadOptions = {}): ReloadReport => {
    const applied: string[] = [];
    const needsRestart: string[] = [];
    for (const [key, name] of Object.entries(RESTART_SETTINGS) as [keyof typeof RESTART_SETTINGS, string][]) {
      const differs = key === "tls" ? (live.tls === null) !== (next.tls === null) : !same(live[key], next[key]);
      if (differs) needsRestart.push(name);
    }
    const newPem = live.tls && next.tls && (live.tls.cert !== next.tls.cert || live.tls.key !== next.tls.key) ? next.tls : null;
    // Everything that can fail, before anything changes: the certificate, then the domains.
    if (newPem) tls.createSecureContext({ cert: newPem.cert, key: newPem.key });
    authority.replaceDomains(next.domains);
    if (newPem) tickets?.replace(newPem);

    const before = Object.keys(live.domains);
    const after = Object.keys(next.domains);
    const added = after.filter((d) => !Object.hasOwn(live.domains, d));
    const removed = before.filter((d) => !Object.hasOwn(next.domains, d));
    if (added.length > 0 || removed.length > 0) {
      const what = [added.length > 0 && `added ${added.join(", ")}`, removed.length > 0 && `removed ${removed.join(", ")}`].filter(Boolean).join("; ");
      applied.push(`domains ${after.join(", ")} (${what})`);
    }
    const rotated = after.filter((d) => Object.hasOwn(live.domains, d) && !same(live.domains[d]!.keys, next.domains[d]!.keys));
    if (rotated.length > 0) applied.push(`keys rotated for ${rotated.join(", ")}`);
    for (const field of ["window", "nonceDigits", "disabledUsers"] as const) {
      const changed = after.filter((d) => Object.hasOwn(live.domains, d) && !same(live.domains[d]![field], next.domains[d]![field]));
      if (changed.length > 0) applied.push(`${field} changed for ${changed.join(", ")}`);
    }
    if (newPem) applied.push("certificate replaced");
    const limits = (Object.keys(next.limits) as (keyof ServerConfig["limits"])[]).filter((k) => live.limits[k] !== next.limits[k]);
    if (limits.length > 0) applied.push(`limits ${limits.join(", ")}`);

    if (LOGIN_LIMITS.some((k) => live.limits[k] !== next.limits[k])) {
      if (reloadOptions.loginPolicy) loginPolicy = reloadOptions.loginPolicy(next.limits);
      else if (!options.loginPolicy) loginPolicy = new LoginLimiter({ limits: next.limits });
    }
    let failureLog = services.failureLog!;
    if (live.limits.maxFailureLinesPerIpPerMinute !== next.limits.maxFailureLinesPerIpPerMinute) {
      failureLog = new FailureLog(log, { linesPerMinute: next.limits.maxFailureLinesPerIpPerMinute });
      failureLogs.push(failureLog);
    }
    // What cannot change keeps its running value; new streams get the rest.
    live = { ...live, domains: next.domains, limits: next.limits, tls: newPem ?? live.tls };
    services = { ...services, config: live, failureLog };
    if (wss) wss.options.maxPayload = live.limits.maxStanzaBytesBeforeAuth + WEBSOCKET_PAYLOAD_SLACK;
    // Certificates revoked from another process (`x-token cert revoke`) end their sessions now.
    let revoked = 0;
    for (const fingerprint of new Set([...sessions].map((s) => s.loginCertificate))) {
      if (fingerprint !== null && storage.clientCerts.byFingerprint(fingerprint) === null) revoked += certificateSessions.end(fingerprint);
    }
    if (revoked > 0) applied.push(`${revoked} session(s) of revoked client certificates closed`);
    return { applied, needsRestart };
  };

  return {
    get config() {
      return live;
    },
    authority,
    ports,
    discoItems: iq.discoItems,
    rosters: rosters.store,
    storage,
    endCertificateSessions: (fingerprint) => certificateSessions.end(fingerprint),
    get sessionCount() {
      return sessions.size;
    },
    streamsByState() {
      const counts = { unauthenticated: 0, authenticated: 0, bound: 0 };
      for (const session of sessions) counts[session.state]++;
      return counts;
    },
    connections() {
      return [...sessions].map((s) => ({ kind: s.transportKind, remoteAddress: s.remoteAddress, outboundBytes: s.outboundBytes, outboundPaused: s.outboundPaused }));
    },
    reload,
    revokeAccount: (jid, revokeOptions = {}) => revoker.revoke(jid, { ...revokeOptions, source: "library" }),
    close() {
      closing ??= (async () => {
        const stopped = Promise.all(
          servers.map((s) => new Promise<void>((resolve) => {
            s.close(() => resolve());
            if (s instanceof http.Server) s.closeAllConnections();
          })),
        );
        for (const session of [...sessions]) session.streamError("system-shutdown", "the server is shutting down");
        components?.closeAll();
        wss?.close();
        await revoker.stop();
        tickets?.stop();
        await stopped;
        for (const failureLog of failureLogs) failureLog.flush();
        log.info("stopped");
      })();
      return closing;
    },
  };
}
