/**
 * One external component's stream (XEP-0114, `jabber:component:accept`): the header names the
 * component's domain, the component proves the shared secret with
 * `<handshake>hex(SHA-1(stream id + secret))</handshake>`, and from then on it exchanges stanzas
 * with this server's users. Rules:
 * - the secret is compared in constant time; a wrong one is a `not-authorized` stream error;
 * - wrong handshakes are counted per address and per component domain by the client logins'
 *   policy (LoginLimiter) and logged through a FailureLog (lines bounded per address); while the
 *   address or the domain is over its limit, every answer (a right handshake's too) waits the
 *   hold-back, so each guess costs a connection held that long; a right handshake is never
 *   refused (the real component shares its loopback address with whoever else runs there);
 * - one live stream per component domain: a second one that proves the secret makes the server
 *   ping the first (XEP-0199); if it answers, the second gets `conflict` and the first stays; if
 *   it does not within the answer time, it is closed and the second takes over;
 * - a component silent for the idle time is pinged, and closed when it does not answer in time;
 * - a component sends only from its own domain (any JID on it), else `invalid-from`;
 * - stanzas to exactly its domain (and any JID on it) are routed to it; subdomains are not
 *   (each component is configured with its own domain);
 * - what is sent to it waits in a FairQueue by sender (bare JID of a user, domain of a
 *   component): one sender cannot fill it and starve the others.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { randomHex } from "./random-id.js";
import { xml, type Element } from "@xmpp/xml";
import { InvalidJidError, nameprep } from "../core/jid/prep.js";
import type { FailureCounter, LoginPolicy } from "../auth/policy/login-limiter.js";
import type { FailureLog } from "../auth/policy/failure-log.js";
import { prepareAddress, type Address } from "./address.js";
import { bouncesWhenDropped, withAttrs } from "./delivery.js";
import { FairQueue } from "./fair-queue.js";
import type { Logger } from "./log.js";
import { NS } from "./namespaces.js";
import { offer, type Router, type StanzaTarget } from "./router.js";
import { serialize, type Outbound, type SerializedXml } from "./serialized.js";
import type { HoldBack } from "./sasl-exchange.js";
import type { StreamErrorCondition, StreamHandler } from "./session.js";

export const NS_COMPONENT = "jabber:component:accept";

/** What a component stream needs of its (TCP) connection. */
export interface ComponentTransport {
  readonly remoteAddress: string;
  /** Bytes queued for the component and not yet taken by it. */
  readonly outboundBytes: number;
  openStream(attrs: { id: string; from: string; namespace: string; version: string | null }): void;
  send(element: Outbound): void;
  closeStream(): void;
  setMaxElementBytes(bytes: number): void;
}

export interface ComponentServices {
  /** Configured components: domain -> handshake secret. */
  secrets: Readonly<Record<string, { secret: string }>>;
  /** Domains this server hosts for users. */
  hostedDomains: ReadonlySet<string>;
  router: Router;
  log: Logger;
  limits: { maxStanzaBytes: number; authTimeoutSeconds: number; maxOutboundBytes: number };
  /** The live stream of each component domain (one at a time). */
  live: Map<string, ComponentStream>;
  /** Attempt limits on handshakes (see HandshakeGuard). */
  guard: HandshakeGuard;
  keepalive: Keepalive;
  onEnd(stream: ComponentStream): void;
}

/**
 * Handshake attempt limits: the client logins' policy (LoginLimiter) with counters of its own,
 * per address (`ip`) and per component domain (`jid`), and failure lines bounded per address.
 */
export interface HandshakeGuard {
  policy: LoginPolicy;
  /** The per-domain counter the policy counts into, asked before a right handshake is answered. */
  domainFailures: FailureCounter;
  failureLog: FailureLog;
  /** Seconds every answer waits while the address or the domain is over its limit. */
  holdBackSeconds: number;
  /** How that wait is made (a timer; a test's own to see which answers wait). */
  holdBack: HoldBack;
}

