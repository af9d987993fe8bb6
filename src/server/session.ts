/**
 * One client stream, independent of its transport: RFC 6120 negotiation (header checks,
 * STARTTLS, SASL, restart, resource binding, optional session) and then stanzas.
 * Transports feed it headers and parsed elements, in order, one at a time.
 */
import { randomBytes } from "node:crypto";
import { Element, xml } from "@xmpp/xml";
import { InvalidJidError, nameprep } from "../core/jid/prep.js";
import { prepareAddress, type Address } from "./address.js";
import { ABORTED, INVALID_MECHANISM, decodeSaslPayload, encodeSaslPayload, type SaslRegistry, type ServerMechanism } from "../auth/sasl/index.js";
import type { SaslContext, SaslOutcome } from "../auth/sasl/types.js";
import type { ServerConfig } from "../app/config/types.js";
import type { Logger } from "./log.js";
import { NS } from "./namespaces.js";
import type { RoutableSession, Router } from "./router.js";
import type { LoginLimiter } from "../auth/policy/login-limiter.js";

export type StreamErrorCondition =
  | "bad-format"
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

/** What a session needs of its connection. */
export interface Transport {
  readonly kind: "tcp" | "websocket";
  readonly remoteAddress: string;
  /** TLS protects the stream (STARTTLS done, direct TLS, or wss). */
  readonly secure: boolean;
  /** STARTTLS can be offered on this connection. */
  readonly canStartTls: boolean;
  /** Writes the stream header (TCP) or `<open/>` (WebSocket). */
  openStream(attrs: { id: string; from: string }): void;
  send(element: Element): void;
  /** Writes `</stream:stream>` or `<close/>`, then ends the connection. */
  closeStream(): void;
  /** Upgrades to TLS after `<proceed/>`; the stream then starts over. */
  startTls(): Promise<void>;
  /** Expects a new stream header: the parser starts over. */
  restart(): void;
  /** Raises the element size limit once authenticated. */
  setMaxElementBytes(bytes: number): void;
}

export interface SessionServices {
  config: ServerConfig;
  sasl: SaslRegistry;
  router: Router;
  log: Logger;
  limiter: LoginLimiter;
  /** Called once the session has ended, for bookkeeping. */
  onEnd(session: XmppSession): void;
}

type Phase = "awaiting-header" | "negotiating" | "closed";

