/**
 * Who is connected: bound sessions by bare JID and resource, and where a stanza goes
 * (RFC 6121 basics for a server without rosters: everyone on a domain sees everyone's presence).
 */
import { randomHex } from "./random-id.js";
import type { Element } from "@xmpp/xml";
import type { Address } from "./address.js";

export interface RoutableSession {
  readonly bareJid: string;
  readonly fullJid: string;
  readonly domain: string;
  /** Has sent initial presence and not yet unavailable presence. */
  readonly available: boolean;
  /** From the last available presence's `<priority/>` (RFC 6121 4.7.2.3); 0 when absent. */
  readonly priority: number;
  /** The last available presence, stamped with this session's full JID. */
  readonly lastPresence: Element | null;
  /** Its outbound queue is at `maxOutboundBytes` (it is not reading): stanzas for it are dropped. */
  readonly outboundFull: boolean;
  /** The fingerprint of the client certificate it logged in with (SASL EXTERNAL), or null. */
  readonly loginCertificate?: string | null;
  deliver(stanza: Element): void;
}

/** Something that takes stanzas for a whole domain (an external component, for instance). */
export interface StanzaTarget {
  /** Its outbound queue is at `maxOutboundBytes` (it is not reading): stanzas for it are dropped. */
  readonly outboundFull: boolean;
  deliver(stanza: Element): void;
  /**
   * A target whose queue many senders share (a component) decides itself, by each sender's fair
   * share (fair-queue.ts): true when it took the stanza, false when it dropped it.
   */
  accept?(stanza: Element): boolean;
}

/**
 * The one drop rule for what the server hands to another party (a user's stanza, a subscription
 * request, a roster push): delivered unless the target's outbound queue is at the bound (it does
 * not read), when it is dropped and the answer is false; what to tell the sender is the caller's
 * rule. So a peer that does not read costs the server at most maxOutboundBytes and one stanza,
 * whatever others send it. A target with a queue shared by many senders applies its fair share
 * instead (`accept`): a full queue then drops the stanza of whoever holds the most of it, so one
 * sender cannot keep the others out.
 */
export function offer(target: StanzaTarget, stanza: Element): boolean {
  if (target.accept) return target.accept(stanza);
  if (target.outboundFull) return false;
  target.deliver(stanza);
  return true;
}

export class Router {
  private readonly byBareJid = new Map<string, Map<string, RoutableSession>>();
  private readonly byDomain = new Map<string, StanzaTarget>();

  /** Every stanza addressed to `domain` (or a JID on it) goes to `target` from now on. */
  routeDomain(domain: string, target: StanzaTarget): void {
    this.byDomain.set(domain, target);
  }

  /** Stops routing `domain` to `target` (a newer target for it stays). */
  unrouteDomain(domain: string, target: StanzaTarget): void {
    if (this.byDomain.get(domain) === target) this.byDomain.delete(domain);
  }

  /** The target that serves `domain`, if another part of this server does. */
  domainRoute(domain: string): StanzaTarget | null {
    return this.byDomain.get(domain) ?? null;
  }

  /**
   * Chooses the resource (RFC 6120 7.7.2.2): the requested one when free; when it is taken, a
   * new one made from it (the old session keeps its resource, nobody is kicked out); when none
   * was asked for, a random one.
   */
  pickResource(bareJid: string, requested: string | null): string {
    const taken = this.byBareJid.get(bareJid);
    if (requested && !taken?.has(requested)) return requested;
    let resource: string;
    do {
      resource = requested ? `${requested}-${randomHex(3)}` : `x-token-${randomHex(6)}`;
    } while (taken?.has(resource));
    return resource;
  }

  add(resource: string, session: RoutableSession): void {
    let resources = this.byBareJid.get(session.bareJid);
    if (!resources) this.byBareJid.set(session.bareJid, (resources = new Map()));
    resources.set(resource, session);
  }

  remove(resource: string, session: RoutableSession): void {
    const resources = this.byBareJid.get(session.bareJid);
    if (resources?.get(resource) !== session) return;
    resources.delete(resource);
    if (resources.size === 0) this.byBareJid.delete(session.bareJid);
  }

  /** The session bound to exactly this full JID. */
  resource(address: Address): RoutableSession | null {
    if (address.resource === null) return null;
    return this.byBareJid.get(address.bare)?.get(address.resource) ?? null;
  }

  /** Every bound session of the account. */
  sessionsOf(bareJid: string): RoutableSession[] {
    return [...(this.byBareJid.get(bareJid)?.values() ?? [])];
  }

  /**
   * Where a message to a bare JID goes (RFC 6121 8.5.2.1.1): every available resource with a
   * non-negative priority. With none, this server (which keeps no offline storage) hands it to
   * every bound session of the account rather than lose it; an empty list means nobody is online.
   */
  messageTargets(bareJid: string): RoutableSession[] {
    const all = this.sessionsOf(bareJid);
    const available = all.filter((s) => s.available && s.priority >= 0);
    return available.length > 0 ? available : all;
  }

  /** Available sessions of a domain other than `except`, for presence broadcast. */
  availableOn(domain: string, except: RoutableSession): RoutableSession[] {
    const out: RoutableSession[] = [];
    for (const resources of this.byBareJid.values()) {
      for (const session of resources.values()) {
        if (session !== except && session.available && session.domain === domain) out.push(session);
      }
    }
    return out;
  }

  get sessionCount(): number {
    let n = 0;
    for (const resources of this.byBareJid.values()) n += resources.size;
    return n;
  }
}
