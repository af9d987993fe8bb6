/**
 * One client stream, independent of its transport: RFC 6120 negotiation (header checks,
 * STARTTLS, then SASL through the SaslExchange, restart, resource binding) and then the bound
 * session's stanzas, handed to the delivery rules. Transports feed it headers and parsed
 * elements, in order, one at a time.
 */
import { xml, type Element } from "@xmpp/xml";
import { InvalidJidError, nameprep } from "../core/jid/prep.js";
import type { SaslRegistry } from "../auth/sasl/index.js";
import type { SaslContext } from "../auth/sasl/types.js";
import type { LoginPolicy } from "../auth/policy/login-limiter.js";
import { limitOf, type ServerConfig } from "./config.js";
import { bindResource, isBindRequest } from "./binding.js";
import { deliverFrom, leave, sendStanzaError, type BoundSession } from "./delivery.js";
import type { IqHandlers } from "./iq/handlers.js";
import type { Storage } from "../core/records/storage.js";
import type { Rosters } from "./roster/index.js";
import type { Logger } from "./log.js";
import { NS } from "./namespaces.js";
import { randomHex } from "./random-id.js";
import { serialize, type Outbound, type SerializedXml } from "./serialized.js";
import type { Router } from "./router.js";
import { SaslExchange, type ExchangeStep, type HoldBack, type LoginMetrics } from "./sasl-exchange.js";
import { authenticationFeature, bind2Resource, readAuthenticate, successElement, type Sasl2Request } from "./sasl2.js";
import { FAST_MECHANISMS, type FastTokens, type IssuedFastToken, type UsedFastToken } from "../auth/fast/index.js";
import type { FailureLog } from "./failure-log.js";
import type { CertificateLogin } from "../auth/client-certs/index.js";
export type StreamErrorCondition =
  | "bad-format"
  | "conflict"
  | "improper-addressing"
  | "invalid-from"
  | "connection-timeout"
  | "host-unknown"
  | "invalid-namespace"
  | "not-authorized"
  | "not-well-formed"
  | "policy-violation"
  | "restricted-xml"
  | "system-shutdown"
  | "unsupported-stanza-type"
  | "unsupported-version"
  | "internal-server-error";

/** What a transport feeds, in order: a client session, or a component's stream (component-stream.ts). */
export interface StreamHandler {
  readonly isClosed: boolean;
  onHeader(header: Element): void;
  onElement(element: Element): void | Promise<void>;
  onStreamClose(): void;
  onDisconnect(): void;
  streamError(condition: StreamErrorCondition, text?: string): void;
  internalError(err: unknown): void;
}

/** What a session needs of its connection. */
export interface Transport {
  readonly kind: "tcp" | "websocket";
  readonly remoteAddress: string;
  /** TLS protects the stream (STARTTLS done, direct TLS, or wss). */
  readonly secure: boolean;
  /** STARTTLS can be offered on this connection. */
  readonly canStartTls: boolean;
  /** The SHA-256 fingerprint of the client certificate presented in the TLS handshake we terminated, or null. */
  readonly clientCertificate: string | null;
  /** Writes the stream header (TCP) or `<open/>` (WebSocket). */
  openStream(attrs: { id: string; from: string }): void;
  send(element: Outbound): void;
  /** Bytes written to the connection and not yet sent (its outbound queue). */
  readonly outboundBytes: number;
  /** Reading from the connection is paused because its outbound queue is over the bound. */
  readonly outboundPaused: boolean;
  /**
   * Resolves once reading is no longer paused for the outbound queue (at once when it is not),
   * or the connection is gone.
   */
  drained(): Promise<void>;
  /**
   * While paused for its outbound queue, a peer that takes no byte for `seconds` gets the stream
   * error `connection-timeout` and its connection is cut (0: never).
   */
  setOutboundStallSeconds(seconds: number): void;
  /** Writes `</stream:stream>` or `<close/>`, then ends the connection. */
  closeStream(): void;
  /** Upgrades to TLS after `<proceed/>`; the stream then starts over. */
  startTls(): Promise<void>;
  /**
   * After SASL success: expects a new stream header on the same bytes, the parser starting over;
   * the replaced stream's close instead is the client leaving (onStreamClose).
   */
  restart(): void;
  /** Raises the element size limit once authenticated. */
  setMaxElementBytes(bytes: number): void;
}

