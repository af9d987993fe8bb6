/**
 * The XEP-0114 component listener: TCP (no TLS: the protocol has none, so it listens on
 * loopback unless configured otherwise), one ComponentStream per connection, framed by the same
 * transport and XML framer as client streams.
 */
import net from "node:net";
import { LoginLimiter } from "../auth/policy/login-limiter.js";
import { memoryFailureCounter } from "../auth/policy/rate-limiter-counter.js";
import { FailureLog } from "../auth/policy/failure-log.js";
import type { ServerConfig } from "./config.js";
import { ComponentStream, type ComponentServices, type HandshakeGuard, type Keepalive } from "./component-stream.js";
import type { DiscoItems } from "./iq/index.js";
import type { Logger } from "./log.js";
import type { Router } from "./router.js";
import { holdBackTimer, type HoldBack } from "./sasl-exchange.js";
import { TcpTransport } from "./transport/tcp.js";

export interface ComponentListener {
  readonly server: net.Server;
  /** Domains of the components connected right now. */
  liveDomains(): string[];
  /** Ends every component stream with `reason` (system-shutdown). */
  closeAll(): void;
}

/** Seconds every handshake answer waits while its address or domain is over its failure limit. */
export const HANDSHAKE_HOLD_BACK_SECONDS = 1;
/** Silence after which a component is pinged, when `limits.idleTimeoutSeconds` is 0 (off). */
export const COMPONENT_IDLE_SECONDS = 60;
/** The most a pinged component gets to answer; never more than half the auth timeout. */
export const COMPONENT_ANSWER_SECONDS = 10;

/**
 * Handshake attempt limits: the client logins' policy (LoginLimiter), with counters of their own
 * (so guessing a component secret costs no client login from the same address, and the other
 * way round): `maxAuthFailuresPerIpPerMinute` per address and `maxAuthFailuresPerJidPerMinute`
 * per component domain (the secret being guessed, from however many addresses); failure lines
 * bounded by `maxFailureLinesPerIpPerMinute` per address.
 */
export function handshakeGuard(limits: ServerConfig["limits"], log: Logger, holdBack: HoldBack = holdBackTimer): HandshakeGuard {
  const common = { windowSeconds: 60 };
  const byIp = memoryFailureCounter({ limit: limits.maxAuthFailuresPerIpPerMinute, ...common });
  const domainFailures = memoryFailureCounter({ limit: limits.maxAuthFailuresPerJidPerMinute, ...common });
  return {
    policy: new LoginLimiter({ limits, counters: { byIp, byJid: domainFailures }, holdBackSeconds: HANDSHAKE_HOLD_BACK_SECONDS }),
    domainFailures,
    failureLog: new FailureLog(log, { linesPerMinute: limits.maxFailureLinesPerIpPerMinute }),
    holdBackSeconds: HANDSHAKE_HOLD_BACK_SECONDS,
    holdBack,
  };
}

/**
 * When the server pings a component: after `idleTimeoutSeconds` of silence (for clients, the
 * silence after which they are closed; a component is asked instead), or COMPONENT_IDLE_SECONDS
 * when that is off; it answers within min(COMPONENT_ANSWER_SECONDS, authTimeoutSeconds / 2),
 * so a new connection waiting on the answer is answered before its own auth timeout.
 */
export function keepalive(config: ServerConfig): Keepalive {
  const { idleTimeoutSeconds, authTimeoutSeconds } = config.limits;
  return {
    idleSeconds: idleTimeoutSeconds > 0 ? idleTimeoutSeconds : COMPONENT_IDLE_SECONDS,
    answerSeconds: Math.min(COMPONENT_ANSWER_SECONDS, authTimeoutSeconds / 2),
    from: Object.keys(config.domains)[0] ?? "localhost",
  };
}

export function createComponentListener(
  config: ServerConfig,
  router: Router,
  log: Logger,
  isClosing: () => boolean,
  holdBack: HoldBack = holdBackTimer,
): ComponentListener {
  const live = new Map<string, ComponentStream>();
  const streams = new Set<ComponentStream>();
  const guard = handshakeGuard(config.limits, log, holdBack);
  const services: ComponentServices = {
    secrets: config.components ?? {},
    hostedDomains: new Set(Object.keys(config.domains)),
    router,
    log,
    limits: config.limits,
    live,
    guard,
    keepalive: keepalive(config),
    onEnd: (stream: ComponentStream) => streams.delete(stream),
  };
  const server = net.createServer((socket) => {
    const transport = new TcpTransport(socket, null, config.limits.maxStanzaBytesBeforeAuth, false, config.limits.maxOutboundBytes);
    const stream = new ComponentStream(transport, services);
    transport.session = stream;
    // The component took what the socket held: what waits in its senders' queue follows.
    socket.on("drain", () => stream.onDrain());
    streams.add(stream);
    if (isClosing()) stream.streamError("system-shutdown", "the server is shutting down");
  });
  return {
    server,
    liveDomains: () => [...live.keys()],
    closeAll() {
      for (const stream of [...streams]) stream.streamError("system-shutdown", "the server is shutting down");
      guard.failureLog.flush();
    },
  };
}

/** The server's disco#items lists the components connected now (through the IQ handlers' DiscoItems). */
export function listComponentsInDisco(discoItems: DiscoItems, listener: ComponentListener): void {
  discoItems.add(() => listener.liveDomains().map((jid) => ({ jid })));
}