export interface Keepalive {
  /** Seconds of silence from a component after which the server pings it. */
  idleSeconds: number;
  /** Seconds a pinged component has to answer before its stream is closed (under the auth timeout). */
  answerSeconds: number;
  /** The `from` of the server's pings (a hosted domain). */
  from: string;
}

/** A stanza waiting for the component, serialised once (its size is what it counts). */
interface Waiting {
  stanza: Element;
  text: SerializedXml;
  bytes: number;
}

/**
 * What is handed to the socket ahead of the component's reading: the fair queue holds the rest,
 * so a newcomer's stanza waits behind at most this much (and the kernel's buffers), not behind a
 * full queue of someone else's. At least the socket's high-water mark (16 KiB), so that stopping
 * here means a "drain" will come.
 */
export function writeAheadBytes(maxOutboundBytes: number): number {
  return Math.max(16 * 1024, Math.min(64 * 1024, Math.floor(maxOutboundBytes / 4)));
}

type Phase = "awaiting-header" | "handshake" | "ready" | "closed";

/** `hex(SHA-1(streamId + secret))` over UTF-8, as XEP-0114 defines it. */
export function handshakeDigest(streamId: string, secret: string): string {
  return createHash("sha1").update(streamId + secret, "utf8").digest("hex");
}

export class ComponentStream implements StreamHandler, StanzaTarget {
  private phase: Phase = "awaiting-header";
  domain = "";
  private streamId = "";
  private streamOpened = false;
  private authTimer: NodeJS.Timeout | null;
  /** Stanzas for the component not yet handed to the socket: a fair share for each sender. */
  private readonly waiting: FairQueue<Waiting>;
  private readonly writeAhead: number;
  /** When the component last sent anything (ms), for the idle ping. */
  private lastHeard = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** The ping in flight, and who waits for its answer (true: answered; false: timed out). */
  private ping: { id: string; timer: NodeJS.Timeout; waiters: ((answered: boolean) => void)[] } | null = null;

  constructor(
    private readonly transport: ComponentTransport,
    private readonly services: ComponentServices,
  ) {
    this.authTimer = setTimeout(() => this.streamError("connection-timeout", "handshake in time"), services.limits.authTimeoutSeconds * 1000);
    this.authTimer.unref();
    this.waiting = new FairQueue<Waiting>(services.limits.maxOutboundBytes);
    this.writeAhead = writeAheadBytes(services.limits.maxOutboundBytes);
  }

  get isClosed(): boolean {
    return this.phase === "closed";
  }

  get isLive(): boolean {
    return this.phase === "ready";
  }

  onHeader(header: Element): void {
    if (this.phase !== "awaiting-header") return;
    const prefix = header.name.includes(":") ? header.name.split(":")[0]! : null;
    const nsOk = prefix !== null && header.name === `${prefix}:stream` && header.attrs[`xmlns:${prefix}`] === NS.stream && header.attrs.xmlns === NS_COMPONENT;
    let domain = "";
    try {
      domain = header.attrs.to ? nameprep(header.attrs.to) : "";
    } catch (err) {
      if (!(err instanceof InvalidJidError)) throw err;
    }
    const known = domain !== "" && Object.hasOwn(this.services.secrets, domain);
    this.openStream(known ? domain : "");
    if (!nsOk) return this.streamError("invalid-namespace", `expected a ${NS_COMPONENT} stream`);
    if (!known) return this.streamError("host-unknown", "no component is configured for that domain");
    this.domain = domain;
    this.phase = "handshake";
  }

  private openStream(from: string): void {
    this.streamId = randomHex(16);
    // XEP-0114 streams have no version and no features: the handshake comes next.
    this.transport.openStream({ id: this.streamId, from: from || "component", namespace: NS_COMPONENT, version: null });
    this.streamOpened = true;
  }

  async onElement(element: Element): Promise<void> {
    if (this.phase === "closed") return;
    if (this.phase === "awaiting-header") return this.streamError("bad-format", "open the stream first");
    const ns = element.attrs.xmlns ?? NS_COMPONENT;
    if (this.phase === "handshake") {
      if (element.name !== "handshake" || ns !== NS_COMPONENT) return this.streamError("not-authorized", "send the handshake first");
      return this.onHandshake(element.text());
    }
    this.lastHeard = Date.now();
    if (ns !== NS_COMPONENT || !["message", "presence", "iq"].includes(element.name)) return this.streamError("unsupported-stanza-type");
    this.onStanza(element);
  }