export interface SessionServices {
  config: ServerConfig;
  sasl: SaslRegistry;
  /** FAST's Hashed Token mechanisms, taken in SASL2 only (listed inside `<fast/>`); none when absent. */
  fastSasl?: SaslRegistry;
  /** FAST tokens (XEP-0484): handed out on request after a login, rotated, invalidated. */
  fast?: FastTokens;
  router: Router;
  log: Logger;
  /** Login abuse policy, consulted by the SASL exchange. */
  policy: LoginPolicy;
  /** Failed-login lines, bounded per address. */
  failureLog?: FailureLog;
  /** How a held-back failure waits (by default a timer). */
  holdBack?: HoldBack;
  /** Login figures (src/metrics), when metrics are on. */
  metrics?: LoginMetrics;
  /** IQs the server answers itself (disco, roster, ping, ...): src/server/iq/. */
  iqHandlers: IqHandlers;
  /** Rosters and presence subscriptions: src/server/roster/. */
  rosters: Rosters;
  /** Accounts and offline messages (src/core/records), kept across restarts by a durable engine. */
  storage: Pick<Storage, "accounts" | "offline">;
  /** Called once the session has ended, for bookkeeping. */
  onEnd(session: XmppSession): void;
  /** Called when the stream authenticates (any mechanism, SASL or SASL2): revocation checks it (revocation.ts). */
  onAuthenticated?(session: XmppSession): void;
}

type Phase = "awaiting-header" | "negotiating" | "closed";

/**
 * Serialised features by what they offer: the same few texts on every login, built once. Bounded
 * all the same (the offer depends on configuration and mechanisms, not on client input).
 */
const featuresByOffer = new Map<string, SerializedXml>();

/** The stream error's text for a stream that can never be TLS-protected while TLS is required. */
export const NOT_TLS_PROTECTED =
  "TLS is required: connect over wss:// (or STARTTLS); for development over ws:// from loopback the server needs loopbackWebSocketIsSecure";
const MAX_FEATURE_TEXTS = 64;

/** Counts input elements of all sessions: a session's last number says how recently it was heard from. */
let inputSequence = 0;

export class XmppSession implements BoundSession {
  private phase: Phase = "awaiting-header";
  domain = "";
  bareJid = "";
  fullJid = "";
  private resource: string | null = null;
  private authenticated = false;
  /** The client certificate this stream logged in with (SASL EXTERNAL), or null. */
  private certificateLogin: CertificateLogin | null = null;
  private readonly sasl: SaslExchange;
  /** The SASL2 `<authenticate/>` whose exchange is running (challenges may follow). */
  private sasl2Request: Sasl2Request | null = null;
  /** Our stream header (or `<open/>`) for the current stream was sent: errors can go out. */
  private streamOpened = false;
  available = false;
  priority = 0;
  lastPresence: Element | null = null;
  private authTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** When the last input element arrived, as inputSequence counted it (0: never). */
  private lastHeardFrom = 0;
  /**
   * Answers to this session's own input that may be many (deliverAll), sent while its outbound
   * queue is under the bound; the next input element waits until they are all sent.
   */
  private backlog: Iterator<Element>[] = [];
  /** The backlog is being sent (pumped: until it is empty or the session ends). */
  private pumping = false;
  private pumped: Promise<void> = Promise.resolve();

  /** For metrics: before SASL success, after it, and once a resource is bound. */
  get state(): "unauthenticated" | "authenticated" | "bound" {
    if (this.resource !== null) return "bound";
    return this.authenticated ? "authenticated" : "unauthenticated";
  }