export class XmppSession implements RoutableSession {
  private phase: Phase = "awaiting-header";
  domain = "";
  bareJid = "";
  fullJid = "";
  private resource: string | null = null;
  private authenticated = false;
  private mechanism: ServerMechanism | null = null;
  private mechanismName = "";
  /** Our stream header (or `<open/>`) for the current stream was sent: errors can go out. */
  private streamOpened = false;
  private authFailures = 0;
  available = false;
  priority = 0;
  lastPresence: Element | null = null;
  private authTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly services: SessionServices,
  ) {
    const seconds = services.config.limits.authTimeoutSeconds;
    this.authTimer = setTimeout(() => this.streamError("connection-timeout", "authenticate in time"), seconds * 1000);
    this.authTimer.unref();
  }

  get isClosed(): boolean {
    return this.phase === "closed";
  }

  private saslContext(): SaslContext {
    return { domain: this.domain, secure: this.transport.secure, remoteAddress: this.transport.remoteAddress };
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
    if (!domain || !(domain in this.services.config.domains)) return this.streamError("host-unknown", "this server does not host that domain");
    if (this.domain && domain !== this.domain) return this.streamError("host-unknown", "the domain changed on restart");
    this.domain = domain;
    this.phase = "negotiating";
    this.transport.send(this.features());
  }

  private openStream(domain = ""): void {
    const from = domain || this.domain || (Object.keys(this.services.config.domains)[0] ?? "localhost");
    this.transport.openStream({ id: randomBytes(12).toString("hex"), from });
    this.streamOpened = true;
  }

  /** The transport will read a new stream header (STARTTLS, SASL success): we answer it anew. */
  private expectNewStream(): void {
    this.phase = "awaiting-header";
    this.streamOpened = false;
  }

  private features(): Element {
    const features = xml("stream:features", { "xmlns:stream": NS.stream });
    if (!this.authenticated) {
      if (!this.transport.secure && this.transport.canStartTls) {
        features.append(xml("starttls", { xmlns: NS.tls }, this.services.config.requireTls ? xml("required") : null));
      }
      if (!this.tlsPending()) {
        const offered = this.services.sasl.offered(this.saslContext());
        features.append(xml("mechanisms", { xmlns: NS.sasl }, ...offered.map((m) => xml("mechanism", {}, m))));
      }
    } else {
      features.append(xml("bind", { xmlns: NS.bind }), xml("session", { xmlns: NS.session }, xml("optional")));
    }
    return features;
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
    if (this.authTimer) clearTimeout(this.authTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.leave();
    if (closeStream) this.transport.closeStream();
    this.services.onEnd(this);
  }

  private leave(): void {
    if (this.resource === null) return;
    this.services.router.remove(this.resource, this);
    if (this.available) {
      this.available = false;
      this.broadcastPresence(xml("presence", { type: "unavailable" }));
    }
  }

  // ---- elements ------------------------------------------------------------------------------

  async onElement(element: Element): Promise<void> {
    if (this.phase === "closed") return;
    // Only WebSocket can get here before `<open/>` (TCP's framer insists on a header first).
    if (this.phase === "awaiting-header") return this.streamError("bad-format", "open the stream first");
    this.touch();
    const ns = element.attrs.xmlns ?? NS.client;
    if (!this.authenticated) {
      if (ns === NS.tls && element.name === "starttls") return this.onStartTls();
      if (ns === NS.sasl) return this.onSasl(element);
      return this.streamError("not-authorized", "authenticate first");
    }
    if (ns !== NS.client || !["message", "presence", "iq"].includes(element.name)) {
      return this.streamError("unsupported-stanza-type");
    }
    if (this.resource === null) {
      if (element.name === "iq" && element.getChild("bind", NS.bind)) return this.onBind(element);
      return this.streamError("not-authorized", "bind a resource first");
    }
    this.onStanza(element);
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
      this.sendSaslFailure("encryption-required");
      return this.end();
    }
    let outcome: SaslOutcome;
    if (element.name === "abort") {
      this.mechanism = null;
      outcome = ABORTED;
    } else if (element.name === "auth" || element.name === "response") {
      if (element.name === "auth") {
        this.mechanismName = element.attrs.mechanism ?? "";
        this.mechanism = this.services.sasl.start(this.mechanismName, this.saslContext());
      }
      const mechanism = this.mechanism;
      if (!mechanism) {
        outcome = element.name === "auth" ? INVALID_MECHANISM : { kind: "failure", condition: "malformed-request", reason: "no-exchange" };
      } else {
        const payload = decodeSaslPayload(element.text());
        outcome =
          payload.kind === "invalid"
            ? { kind: "failure", condition: "incorrect-encoding", reason: "incorrect-encoding" }
            : await mechanism.step(payload.kind === "none" ? (element.name === "auth" ? null : Buffer.alloc(0)) : payload.data);
      }
    } else {
      return this.streamError("not-authorized", "unexpected SASL element");
    }
    if (this.phase !== "negotiating") return; // closed while verifying
    this.onSaslOutcome(outcome);
  }

  private onSaslOutcome(outcome: SaslOutcome): void {
    const ip = this.transport.remoteAddress;
    if (outcome.kind === "challenge") {
      this.transport.send(xml("challenge", { xmlns: NS.sasl }, encodeSaslPayload(outcome.data)));
      return;
    }
    this.mechanism = null;
    if (outcome.kind === "success") {
      // The name came from a mechanism the registry found, so it is one of ours, not client text.
      this.services.log.info(`authenticated ${outcome.jid} from ${ip} via ${this.mechanismName} over ${this.transport.kind}`);
      this.authenticated = true;
      this.bareJid = outcome.jid;
      if (this.authTimer) clearTimeout(this.authTimer);
      this.authTimer = null;
      this.transport.send(xml("success", { xmlns: NS.sasl }));
      this.transport.setMaxElementBytes(this.services.config.limits.maxStanzaBytes);
      this.expectNewStream();
      this.transport.restart();
      return;
    }
    const who = outcome.jid ?? "(unknown)";
    this.services.log.warn(`authentication failed for ${who} from ${ip}: ${outcome.reason}`);
    if (this.services.limiter.recordFailure(outcome.condition, ip, outcome.jid)) this.authFailures++;
    this.sendSaslFailure(outcome.condition);
    if (this.services.limiter.connectionExhausted(this.authFailures)) {
      this.streamError("policy-violation", "too many failed authentication attempts");
    }
  }

  private sendSaslFailure(condition: string): void {
    this.transport.send(xml("failure", { xmlns: NS.sasl }, xml(condition)));
  }

  // ---- after authentication ------------------------------------------------------------------

  private onBind(iq: Element): void {
    if (iq.attrs.type !== "set") return this.sendStanzaError(iq, "modify", "bad-request");
    const requested = iq.getChild("bind", NS.bind)?.getChildText("resource")?.trim() || null;
    if (requested && (Buffer.byteLength(requested) > 1023 || /[\u0000-\u001f\u007f]/.test(requested))) {
      return this.sendStanzaError(iq, "modify", "bad-request");
    }
    this.resource = this.services.router.pickResource(this.bareJid, requested);
    this.fullJid = `${this.bareJid}/${this.resource}`;
    this.services.router.add(this.resource, this);
    this.transport.send(
      xml("iq", { xmlns: NS.client, type: "result", id: iq.attrs.id }, xml("bind", { xmlns: NS.bind }, xml("jid", {}, this.fullJid))),
    );
  }

  deliver(stanza: Element): void {
    if (this.phase === "closed") return;
    this.transport.send(stanza);
  }

  private onStanza(stanza: Element): void {
    // The server stamps the sender (RFC 6120 8.1.2.1); the client's own value is not trusted.
    const out = withAttrs(stanza, { from: this.fullJid, xmlns: NS.client });
    const toText = stanza.attrs.to;
    let to: Address | null = null;
    if (toText !== undefined && toText !== "") {
      to = prepareAddress(toText);
      if (!to) return this.sendStanzaError(out, "modify", "jid-malformed");
    }
    if (stanza.name === "presence") return this.onPresence(out, to);
    if (stanza.name === "iq") return this.onIq(out, to);
    return this.onMessage(out, to);
  }

  /** No `to`, our domain, or the user's own bare JID: the server answers (RFC 6120 10.3.3, 10.5.4). */
  private isServerAddress(to: Address | null): boolean {
    return to === null || to.full === this.domain || to.full === this.bareJid;
  }

  private onIq(iq: Element, to: Address | null): void {
    const type = iq.attrs.type;
    if (type === "result" || type === "error") {
      // Answers go to the full JID that asked; anything else has nobody waiting for it.
      if (to) this.services.router.resource(to)?.deliver(iq);
      return;
    }
    if (type !== "get" && type !== "set") return this.sendStanzaError(iq, "modify", "bad-request");
    if (this.isServerAddress(to)) {
      const payload = iq.children.find((c): c is Element => typeof c !== "string");
      const ns = payload?.attrs.xmlns;
      const isPing = type === "get" && payload?.name === "ping" && ns === NS.ping;
      const isSession = type === "set" && payload?.name === "session" && ns === NS.session;
      if (isPing || isSession) {
        this.transport.send(xml("iq", { xmlns: NS.client, type: "result", id: iq.attrs.id, to: this.fullJid, from: to?.full ?? this.domain }));
        return;
      }
      return this.sendStanzaError(iq, "cancel", "service-unavailable");
    }
    // A full JID that is online gets the iq; for a bare JID the server answers on the user's
    // behalf, and it implements nothing there (RFC 6121 8.5.2.1.3 / 8.5.3.2.3).
    const target = this.services.router.resource(to!);
    if (!target) return this.sendStanzaError(iq, "cancel", "service-unavailable");
    target.deliver(iq);
  }

  private onMessage(message: Element, to: Address | null): void {
    if (!to) return this.sendStanzaError(message, "cancel", "service-unavailable");
    const exact = this.services.router.resource(to);
    // A full JID that is not online is treated like the bare JID (RFC 6121 8.5.3.2.1).
    const targets = exact ? [exact] : to.bare.includes("@") ? this.services.router.messageTargets(to.bare) : [];
    if (targets.length === 0) {
      // Nobody to deliver to, and no offline storage: chat and normal messages bounce, the rest
      // (groupchat, headline, error) are dropped silently as RFC 6121 8.5.2.2 allows.
      const type = message.attrs.type ?? "normal";
      if (type === "normal" || type === "chat") this.sendStanzaError(message, "cancel", "service-unavailable");
      return;
    }
    for (const target of targets) target.deliver(message);
  }

  private onPresence(presence: Element, to: Address | null): void {
    if (to) {
      // Directed presence (and subscription requests, which this server keeps no roster for)
      // goes to the named resource, or to every session of the account.
      const exact = this.services.router.resource(to);
      for (const target of exact ? [exact] : this.services.router.sessionsOf(to.bare)) target.deliver(presence);
      return;
    }
    const type = presence.attrs.type;
    if (type !== undefined && type !== "unavailable") return;
    const initial = !this.available && type === undefined;
    this.available = type === undefined;
    this.lastPresence = this.available ? presence : null;
    this.priority = this.available ? parsePriority(presence) : 0;
    // Everyone on the domain sees everyone (no rosters here); a newcomer also learns who is online.
    this.broadcastPresence(presence);
    if (initial) {
      for (const other of this.services.router.availableOn(this.domain, this)) {
        if (other.lastPresence) this.transport.send(withTo(other.lastPresence, this.fullJid));
      }
    }
  }

  private broadcastPresence(presence: Element): void {
    const out = withAttrs(presence, { from: this.fullJid, xmlns: NS.client });
    for (const other of this.services.router.availableOn(this.domain, this)) other.deliver(withTo(out, other.fullJid));
  }

  /** Bounces a stanza with an error (never an error about an error, RFC 6120 8.3.1). */
  private sendStanzaError(stanza: Element, type: string, condition: string): void {
    if (stanza.attrs.type === "error") return;
    const reply = xml(
      stanza.name,
      { xmlns: NS.client, type: "error", id: stanza.attrs.id, from: stanza.attrs.to || this.domain, to: this.fullJid || undefined },
      xml("error", { type }, xml(condition, { xmlns: NS.stanzaErrors })),
    );
    this.transport.send(reply);
  }
}

/** `<priority/>` is an integer from -128 to 127 (RFC 6121 4.7.2.3); anything else counts as 0. */
function parsePriority(presence: Element): number {
  const text = presence.getChildText("priority")?.trim();
  if (!text || !/^[+-]?\d{1,3}$/.test(text)) return 0;
  const value = Number(text);
  return value >= -128 && value <= 127 ? value : 0;
}

/** A copy of the element with some attributes changed; children are shared, never mutated. */
function withAttrs(stanza: Element, attrs: Record<string, string>): Element {
  const copy = new Element(stanza.name, { ...stanza.attrs, ...attrs });
  copy.children = stanza.children;
  return copy;
}

function withTo(stanza: Element, to: string): Element {
  return withAttrs(stanza, { to });
}
