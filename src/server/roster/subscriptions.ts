/**
 * Presence subscriptions (RFC 6121 3) between accounts of this server: the four requests update
 * both rosters (subscription and ask), push the changes, and reach the other account stamped
 * with the sender's bare JID. A subscription request to someone offline waits in the roster store
 * (bounded, stored with the rosters) and is shown at their next initial presence. Each request's
 * changes to both rosters are one unit (RosterStore.atomically): stored together or not at all,
 * and what they send goes out once they are stored. When a subscription ends, the account
 * that no longer sees the other's presence is told that each of its available sessions is gone
 * (RFC 6121 3.2.2, 3.3.3). Contacts on domains this server does not host only see the user's side
 * change (there is no server-to-server link). Whatever goes to a session that does not read is
 * dropped (offer), so no sender can grow its queue.
 */
import { xml, type Element } from "@xmpp/xml";
import { offer, type RoutableSession, type Router } from "../router.js";
import type { PresenceBroadcast } from "../config.js";
import { hasFrom, hasTo, rosterItemElement, type RosterItem, type RosterPushes, type RosterStore, type Subscription } from "./store.js";

export type SubscriptionRequest = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed";

export const SUBSCRIPTION_TYPES: readonly string[] = ["subscribe", "subscribed", "unsubscribe", "unsubscribed"];

const withTo = (s: Subscription, on: boolean): Subscription => {
  const from = hasFrom(s);
  return on ? (from ? "both" : "to") : from ? "from" : "none";
};
const withFrom = (s: Subscription, on: boolean): Subscription => {
  const to = hasTo(s);
  return on ? (to ? "both" : "from") : to ? "to" : "none";
};

export class Subscriptions {
  constructor(
    private readonly store: RosterStore,
    private readonly pushes: RosterPushes,
    private readonly router: Router,
    private readonly isHosted: (domain: string) => boolean,
    /** Who sees presence: with `domain`, subscriptions do not decide it, so ending one hides nothing. */
    private readonly presenceBroadcast: PresenceBroadcast = "roster",
  ) {}

  /**
   * `user` (a bare JID) sent a subscription request of `type` to `contact` (a bare JID). Throws
   * (nothing changed, nothing sent) when the rosters cannot be stored.
   */
  outbound(user: string, contact: string, type: SubscriptionRequest, stanza: Element): void {
    this.store.atomically(() => this.outboundNow(user, contact, type, stanza));
  }

  private outboundNow(user: string, contact: string, type: SubscriptionRequest, stanza: Element): void {
    if (contact === user) return; // a subscription to oneself is implicit (RFC 6121 4.2.2)
    const local = this.isLocalAccount(contact);
    switch (type) {
      case "subscribe": {
        const mine = this.store.get(user, contact);
        if (!mine || (!hasTo(mine.subscription) && !mine.ask)) this.update(user, contact, (item) => ({ ...item, ask: true }));
        if (!local) return;
        // Already approved: the contact's server answers for them (RFC 6121 3.1.3).
        if (hasFrom(this.store.get(contact, user)?.subscription ?? "none")) return this.inbound(contact, user, "subscribed");
        // A request waits for an offline contact only while the sender's roster holds it (ask),
        // so one account keeps at most maxItems requests waiting, and removing the item ends it.
        if (this.store.get(user, contact)?.ask) this.addPending(contact, user);
        return this.deliver(user, contact, "subscribe", stanza, true);
      }
      case "subscribed": {
        // Only an answer to a request waiting here counts (RFC 6121 3.1.5).
        if (!this.takePending(user, contact)) return;
        this.update(user, contact, (item) => ({ ...item, subscription: withFrom(item.subscription, true) }));
        return this.inbound(user, contact, "subscribed", stanza);
      }
      case "unsubscribe": {
        const mine = this.store.get(user, contact);
        if (mine && (hasTo(mine.subscription) || mine.ask)) this.update(user, contact, (item) => ({ ...item, subscription: withTo(item.subscription, false), ask: false }));
        if (!local) return;
        this.takePending(contact, user);
        const theirs = this.store.get(contact, user);
        if (theirs && hasFrom(theirs.subscription)) {
          this.update(contact, user, (item) => ({ ...item, subscription: withFrom(item.subscription, false) }));
          this.presenceHidden(contact, user);
        }
        return this.deliver(user, contact, "unsubscribe", stanza, false);
      }
      case "unsubscribed": {
        const pending = this.takePending(user, contact);
        const mine = this.store.get(user, contact);
        const wasSeen = mine !== undefined && hasFrom(mine.subscription);
        if (wasSeen) this.update(user, contact, (item) => ({ ...item, subscription: withFrom(item.subscription, false) }));
        if (!local) return;
        const theirs = this.store.get(contact, user);
        if (!pending && !(theirs && (hasTo(theirs.subscription) || theirs.ask))) return;
        if (theirs) this.update(contact, user, (item) => ({ ...item, subscription: withTo(item.subscription, false), ask: false }));
        // While the contact still counts as subscribed: its sessions hear that the user's are gone.
        if (wasSeen) this.presenceHidden(user, contact);
        return this.deliver(user, contact, "unsubscribed", stanza, false);
      }
    }
  }