  constructor(
    private readonly transport: Transport,
    private readonly services: SessionServices,
  ) {
    const seconds = services.config.limits.authTimeoutSeconds;
    this.authTimer = setTimeout(() => this.streamError("connection-timeout", "authenticate in time"), seconds * 1000);
    this.authTimer.unref();
    transport.setOutboundStallSeconds(limitOf(services.config.limits, "outboundStallSeconds"));
    const session = this;
    this.sasl = new SaslExchange(
      {
        kind: transport.kind,
        remoteAddress: transport.remoteAddress,
        get closed() {
          return session.phase !== "negotiating";
        },
        context: () => this.saslContext(),
        send: (element) => this.transport.send(element),
      },
      {
        sasl: services.sasl,
        fastSasl: services.fastSasl,
        policy: services.policy,
        log: services.log,
        failureLog: services.failureLog,
        metrics: services.metrics,
        holdBack: services.holdBack,
      },
    );
  }

  get isClosed(): boolean {
    return this.phase === "closed";
  }

  private saslContext(): SaslContext {
    const context: SaslContext = { domain: this.domain, secure: this.transport.secure, remoteAddress: this.transport.remoteAddress };
    if (this.transport.clientCertificate !== null) context.clientCertificate = this.transport.clientCertificate;
    return context;
  }

  /** TLS is required and not yet in place: no authentication, only STARTTLS. */
  private tlsPending(): boolean {
    return this.services.config.requireTls && !this.transport.secure;
  }

  // ---- stream level --------------------------------------------------------------------------

  /** A stream header (TCP) or `<open/>` (WebSocket) arrived, as a parsed element. */
  onHeader(header: Element): void {
    if (this.phase === "closed") return;
    // Only WebSocket can get here mid-stream (TCP's framer sees a header only at depth 0).
    if (this.phase !== "awaiting-header") return this.streamError("bad-format", "<open/> is only allowed at the start of a stream");
    const { kind } = this.transport;
    const expected = kind === "tcp" ? NS.stream : NS.framing;
    const isHeader =
      kind === "tcp"
        ? header.name.endsWith(":stream") || header.name === "stream"
        : header.name === "open";
    const nsOk =
      kind === "tcp"
        ? header.attrs[header.name.includes(":") ? `xmlns:${header.name.split(":")[0]}` : "xmlns"] === expected &&
          (header.attrs.xmlns ?? NS.client) === NS.client
        : header.attrs.xmlns === expected;
    // The header must be answered before any error can be sent on it.
    const to = header.attrs.to ?? "";
    let domain = "";
    try {
      domain = to ? nameprep(to) : "";
    } catch (err) {
      if (!(err instanceof InvalidJidError)) throw err;
    }
    this.openStream(domain);
    if (!isHeader || !nsOk) return this.streamError("invalid-namespace", "expected a jabber:client stream");
    if (header.attrs.version !== "1.0") return this.streamError("unsupported-version", "version 1.0 is required");
    if (!domain || !Object.hasOwn(this.services.config.domains, domain)) return this.streamError("host-unknown", "this server does not host that domain");
    if (this.domain && domain !== this.domain) return this.streamError("host-unknown", "the domain changed on restart");
    this.domain = domain;
    this.phase = "negotiating";
    // TLS is required, this stream has none and cannot get it (ws:// not counted as TLS-protected):
    // features would offer nothing and the client would wait for the authentication timeout.
    if (this.tlsPending() && !this.transport.canStartTls) return this.refuseWithoutTls();
    this.transport.send(this.features());
  }

  /** Says why at once: a stream error naming the fix, and a log line (bounded per address). */
  private refuseWithoutTls(): void {
    const { kind, remoteAddress } = this.transport;
    const line = `${kind === "websocket" ? "WebSocket" : "TCP"} stream from ${remoteAddress} refused: requireTls is set and the stream is not TLS-protected (not wss:// through a proxy in trustedProxies; loopbackWebSocketIsSecure is off)`;
    if (this.services.failureLog) this.services.failureLog.failure(remoteAddress, line);
    else this.services.log.warn(line);
    this.streamError("policy-violation", NOT_TLS_PROTECTED);
  }