  private async onHandshake(text: string): Promise<void> {
    const ip = this.transport.remoteAddress;
    const domain = this.domain;
    const { policy, domainFailures, failureLog, holdBackSeconds, holdBack } = this.services.guard;
    // Asked before this attempt counts: is the address, or the domain, over its limit already?
    const [addressAdmitted, domainOver] = await Promise.all([policy.admit(ip), domainFailures.isOver(domain)]);
    const expected = Buffer.from(handshakeDigest(this.streamId, this.services.secrets[domain]!.secret), "latin1");
    const given = Buffer.from(text.trim().toLowerCase(), "utf8");
    // The digest's length (40) is no secret; its content is compared in constant time.
    const right = given.length === expected.length && timingSafeEqual(given, expected);
    const settled = await policy.settle({ ip, jid: domain, result: right ? "success" : "refused" });
    if (!right) failureLog.failure(ip, `component ${domain} from ${ip}: wrong handshake (secret)`);
    // A right one is answered within the hold-back and the old stream's ping, whatever the auth
    // timeout says: it proved the secret, and waits only on the server.
    if (right && this.authTimer) {
      clearTimeout(this.authTimer);
      this.authTimer = null;
    }
    // Over a limit, every answer waits, a right one too: a guesser cannot tell a wrong guess by
    // the missing instant success, so each guess holds its connection for the hold-back. A right
    // one is never refused: the attacker may well share the real component's address.
    if (!addressAdmitted || domainOver || settled.jidOverLimit) {
      await holdBack(holdBackSeconds);
      if (this.phase !== "handshake") return;
    }
    if (!right) return this.streamError("not-authorized", "wrong handshake");
    const live = this.services.live.get(domain);
    if (live && !live.isClosed) {
      // A reconnecting component finds its old stream still here: is it still there? A dead
      // (half-open) one would otherwise keep it out for good.
      const answered = await live.probe();
      if (this.phase !== "handshake") return;
      const still = this.services.live.get(domain);
      if (answered || (still && !still.isClosed)) {
        failureLog.failure(ip, `component ${domain} from ${ip}: refused, already connected`);
        return this.streamError("conflict", "this component is already connected");
      }
      this.services.log.warn(`component ${domain}: the old stream did not answer a ping; the new connection from ${ip} takes over`);
    }
    this.phase = "ready";
    this.services.live.set(domain, this);
    this.services.router.routeDomain(domain, this);
    this.transport.setMaxElementBytes(this.services.limits.maxStanzaBytes);
    this.transport.send(xml("handshake"));
    this.services.log.info(`component ${domain} connected from ${ip}`);
    this.lastHeard = Date.now();
    this.armIdleTimer();
  }

  /**
   * Pings the component (XEP-0199) unless a ping is already in flight, and resolves true once it
   * answers (a result or an error: either proves it reads and writes), false when it does not
   * within the answer time, after which its stream is closed (connection-timeout).
   */
  probe(): Promise<boolean> {
    if (this.phase !== "ready") return Promise.resolve(false);
    return new Promise((resolve) => {
      if (this.ping) return this.ping.waiters.push(resolve);
      const id = `ping-${randomHex(8)}`;
      const timer = setTimeout(() => {
        this.services.log.warn(`component ${this.domain}: no answer to a ping in ${this.services.keepalive.answerSeconds} s, closing its stream`);
        this.pingAnswered(false);
      }, this.services.keepalive.answerSeconds * 1000);
      timer.unref();
      this.ping = { id, timer, waiters: [resolve] };
      // Straight to the socket, past the senders' queue: it measures the component, not the queue.
      this.transport.send(xml("iq", { xmlns: NS_COMPONENT, type: "get", id, from: this.services.keepalive.from, to: this.domain }, xml("ping", { xmlns: NS.ping })));
    });
  }

