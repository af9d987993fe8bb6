/**
 * RFC 6121 rosters, in memory and per account, and the roster pushes that tell an account's
 * interested resources about every change. Bounded: items per roster, a name's and a group's
 * length, groups per item, and all items of all rosters together. Rosters live as long as the
 * process (no storage here).
 */
import { randomHex } from "../random-id.js";
import { Element, xml } from "@xmpp/xml";
import { offer, type RoutableSession, type Router } from "../router.js";

export const NS_ROSTER = "jabber:iq:roster";

export type Subscription = "none" | "to" | "from" | "both";

/** The owner sees the contact's presence. */
export const hasTo = (s: Subscription): boolean => s === "to" || s === "both";
/** The contact sees the owner's presence. */
export const hasFrom = (s: Subscription): boolean => s === "from" || s === "both";

export interface RosterItem {
  /** A prepared bare JID. */
  jid: string;
  name?: string;
  subscription: Subscription;
  /** A subscription request of ours is pending (RFC 6121 3.1.2: ask="subscribe"). */
  ask: boolean;
  groups: string[];
}

export interface RosterLimits {
  /** Items in one account's roster. */
  maxItems: number;
  /** Items in all rosters together (the whole store's memory bound). */
  maxTotalItems: number;
  /** UTF-8 bytes of an item's name and of a group's name. */
  maxNameBytes: number;
  maxGroupsPerItem: number;
}

export const DEFAULT_ROSTER_LIMITS: RosterLimits = { maxItems: 500, maxTotalItems: 1_000_000, maxNameBytes: 256, maxGroupsPerItem: 16 };

export class RosterStore {
  private readonly rosters = new Map<string, Map<string, RosterItem>>();
  private total = 0;

  constructor(readonly limits: RosterLimits = DEFAULT_ROSTER_LIMITS) {}

  items(owner: string): RosterItem[] {
    return [...(this.rosters.get(owner)?.values() ?? [])];
  }

  get(owner: string, jid: string): RosterItem | undefined {
    return this.rosters.get(owner)?.get(jid);
  }

  /** Adds or replaces an item; false when a new item does not fit (the roster or the store is full). */
  put(owner: string, item: RosterItem): boolean {
    let roster = this.rosters.get(owner);
    const isNew = !roster?.has(item.jid);
    if (isNew && ((roster?.size ?? 0) >= this.limits.maxItems || this.total >= this.limits.maxTotalItems)) return false;
    if (!roster) this.rosters.set(owner, (roster = new Map()));
    roster.set(item.jid, item);
    if (isNew) this.total++;
    return true;
  }

  /** False when there was no such item. */
  remove(owner: string, jid: string): boolean {
    const roster = this.rosters.get(owner);
    if (!roster?.delete(jid)) return false;
    this.total--;
    if (roster.size === 0) this.rosters.delete(owner);
    return true;
  }

  get totalItems(): number {
    return this.total;
  }
}

export function rosterItemElement(item: RosterItem | { jid: string; subscription: "remove" }): Element {
  if (item.subscription === "remove") return xml("item", { jid: item.jid, subscription: "remove" });
  const full = item as RosterItem;
  const attrs: Record<string, string> = { jid: full.jid, subscription: full.subscription };
  if (full.name !== undefined) attrs.name = full.name;
  if (full.ask) attrs.ask = "subscribe";
  return xml("item", attrs, ...full.groups.map((group) => xml("group", {}, group)));
}

/**
 * Roster pushes (RFC 6121 2.1.6) go to interested resources: sessions that asked for the roster.
 * A WeakSet, so a session that ends is forgotten without bookkeeping.
 */
export class RosterPushes {
  private readonly interested = new WeakSet<RoutableSession>();

  constructor(private readonly router: Router) {}

  markInterested(session: RoutableSession): void {
    this.interested.add(session);
  }

  push(owner: string, item: Element): void {
    for (const session of this.router.sessionsOf(owner)) {
      if (!this.interested.has(session)) continue;
      offer(
        session,
        xml("iq", { xmlns: "jabber:client", type: "set", id: `push-${randomHex(6)}`, from: owner, to: session.fullJid }, xml("query", { xmlns: NS_ROSTER }, item)),
      );
    }
  }
}