  private openStream(domain = ""): void {
    const from = domain || this.domain || (Object.keys(this.services.config.domains)[0] ?? "localhost");
    this.transport.openStream({ id: randomHex(12), from });
    this.streamOpened = true;
  }

  /** The transport will read a new stream header (STARTTLS, SASL success): we answer it anew. */
  private expectNewStream(): void {
    this.phase = "awaiting-header";
    this.streamOpened = false;
  }

  private features(): SerializedXml {
    const startTls = !this.authenticated && !this.transport.secure && this.transport.canStartTls;
    const required = startTls && this.services.config.requireTls;
    const context = this.saslContext();
    const mechanisms = !this.authenticated && !this.tlsPending() ? this.services.sasl.offered(context) : null;
    const fastMechanisms = mechanisms && this.services.fast ? (this.services.fastSasl?.offered(context) ?? []) : [];
    // Bound through Bind 2: no legacy <bind/> (a client would bind a second time).
    const bound = this.resource !== null;
    // Mechanism names are registry names (tokens of letters, digits, - and _), never "|" or ",".
    const key = `${this.authenticated}|${bound}|${startTls}|${required}|${mechanisms?.join(",") ?? "-"}|${fastMechanisms.join(",")}`;
    let text = featuresByOffer.get(key);
    if (text === undefined) {
      const features = xml("stream:features", { "xmlns:stream": NS.stream });
      if (startTls) features.append(xml("starttls", { xmlns: NS.tls }, required ? xml("required") : null));
      if (mechanisms) {
        features.append(xml("mechanisms", { xmlns: NS.sasl }, ...mechanisms.map((m) => xml("mechanism", {}, m))));
        // SASL2 beside legacy SASL: clients that know it use it, the others never look at it.
        features.append(authenticationFeature(mechanisms, fastMechanisms));
      }
      if (this.authenticated && !bound) features.append(xml("bind", { xmlns: NS.bind }), xml("session", { xmlns: NS.session }, xml("optional")));
      text = serialize(features);
      if (featuresByOffer.size < MAX_FEATURE_TEXTS) featuresByOffer.set(key, text);
    }
    return text;
  }

  /** The client closed its stream. */
  onStreamClose(): void {
    this.end();
  }

  streamError(condition: StreamErrorCondition, text?: string): void {
    if (this.phase === "closed") return;
    // An error before our header still opens the stream first (RFC 6120 4.9.1.1).
    if (!this.streamOpened) this.openStream();
    this.transport.send(
      xml(
        "stream:error",
        { "xmlns:stream": NS.stream },
        xml(condition, { xmlns: NS.streamErrors }),
        text ? xml("text", { xmlns: NS.streamErrors, "xml:lang": "en" }, text) : null,
      ),
    );
    this.end();
  }

  /** An unexpected exception while handling this stream: log it (no stanza content) and end the stream. */
  internalError(err: unknown): void {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.services.log.warn(`internal error on stream from ${this.transport.remoteAddress}: ${what}`);
    this.streamError("internal-server-error");
  }

  /** Closes the stream cleanly (server shutdown uses streamError("system-shutdown")). */
  end(): void {
    this.finish(true);
  }

  /** The connection went away without a stream close. */
  onDisconnect(): void {
    this.finish(false);
  }

  private finish(closeStream: boolean): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.backlog = [];
    if (this.authTimer) clearTimeout(this.authTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.leave();
    if (closeStream) this.transport.closeStream();
    this.services.onEnd(this);
  }

  private leave(): void {
    if (this.resource === null) return;
    this.services.router.remove(this.resource, this);
    leave(this, this.services);
  }

  // ---- elements ------------------------------------------------------------------------------