  private pingAnswered(answered: boolean): void {
    const ping = this.ping;
    if (!ping) return;
    this.ping = null;
    clearTimeout(ping.timer);
    if (!answered) this.streamError("connection-timeout", "no answer to a ping");
    for (const resolve of ping.waiters) resolve(answered);
  }

  /** Pings the component once it has been silent for the idle time. */
  private armIdleTimer(): void {
    const idleMs = this.services.keepalive.idleSeconds * 1000;
    const due = this.lastHeard + idleMs - Date.now();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.phase !== "ready") return;
      if (Date.now() - this.lastHeard < idleMs || this.ping) return this.armIdleTimer();
      void this.probe().then((answered) => {
        if (answered) this.armIdleTimer();
      });
    }, Math.max(0, due));
    this.idleTimer.unref();
  }

  private onStanza(stanza: Element): void {
    const from = stanza.attrs.from ? prepareAddress(stanza.attrs.from) : null;
    if (!from || from.domain !== this.domain) return this.streamError("invalid-from", `stanzas must come from ${this.domain} or a JID on it`);
    if (this.ping && stanza.name === "iq" && stanza.attrs.id === this.ping.id && (stanza.attrs.type === "result" || stanza.attrs.type === "error")) {
      return this.pingAnswered(true);
    }
    if (!stanza.attrs.to) return this.streamError("improper-addressing", "a component's stanzas need a to");
    const to = prepareAddress(stanza.attrs.to);
    const out = withAttrs(stanza, { xmlns: NS.client, from: from.full });
    if (!to) return this.bounce(out, "modify", "jid-malformed");
    const route = this.services.router.domainRoute(to.domain);
    if (route) return this.deliverTo(route, withAttrs(out, { to: to.full }));
    if (!this.services.hostedDomains.has(to.domain)) return this.bounce(out, "cancel", "remote-server-not-found");
    this.toUser(withAttrs(out, { to: to.full }), to);
  }

  /** To a user of this server: the same addressing rules as between users (RFC 6121 8.5). */
  private toUser(stanza: Element, to: Address): void {
    const router = this.services.router;
    const exact = router.resource(to);
    if (stanza.name === "presence") {
      for (const target of exact ? [exact] : router.sessionsOf(to.bare)) this.deliverTo(target, stanza);
      return;
    }
    if (stanza.name === "iq") {
      const type = stanza.attrs.type;
      if (type === "result" || type === "error") return exact ? this.deliverTo(exact, stanza) : undefined;
      if (type !== "get" && type !== "set") return this.bounce(stanza, "modify", "bad-request");
      // The server answers nothing on behalf of accounts or itself for a component.
      if (!exact) return this.bounce(stanza, "cancel", "service-unavailable");
      return this.deliverTo(exact, stanza);
    }
    const targets = exact ? [exact] : to.bare.includes("@") ? router.messageTargets(to.bare) : [];
    if (targets.length === 0) {
      const type = stanza.attrs.type ?? "normal";
      if (type === "normal" || type === "chat") this.bounce(stanza, "cancel", "service-unavailable");
      return;
    }
    for (const target of targets) this.deliverTo(target, stanza);
  }

  /** The delivery rules' drop rule: a target that does not read gets nothing more; requests bounce. */
  private deliverTo(target: StanzaTarget, stanza: Element): void {
    if (!offer(target, stanza) && bouncesWhenDropped(stanza)) this.bounce(stanza, "wait", "resource-constraint");
  }

  /** What waits for the component (its senders' queue and the socket's buffer) is at the bound. */
  get outboundFull(): boolean {
    return this.waiting.bytes + this.transport.outboundBytes >= this.services.limits.maxOutboundBytes;
  }

  /** A stanza from a user (or another component) for this component. */
  deliver(stanza: Element): void {
    this.accept(stanza);
  }

  /**
   * The fair share (router.ts offer): the stanza joins its sender's part of the queue. When the
   * queue is full, the sender holding the most gives up its newest stanzas to make room (they
   * bounce to it, as a drop would), unless that is this stanza's sender: then this one is
   * dropped (false: the caller bounces it). So nobody is kept out by someone else's flood.
   */
  accept(stanza: Element): boolean {
    if (this.phase !== "ready") return true;
    const text = serialize(withAttrs(stanza, { xmlns: NS_COMPONENT }));
    const item: Waiting = { stanza, text, bytes: Buffer.byteLength(text) };
    const { accepted, evicted } = this.waiting.offer(this.senderOf(stanza), item, this.transport.outboundBytes);
    for (const dropped of evicted) this.bounceDropped(dropped.stanza);
    this.pump();
    return accepted;
  }

  /**
   * Whose share a stanza counts against: the bare JID of the user who sent it (the server stamped
   * `from`), or the domain of the component that sent it (any JID of its domain is the same sender).
   */
  private senderOf(stanza: Element): string {
    const from = stanza.attrs.from ?? "";
    const slash = from.indexOf("/");
    const bare = slash === -1 ? from : from.slice(0, slash);
    const domain = bare.slice(bare.indexOf("@") + 1);
    return !this.services.hostedDomains.has(domain) && this.services.router.domainRoute(domain) ? domain : bare;
  }

  /** Hands waiting stanzas to the socket, round-robin by sender, while it holds less than the write-ahead. */
  private pump(): void {
    while (this.transport.outboundBytes < this.writeAhead) {
      const next = this.waiting.take();
      if (!next) return;
      this.transport.send(next.text);
    }
  }

  /** The socket's buffer emptied (the component reads): more of what waits goes out. */
  onDrain(): void {
    if (this.phase === "ready") this.pump();
  }

  /** A stanza that was queued and then given up for someone else's share: bounced to its sender like a drop. */
  private bounceDropped(stanza: Element): void {
    if (!bouncesWhenDropped(stanza) || stanza.attrs.type === "error") return;
    const from = stanza.attrs.from ? prepareAddress(stanza.attrs.from) : null;
    if (!from) return;
    const router = this.services.router;
    const sender = this.services.hostedDomains.has(from.domain) ? router.resource(from) : router.domainRoute(from.domain);
    if (!sender) return;
    const error = xml(
      stanza.name,
      { xmlns: NS.client, type: "error", id: stanza.attrs.id, from: stanza.attrs.to, to: from.full },
      xml("error", { type: "wait" }, xml("resource-constraint", { xmlns: NS.stanzaErrors })),
    );
    offer(sender, error);
  }

  /** Bounces a stanza the component sent (never an error about an error). */
  private bounce(stanza: Element, type: string, condition: string): void {
    if (stanza.attrs.type === "error") return;
    const { from, to } = stanza.attrs;
    this.transport.send(
      xml(stanza.name, { xmlns: NS_COMPONENT, type: "error", id: stanza.attrs.id, from: to, to: from }, xml("error", { type }, xml(condition, { xmlns: NS.stanzaErrors }))),
    );
  }

  onStreamClose(): void {
    this.finish(true);
  }

  onDisconnect(): void {
    this.finish(false);
  }

  streamError(condition: StreamErrorCondition, text?: string): void {
    if (this.phase === "closed") return;
    if (!this.streamOpened) this.openStream("");
    this.transport.send(
      xml(
        "stream:error",
        {},
        xml(condition, { xmlns: NS.streamErrors }),
        text ? xml("text", { xmlns: NS.streamErrors, "xml:lang": "en" }, text) : null,
      ),
    );
    this.finish(true);
  }

  internalError(err: unknown): void {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.services.log.warn(`internal error on component stream ${this.domain || "(no domain)"} from ${this.transport.remoteAddress}: ${what}`);
    this.streamError("internal-server-error");
  }

  private finish(closeStream: boolean): void {
    if (this.phase === "closed") return;
    const wasLive = this.phase === "ready";
    this.phase = "closed";
    if (this.authTimer) clearTimeout(this.authTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.pingAnswered(false);
    this.waiting.clear();
    if (wasLive) {
      if (this.services.live.get(this.domain) === this) this.services.live.delete(this.domain);
      this.services.router.unrouteDomain(this.domain, this);
      this.services.log.info(`component ${this.domain} disconnected`);
    }
    if (closeStream) this.transport.closeStream();
    this.services.onEnd(this);
  }
}
