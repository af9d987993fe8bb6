/**
 * One external component's stream (XEP-0114, `jabber:component:accept`): the header names the
 * component's domain, the component proves the shared secret with
 * `<handshake>hex(SHA-1(stream id + secret))</handshake>`, and from then on it exchanges stanzas
 * with this server's users. Rules:
 * - the secret is compared in constant time; a wrong one is a `not-authorized` stream error;
 * - one live stream per component domain: a second one gets `conflict`, the first one stays;
 * - a component sends only from its own domain (any JID on it), else `invalid-from`;
 * - stanzas to exactly its domain (and any JID on it) are routed to it; subdomains are not
 *   (each component is configured with its own domain).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { randomHex } from "./random-id.js";
import { xml, type Element } from "@xmpp/xml";
import { InvalidJidError, nameprep } from "../core/jid/prep.js";
import { prepareAddress, type Address } from "./address.js";
import { bouncesWhenDropped, withAttrs } from "./delivery.js";
import type { Logger } from "./log.js";
import { NS } from "./namespaces.js";
import { offer, type Router, type StanzaTarget } from "./router.js";
import type { StreamErrorCondition, StreamHandler } from "./session.js";

export const NS_COMPONENT = "jabber:component:accept";

/** What a component stream needs of its (TCP) connection. */
export interface ComponentTransport {
  readonly remoteAddress: string;
  /** Bytes queued for the component and not yet taken by it. */
  readonly outboundBytes: number;
  openStream(attrs: { id: string; from: string; namespace: string; version: string | null }): void;
  send(element: Element): void;
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
  onEnd(stream: ComponentStream): void;
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

  constructor(
    private readonly transport: ComponentTransport,
    private readonly services: ComponentServices,
  ) {
    this.authTimer = setTimeout(() => this.streamError("connection-timeout", "handshake in time"), services.limits.authTimeoutSeconds * 1000);
    this.authTimer.unref();
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
    if (ns !== NS_COMPONENT || !["message", "presence", "iq"].includes(element.name)) return this.streamError("unsupported-stanza-type");
    this.onStanza(element);
  }

  private onHandshake(text: string): void {
    const ip = this.transport.remoteAddress;
    const expected = Buffer.from(handshakeDigest(this.streamId, this.services.secrets[this.domain]!.secret), "latin1");
    const given = Buffer.from(text.trim().toLowerCase(), "utf8");
    // The digest's length (40) is no secret; its content is compared in constant time.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      this.services.log.warn(`component ${this.domain} from ${ip}: wrong handshake (secret)`);
      return this.streamError("not-authorized", "wrong handshake");
    }
    const live = this.services.live.get(this.domain);
    if (live && !live.isClosed) {
      this.services.log.warn(`component ${this.domain} from ${ip}: refused, already connected`);
      return this.streamError("conflict", "this component is already connected");
    }
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    this.phase = "ready";
    this.services.live.set(this.domain, this);
    this.services.router.routeDomain(this.domain, this);
    this.transport.setMaxElementBytes(this.services.limits.maxStanzaBytes);
    this.transport.send(xml("handshake"));
    this.services.log.info(`component ${this.domain} connected from ${ip}`);
  }

  private onStanza(stanza: Element): void {
    const from = stanza.attrs.from ? prepareAddress(stanza.attrs.from) : null;
    if (!from || from.domain !== this.domain) return this.streamError("invalid-from", `stanzas must come from ${this.domain} or a JID on it`);
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

  /** The component does not take what it is sent: stanzas for it are dropped (users' requests bounce). */
  get outboundFull(): boolean {
    return this.transport.outboundBytes >= this.services.limits.maxOutboundBytes;
  }

  /** A stanza from a user (or another component) for this component. */
  deliver(stanza: Element): void {
    if (this.phase !== "ready") return;
    this.transport.send(withAttrs(stanza, { xmlns: NS_COMPONENT }));
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
    if (wasLive) {
      if (this.services.live.get(this.domain) === this) this.services.live.delete(this.domain);
      this.services.router.unrouteDomain(this.domain, this);
      this.services.log.info(`component ${this.domain} disconnected`);
    }
    if (closeStream) this.transport.closeStream();
    this.services.onEnd(this);
  }
}