  async onElement(element: Element): Promise<void> {
    // While its outbound queue is over the bound, the session handles none of what it has read
    // either (reading itself is paused): what it asked for so far waits until it takes its
    // answers. A client that never takes them is cut off (setOutboundStallSeconds).
    if (this.transport.outboundPaused) await this.transport.drained();
    if (this.phase === "closed") return;
    // Only WebSocket can get here before `<open/>` (TCP's framer insists on a header first).
    if (this.phase === "awaiting-header") return this.streamError("bad-format", "open the stream first");
    this.lastHeardFrom = ++inputSequence;
    this.touch();
    const ns = element.attrs.xmlns ?? NS.client;
    if (!this.authenticated) {
      if (ns === NS.tls && element.name === "starttls") return this.onStartTls();
      if (ns === NS.sasl) return this.onSasl(element);
      if (ns === NS.sasl2) return this.onSasl2(element);
      return this.streamError("not-authorized", "authenticate first");
    }
    if (ns !== NS.client || !["message", "presence", "iq"].includes(element.name)) {
      return this.streamError("unsupported-stanza-type");
    }
    if (this.resource === null) {
      if (isBindRequest(element)) return this.onBind(element);
      return this.streamError("not-authorized", "bind a resource first");
    }
    deliverFrom(this, element, this.services);
    if (this.pumping) await this.pumped;
  }

  /**
   * Answers to this session's own request that can be many (the presences, subscription requests
   * and offline messages an initial presence brings): taken one at a time, and only while the
   * outbound queue is under the bound, so they never pile up past it; the session handles its next
   * input element once they are all sent. Taken lazily: each is made when it is sent.
   */
  deliverAll(stanzas: Iterable<Element>): void {
    if (this.phase === "closed") return;
    this.backlog.push(stanzas[Symbol.iterator]());
    if (!this.pumping) this.pumped = this.pump();
  }

  /** Sends the backlog, in order, as the queue takes it; what fits goes out before this returns. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.backlog.length > 0 && this.phase !== "closed") {
        if (this.transport.outboundPaused) {
          await this.transport.drained();
          continue;
        }
        const next = this.backlog[0]!.next();
        if (next.done) this.backlog.shift();
        else this.transport.send(next.value);
      }
    } catch (err) {
      // A bug in what makes the answers: this stream ends, never the server (nobody may be awaiting this).
      this.backlog = [];
      this.internalError(err);
    } finally {
      this.pumping = false;
    }
  }

  private touch(): void {
    const seconds = this.services.config.limits.idleTimeoutSeconds;
    if (!this.authenticated || seconds <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => this.streamError("connection-timeout", "idle"), seconds * 1000);
      this.idleTimer.unref();
    }
  }

  private async onStartTls(): Promise<void> {
    if (this.transport.secure || !this.transport.canStartTls) {
      this.transport.send(xml("failure", { xmlns: NS.tls }));
      return this.end();
    }
    this.transport.send(xml("proceed", { xmlns: NS.tls }));
    this.expectNewStream();
    try {
      await this.transport.startTls();
    } catch {
      this.onDisconnect();
    }
  }

  private async onSasl(element: Element): Promise<void> {
    if (this.tlsPending()) {
      this.transport.send(xml("failure", { xmlns: NS.sasl }, xml("encryption-required")));
      return this.end();
    }
    const step = await this.sasl.handle(element);
    if (step === null) return this.streamError("not-authorized", "unexpected SASL element");
    if (!this.settled(step)) return;
    this.authenticatedAs(step.jid, step.outcome.certificate);
    this.expectNewStream();
    this.transport.restart();
  }

  /** What every wire does with a step: true once authenticated (the stream still open). */
  private settled(step: ExchangeStep): step is Extract<ExchangeStep, { kind: "authenticated" }> {
    if (this.phase !== "negotiating") return false; // closed while verifying
    if (step.kind === "exhausted") {
      this.streamError("policy-violation", "too many failed authentication attempts");
      return false;
    }
    return step.kind === "authenticated";
  }

