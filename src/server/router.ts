/**
 * Who is connected: bound sessions by bare JID and resource, and stanza delivery between them
 * (RFC 6121 basics for a server without rosters: everyone on a domain sees everyone's presence).
 */
import { randomBytes } from "node:crypto";
import type { Element } from "@xmpp/xml";

export interface RoutableSession {
  readonly bareJid: string;
  readonly fullJid: string;
  readonly domain: string;
  /** Has sent initial presence and not yet unavailable presence. */
  available: boolean;
  lastPresence: Element | null;
  deliver(stanza: Element): void;
}

export class Router {
  private readonly byBareJid = new Map<string, Map<string, RoutableSession>>();

  /** Chooses the resource: the requested one when free, else a server-made one (RFC 6120 7.7.2.2). */
  pickResource(bareJid: string, requested: string | null): string {
    const taken = this.byBareJid.get(bareJid);
    if (requested && !taken?.has(requested)) return requested;
    let resource: string;
    do {
      resource = requested ? `${requested}-${randomBytes(3).toString("hex")}` : `x-token-${randomBytes(6).toString("hex")}`;
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

  /** The sessions a stanza to `jid` goes to: the named resource, or every resource of the user. */
  resolve(jid: string): RoutableSession[] {
    const slash = jid.indexOf("/");
    const bare = slash === -1 ? jid : jid.slice(0, slash);
    const resources = this.byBareJid.get(bare);
    if (!resources) return [];
    if (slash === -1) return [...resources.values()];
    const one = resources.get(jid.slice(slash + 1));
    return one ? [one] : [];
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
