/**
 * RFC 6121 rosters per account, and the roster pushes that tell an account's interested resources
 * about every change. Bounded: items per roster, a name's and a group's length, groups per item,
 * and all items of all rosters together. Every roster is held in memory (presence routing reads
 * them all the time); with RosterRecords (src/core/records) each change is written there first,
 * so a change the server answered for survives a restart, and a change that cannot be written is
 * refused (the write throws, memory stays as it was).
 */
import { randomHex } from "../random-id.js";
import { Element, xml } from "@xmpp/xml";
import { offer, type RoutableSession, type Router } from "../router.js";
import type { PendingRequest, RosterItem, RosterRecords, Subscription } from "../../core/records/roster.js";

export type { RosterItem, Subscription } from "../../core/records/roster.js";

export const NS_ROSTER = "jabber:iq:roster";

/** The owner sees the contact's presence. */
export const hasTo = (s: Subscription): boolean => s === "to" || s === "both";
/** The contact sees the owner's presence. */
export const hasFrom = (s: Subscription): boolean => s === "from" || s === "both";

export interface RosterLimits {
  /** Items in one account's roster (and subscription requests waiting for one account). */
  maxItems: number;
  /** Items in all rosters together (the whole store's memory bound). */
  maxTotalItems: number;
  /** UTF-8 bytes of an item's name and of a group's name. */
  maxNameBytes: number;
  maxGroupsPerItem: number;
  /**
   * Bytes of one account's roster as the server sends it (the items of a roster get's answer, as
   * `rosterItemBytes` counts them): a new item, or a change that makes one bigger, past it is
   * refused. Absent: only the other bounds hold.
   */
  maxRosterBytes?: number;
}

/**
 * 500 items (each with its name and up to 16 groups of 256 bytes) in at most 256 KiB (the largest
 * stanza a client may send, maxStanzaBytes by default): a full roster is one reasonable answer,
 * about 500 bytes an item on average (a typical item takes 100 to 200).
 */
export const DEFAULT_ROSTER_LIMITS: RosterLimits = { maxItems: 500, maxTotalItems: 1_000_000, maxNameBytes: 256, maxGroupsPerItem: 16, maxRosterBytes: 256 * 1024 };