  /** `certificate`: it logged in with a client certificate (EXTERNAL), which may fix its resource. */
  private authenticatedAs(jid: string, certificate: CertificateLogin | undefined): void {
    this.authenticated = true;
    this.bareJid = jid;
    this.certificateLogin = certificate ?? null;
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    this.transport.setMaxElementBytes(this.services.config.limits.maxStanzaBytes);
    this.services.onAuthenticated?.(this);
  }

  /**
   * SASL2 (XEP-0388): `<authenticate/>`, `<response/>`, `<abort/>`. The same exchange and policy
   * as legacy SASL; a failure leaves the stream as it was for another attempt, a success needs
   * no stream restart: `<success/>` (with Bind 2 and FAST inline), then the new features.
   */
  private async onSasl2(element: Element): Promise<void> {
    if (this.tlsPending()) {
      this.transport.send(xml("failure", { xmlns: NS.sasl2 }, xml("encryption-required", { xmlns: NS.sasl })));
      return this.end();
    }
    let step: ExchangeStep;
    if (element.name === "authenticate") {
      const request = readAuthenticate(element);
      this.sasl2Request = request;
      step = await this.sasl.startSasl2({
        mechanism: request.mechanism,
        initialResponse: request.initialResponse,
        ...(request.userAgentId === undefined ? {} : { context: { userAgentId: request.userAgentId } }),
      });
    } else if (element.name === "response") {
      step = await this.sasl.respondSasl2(element.text());
    } else if (element.name === "abort") {
      step = await this.sasl.abortSasl2();
    } else {
      return this.streamError("not-authorized", "unexpected SASL2 element");
    }
    const request = this.sasl2Request;
    if (!this.settled(step) || request === null) return;
    this.sasl2Request = null;
    this.authenticatedAs(step.jid, step.outcome.certificate);
    const token = this.fastAfterLogin(request, step.outcome.fastToken);
    const bound = request.bindTag !== undefined && this.bind2(request.bindTag);
    this.transport.send(successElement({ additionalData: step.outcome.additionalData, identity: bound ? this.fullJid : this.bareJid, bound, token }));
    this.transport.send(this.features());
  }

  /**
   * FAST after a successful SASL2 login: the token used is invalidated when asked; a new one is
   * handed out when asked for (`<request-token/>`), or unasked when the one used is older than the
   * rotation age. Only with a user-agent id, on a TLS-protected stream, for a mechanism we have. A
   * token the records cannot store is not handed out (the login stands; logged).
   */
  private fastAfterLogin(request: Sasl2Request, used: UsedFastToken | undefined): IssuedFastToken | null {
    const fast = this.services.fast;
    // No FAST token from a client certificate login: revoking the certificate (which closes its
    // sessions) must leave that device nothing to log in with; it has its certificate anyway.
    if (!fast || !this.transport.secure || this.certificateLogin !== null) return null;
    try {
      if (used && request.invalidate) fast.invalidate(used);
    } catch (err) {
      this.services.log.warn(`FAST token of ${this.bareJid} could not be invalidated: ${describe(err)}`);
    }
    const rotate = used !== undefined && !request.invalidate && fast.isDueForRotation(used);
    const mechanism = request.requestToken ?? (rotate ? used.binding.mechanism : null);
    if (mechanism === null || request.userAgentId === undefined || !FAST_MECHANISMS.includes(mechanism)) return null;
    try {
      return fast.issue(this.bareJid, request.userAgentId, mechanism);
    } catch (err) {
      this.services.log.warn(`no FAST token for ${this.bareJid}: it could not be stored: ${describe(err)}`);
      return null;
    }
  }