  /**
   * The user removed `contact` from the roster: cancel the subscriptions both ways (RFC 6121
   * 2.5.2). Call it inside the unit that removed the item (RosterStore.atomically).
   */
  removed(user: string, item: RosterItem): void {
    const empty = xml("presence");
    if (hasTo(item.subscription) || item.ask) this.outboundAfterRemove(user, item.jid, "unsubscribe", empty);
    if (hasFrom(item.subscription) || this.store.hasPending(user, item.jid)) this.outboundAfterRemove(user, item.jid, "unsubscribed", empty);
  }

  /** Subscription requests waiting for `owner`, to show at initial presence. */
  pendingFor(owner: string): Element[] {
    return this.store.pendingFor(owner).map((from) => xml("presence", { xmlns: "jabber:client", type: "subscribe", from, to: owner }));
  }

  /** Like `outbound` for an item already gone from the user's roster: only the contact's side. */
  private outboundAfterRemove(user: string, contact: string, type: "unsubscribe" | "unsubscribed", stanza: Element): void {
    if (type === "unsubscribed") this.takePending(user, contact);
    if (!this.isLocalAccount(contact)) return;
    const theirs = this.store.get(contact, user);
    if (type === "unsubscribe") {
      this.takePending(contact, user);
      if (theirs && hasFrom(theirs.subscription)) {
        this.update(contact, user, (item) => ({ ...item, subscription: withFrom(item.subscription, false) }));
        this.presenceHidden(contact, user);
      }
    } else if (theirs && (hasTo(theirs.subscription) || theirs.ask)) {
      this.update(contact, user, (item) => ({ ...item, subscription: withTo(item.subscription, false), ask: false }));
      if (hasTo(theirs.subscription)) this.presenceHidden(user, contact);
    }
    this.deliver(user, contact, type, stanza, false);
  }

  /** `approver` approved `requester`'s request: the requester's item gets `to`, and they hear of it. */
  private inbound(approver: string, requester: string, type: "subscribed", stanza: Element = xml("presence")): void {
    if (!this.isLocalAccount(requester)) return;
    // Only a request still pending hears the answer (RFC 6121 3.1.6): otherwise clients that
    // acknowledge "subscribed" with "subscribe" (RFC 3921 did) and our auto-reply would loop.
    if (!this.store.get(requester, approver)?.ask) return;
    this.update(requester, approver, (item) => ({ ...item, subscription: withTo(item.subscription, true), ask: false }));
    this.deliver(approver, requester, type, stanza, false);
    // Then the approver's current presence, from each available resource (RFC 6121 3.1.5).
    this.afterCommitBetween(approver, requester, (source, target) => {
      if (!source.lastPresence) return;
      const presence = xml("presence", { ...source.lastPresence.attrs, to: target.fullJid });
      presence.children = source.lastPresence.children;
      offer(target, presence);
    });
  }

  /** Changes (or creates) one roster item and pushes it; a full roster keeps its old state. */
  private update(owner: string, jid: string, change: (item: RosterItem) => RosterItem): void {
    const before = this.store.get(owner, jid) ?? { jid, subscription: "none" as Subscription, ask: false, groups: [] };
    const after = change(before);
    if (after.subscription === before.subscription && after.ask === before.ask && this.store.get(owner, jid)) return;
    if (this.store.put(owner, after)) this.pushes.push(owner, rosterItemElement(after));
  }

  /** The request, stamped with the sender's bare JID, to the receiver's available resources. */
  private deliver(from: string, to: string, type: SubscriptionRequest, stanza: Element, availableOnly: boolean): void {
    const out = xml("presence", { xmlns: "jabber:client", type, from, to });
    out.children = stanza.children;
    this.store.afterCommit(() => {
      for (const session of this.router.sessionsOf(to)) {
        if (!availableOnly || session.available) offer(session, out);
      }
    });
  }

  /**
   * `watcher` no longer sees `owner`'s presence: each of its available sessions gets an
   * `unavailable` from each of the owner's (RFC 6121 3.2.2, 3.3.3), so no client keeps showing
   * the owner online until the owner's next change.
   */
  private presenceHidden(owner: string, watcher: string): void {
    if (this.presenceBroadcast === "domain") return;
    this.afterCommitBetween(owner, watcher, (source, target) =>
      offer(target, xml("presence", { xmlns: "jabber:client", type: "unavailable", from: source.fullJid, to: target.fullJid })),
    );
  }

  /**
   * Once the unit is stored, calls `send` for each available session of `owner` with each
   * available session of `watcher`.
   */
  private afterCommitBetween(owner: string, watcher: string, send: (source: RoutableSession, target: RoutableSession) => void): void {
    this.store.afterCommit(() => {
      for (const source of this.router.sessionsOf(owner)) {
        if (!source.available) continue;
        for (const target of this.router.sessionsOf(watcher)) if (target.available) send(source, target);
      }
    });
  }

  /** An account (`local@domain`) on a domain this server hosts. */
  private isLocalAccount(bareJid: string): boolean {
    const at = bareJid.indexOf("@");
    return at > 0 && this.isHosted(bareJid.slice(at + 1));
  }

  /** A request waits for an offline contact; past the bounds it is still delivered to who is online now. */
  private addPending(owner: string, from: string): void {
    this.store.addPending(owner, from);
  }

  private takePending(owner: string, from: string): boolean {
    return this.store.takePending(owner, from);
  }
}