/** What escaping may add to each of these characters (`&` becomes `&amp;`, `'` becomes `&apos;`...). */
const ESCAPED = /[&<>"']/g;
const xmlBytes = (text: string): number => Buffer.byteLength(text, "utf8") + 5 * (text.match(ESCAPED)?.length ?? 0);

/**
 * At least the bytes of the item as the server sends it (rosterItemElement): `<item jid=''
 * subscription='both' ask='subscribe' name=''></item>` (64 with room to spare), its values
 * escaped, and `<group></group>` around each group. Subscription and ask do not change it, so a
 * subscription change never makes an item bigger.
 */
export function rosterItemBytes(item: RosterItem): number {
  let bytes = 64 + xmlBytes(item.jid) + (item.name === undefined ? 0 : xmlBytes(item.name));
  for (const group of item.groups) bytes += 15 + xmlBytes(group);
  return bytes;
}

export class RosterStore {
  private readonly rosters = new Map<string, Map<string, RosterItem>>();
  private total = 0;
  /** owner -> rosterItemBytes of its items together (for maxRosterBytes). */
  private readonly bytes = new Map<string, number>();
  /** owner -> bare JIDs that asked to see the owner's presence and wait for an answer. */
  private readonly pendingIn = new Map<string, Set<string>>();
  private pendingTotal = 0;
  /** Inside atomically(): the accounts changed so far, and what waits for the commit. */
  private unit: { owners: Set<string>; afterCommit: (() => void)[] } | null = null;

  constructor(
    readonly limits: RosterLimits = DEFAULT_ROSTER_LIMITS,
    private readonly records: RosterRecords | null = null,
  ) {
    if (!records) return;
    for (const { owner, item } of records.allItems()) this.remember(owner, item);
    for (const request of records.allPending()) this.rememberPending(request);
  }

  items(owner: string): RosterItem[] {
    return [...(this.rosters.get(owner)?.values() ?? [])];
  }

  get(owner: string, jid: string): RosterItem | undefined {
    return this.rosters.get(owner)?.get(jid);
  }

  /**
   * Adds or replaces an item; false when a new item does not fit (the roster or the store is
   * full). Throws, changing nothing, when the records cannot store it.
   */
  put(owner: string, item: RosterItem): boolean {
    const roster = this.rosters.get(owner);
    const isNew = !roster?.has(item.jid);
    if (isNew && ((roster?.size ?? 0) >= this.limits.maxItems || this.total >= this.limits.maxTotalItems)) return false;
    if (this.limits.maxRosterBytes !== undefined) {
      const old = roster?.get(item.jid);
      const growth = rosterItemBytes(item) - (old ? rosterItemBytes(old) : 0);
      if (growth > 0 && this.rosterBytes(owner) + growth > this.limits.maxRosterBytes) return false;
    }
    this.unit?.owners.add(owner);
    this.records?.put(owner, item);
    this.remember(owner, item);
    return true;
  }

  /** False when there was no such item. Throws, changing nothing, when the records cannot remove it. */
  remove(owner: string, jid: string): boolean {
    if (!this.rosters.get(owner)?.has(jid)) return false;
    this.unit?.owners.add(owner);
    this.records?.remove(owner, jid);
    this.forget(owner, jid);
    return true;
  }

  get totalItems(): number {
    return this.total;
  }

  /** rosterItemBytes of the owner's items together: a roster get's answer is about this big. */
  rosterBytes(owner: string): number {
    return this.bytes.get(owner) ?? 0;
  }

  /** Subscription requests waiting for `owner`: the bare JIDs that sent them. */
  pendingFor(owner: string): string[] {
    return [...(this.pendingIn.get(owner) ?? [])];
  }

  hasPending(owner: string, requester: string): boolean {
    return this.pendingIn.get(owner)?.has(requester) ?? false;
  }

  /** Keeps `requester`'s request to `owner` waiting; bounded like rosters (false past the bounds). */
  addPending(owner: string, requester: string): boolean {
    const set = this.pendingIn.get(owner);
    if (set?.has(requester)) return true;
    if ((set?.size ?? 0) >= this.limits.maxItems || this.pendingTotal >= this.limits.maxTotalItems) return false;
    this.unit?.owners.add(owner);
    this.records?.addPending({ owner, requester });
    this.rememberPending({ owner, requester });
    return true;
  }

  /** Ends a waiting request; false when there was none. */
  takePending(owner: string, requester: string): boolean {
    if (!this.hasPending(owner, requester)) return false;
    this.unit?.owners.add(owner);
    this.records?.removePending({ owner, requester });
    this.forgetPending(owner, requester);
    return true;
  }

  /**
   * Runs `change` as one unit: its writes are all stored or none is; what it hands to
   * `afterCommit` runs once they are (so nobody hears of a change that was then undone). When the
   * unit fails, the accounts it touched are read back from the records and the error is thrown.
   */
  atomically<T>(change: () => T): T {
    if (this.unit) return change();
    const unit: NonNullable<RosterStore["unit"]> = { owners: new Set(), afterCommit: [] };
    this.unit = unit;
    let result: T;
    try {
      result = this.records ? this.records.atomically(change) : change();
    } catch (err) {
      this.unit = null;
      this.reload(unit.owners);
      throw err;
    }
    this.unit = null;
    for (const run of unit.afterCommit) run();
    return result;
  }

  /** Runs `send` now, or after the commit when inside atomically(). */
  afterCommit(send: () => void): void {
    if (this.unit) this.unit.afterCommit.push(send);
    else send();
  }

  private reload(owners: Set<string>): void {
    if (!this.records) return;
    for (const owner of owners) {
      for (const item of this.items(owner)) this.forget(owner, item.jid);
      for (const item of this.records.items(owner)) this.remember(owner, item);
      for (const requester of this.pendingFor(owner)) this.forgetPending(owner, requester);
    }
    // Waiting requests are few and read at once: take the stored truth for the touched owners.
    for (const request of this.records.allPending()) if (owners.has(request.owner)) this.rememberPending(request);
  }

  private remember(owner: string, item: RosterItem): void {
    let roster = this.rosters.get(owner);
    if (!roster) this.rosters.set(owner, (roster = new Map()));
    const old = roster.get(item.jid);
    if (!old) this.total++;
    roster.set(item.jid, item);
    this.bytes.set(owner, this.rosterBytes(owner) - (old ? rosterItemBytes(old) : 0) + rosterItemBytes(item));
  }

  private forget(owner: string, jid: string): void {
    const roster = this.rosters.get(owner);
    const old = roster?.get(jid);
    if (!roster || !old) return;
    roster.delete(jid);
    this.total--;
    if (roster.size === 0) {
      this.rosters.delete(owner);
      this.bytes.delete(owner);
    } else this.bytes.set(owner, this.rosterBytes(owner) - rosterItemBytes(old));
  }

  private rememberPending({ owner, requester }: PendingRequest): void {
    let set = this.pendingIn.get(owner);
    if (!set) this.pendingIn.set(owner, (set = new Set()));
    if (!set.has(requester)) this.pendingTotal++;
    set.add(requester);
  }

  private forgetPending(owner: string, requester: string): void {
    const set = this.pendingIn.get(owner);
    if (!set?.delete(requester)) return;
    this.pendingTotal--;
    if (set.size === 0) this.pendingIn.delete(owner);
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

  constructor(
    private readonly router: Router,
    private readonly store: RosterStore,
  ) {}

  markInterested(session: RoutableSession): void {
    this.interested.add(session);
  }

  /** Pushes one changed item, once the change is stored (RosterStore.afterCommit). */
  push(owner: string, item: Element): void {
    this.store.afterCommit(() => this.pushNow(owner, item));
  }

  private pushNow(owner: string, item: Element): void {
    for (const session of this.router.sessionsOf(owner)) {
      if (!this.interested.has(session)) continue;
      offer(
        session,
        xml("iq", { xmlns: "jabber:client", type: "set", id: `push-${randomHex(6)}`, from: owner, to: session.fullJid }, xml("query", { xmlns: NS_ROSTER }, item)),
      );
    }
  }
}