  /** Bind 2 (XEP-0386): a resource from the client's tag and a generated rest; false when the account could not be recorded. */
  private bind2(tag: string | null): boolean {
    const taken = (r: string) => this.services.router.sessionsOf(this.bareJid).some((s) => s instanceof XmppSession && s.resource === r);
    // A client certificate whose xmppAddr is a full JID fixes the resource, as in legacy bind:
    // never renamed; when it is taken, no Bind 2 (a later bind gets conflict).
    const fixed = this.certificateLogin?.resources ?? null;
    if (fixed !== null && fixed.length > 0) return !taken(fixed[0]!) && this.attach(fixed[0]!);
    const resource = bind2Resource(tag, taken);
    return this.attach(resource);
  }

  // ---- after authentication ------------------------------------------------------------------

  private onBind(iq: Element): void {
    const outcome = bindResource(iq, this.bareJid, this.services.router, this.certificateLogin?.resources ?? null);
    if (outcome.kind === "error") return sendStanzaError(this, iq, outcome.type, outcome.condition);
    if (!this.attach(outcome.resource)) return sendStanzaError(this, iq, "wait", "internal-server-error", "the account could not be recorded; try again later");
    this.transport.send(outcome.reply);
  }

  /**
   * Binds the stream to `resource` (legacy bind or Bind 2). An account exists once it has bound a
   * resource: only such accounts get offline messages (delivery.ts). Recorded before the session
   * is reachable; a known account costs a set lookup (the engines remember the accounts they
   * know). A store that cannot record it refuses the bind (false), and the stream stays as it
   * was: the client may try again.
   */
  private attach(resource: string): boolean {
    try {
      this.services.storage.accounts.add(this.bareJid);
    } catch (err) {
      this.services.log.warn(`bind refused for ${this.bareJid}: the account could not be recorded: ${describe(err)}`);
      return false;
    }
    this.makeRoomForSession();
    this.resource = resource;
    this.fullJid = `${this.bareJid}/${resource}`;
    this.services.router.add(this.resource, this);
    return true;
  }

  /**
   * At most `maxSessionsPerAccount` bound sessions per account: a new bind past it closes the
   * account's session heard from least recently (a connection that went away without a close is
   * the first to go), with the stream error `conflict` and a text that says why, and one log
   * line. The new login is never refused: nobody holding old sessions, or sessions that died
   * without a close, keeps the account's owner out.
   */
  private makeRoomForSession(): void {
    const max = limitOf(this.services.config.limits, "maxSessionsPerAccount");
    const others = this.services.router.sessionsOf(this.bareJid).filter((s): s is XmppSession => s instanceof XmppSession && s !== this);
    if (others.length < max) return;
    others.sort((a, b) => a.lastHeardFrom - b.lastHeardFrom);
    for (const old of others.slice(0, others.length - max + 1)) {
      this.services.log.info(
        `closed a session of ${this.bareJid} from ${old.remoteAddress} (heard from least recently) for a new one from ${this.transport.remoteAddress}: at most ${max} sessions per account`,
      );
      old.streamError("conflict", `at most ${max} sessions per account: this one, heard from least recently, was closed for a new one`);
    }
  }

  /**
   * Its outbound queue is at the bound: it does not read, so stanzas for it are dropped
   * (delivery.ts). Once over it, nothing more is taken for it until it has drained (reading is
   * paused until then): so others cannot keep a slow reader's own input waiting by keeping its
   * queue full.
   */
  get outboundFull(): boolean {
    return this.transport.outboundPaused || this.transport.outboundBytes >= this.services.config.limits.maxOutboundBytes;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  /** The fingerprint of the client certificate this session logged in with (EXTERNAL), or null. */
  get loginCertificate(): string | null {
    return this.certificateLogin?.fingerprint ?? null;
  }

  get transportKind(): "tcp" | "websocket" {
    return this.transport.kind;
  }

  get outboundBytes(): number {
    return this.transport.outboundBytes;
  }

  get outboundPaused(): boolean {
    return this.transport.outboundPaused;
  }

  deliver(stanza: Element): void {
    if (this.phase === "closed") return;
    this.transport.send(stanza);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
