/**
 * IM delivery rules for a bound session's stanzas (RFC 6120 8, RFC 6121 8 for a server without
 * offline storage): the server stamps `from`, answers IQs addressed to itself through the IQ
 * handlers (src/server/iq/), hands subscription requests to the rosters (src/server/roster/),
 * routes the rest through the Router, and bounces what cannot be delivered.
 */
import { Element, xml } from "@xmpp/xml";
import { prepareAddress, type Address } from "./address.js";
import { NS } from "./namespaces.js";
import { offer, type RoutableSession, type Router, type StanzaTarget } from "./router.js";
import type { IqHandlers, IqTarget, StanzaErrorType } from "./iq/handlers.js";
import { hasFrom, hasTo, SUBSCRIPTION_TYPES, type Rosters, type Subscription, type SubscriptionRequest } from "./roster/index.js";
import type { PresenceBroadcast } from "./config.js";

/** A bound session as the delivery rules see it: its presence state is theirs to keep. */
export interface BoundSession extends RoutableSession {
  available: boolean;
  priority: number;
  lastPresence: Element | null;
}

export interface DeliveryServices {
  router: Router;
  /** The IQs the server answers itself (disco, roster, ping, ...): src/server/iq/. */
  iqHandlers: IqHandlers;
  /** Rosters and presence subscriptions: src/server/roster/. */
  rosters: Rosters;
  /** Who sees a user's presence (ServerConfig.presenceBroadcast); `roster` when absent. */
  config: { presenceBroadcast?: PresenceBroadcast };
}

/** One stanza from a bound session. */
export function deliverFrom(sender: BoundSession, stanza: Element, services: DeliveryServices): void {
  // The server stamps the sender (RFC 6120 8.1.2.1); the client's own value is not trusted.
  const out = withAttrs(stanza, { from: sender.fullJid, xmlns: NS.client });
  const toText = stanza.attrs.to;
  let to: Address | null = null;
  if (toText !== undefined && toText !== "") {
    to = prepareAddress(toText);
    if (!to) return sendStanzaError(sender, out, "modify", "jid-malformed");
  }
  // A domain served by someone else on this server (a component) gets everything addressed to it.
  const elsewhere = to && services.router.domainRoute(to.domain);
  if (elsewhere) return deliverTo(sender, elsewhere, out);
  if (stanza.name === "presence") return onPresence(sender, out, to, services);
  if (stanza.name === "iq") return onIq(sender, out, to, services);
  return onMessage(sender, out, to, services.router);
}

/** The session is going away: if it was available, everyone who saw it learns it is gone. */
export function leave(sender: BoundSession, services: DeliveryServices): void {
  if (!sender.available) return;
  sender.available = false;
  broadcastPresence(sender, xml("presence", { type: "unavailable" }), services);
}

/**
 * Who answers an iq get/set sent to a bare address: the server itself (no `to`, its domain), the
 * server on behalf of an account (a bare JID: RFC 6121 8.5.1, 8.5.2.1.3), or nobody (another domain).
 */
function iqTarget(sender: BoundSession, to: Address | null): IqTarget | null {
  if (to === null || to.full === sender.domain) return "server";
  if (to.full === sender.bareJid) return "own-account";
  return to.bare.includes("@") ? "other-account" : null;
}

function onIq(sender: BoundSession, iq: Element, to: Address | null, { router, iqHandlers }: DeliveryServices): void {
  const type = iq.attrs.type;
  if (type === "result" || type === "error") {
    // Answers go to the full JID that asked; anything else has nobody waiting for it.
    const asker = to && router.resource(to);
    if (asker) deliverTo(sender, asker, iq);
    return;
  }
  if (type !== "get" && type !== "set") return sendStanzaError(sender, iq, "modify", "bad-request");
  if (to === null || to.resource === null) {
    // What no handler answers (or another domain) is service-unavailable.
    const target = iqTarget(sender, to);
    if (!target) return sendStanzaError(sender, iq, "cancel", "service-unavailable");
    const answer = iqHandlers.answer({ from: sender, to, target, type }, iq);
    if (answer.kind === "error") return sendStanzaError(sender, iq, answer.type, answer.condition, answer.text);
    sender.deliver(xml("iq", { xmlns: NS.client, type: "result", id: iq.attrs.id, to: sender.fullJid, from: to?.full ?? sender.domain }, answer.payload ?? null));
    return;
  }
  // A full JID that is online gets the iq.
  const target = router.resource(to);
  if (!target) return sendStanzaError(sender, iq, "cancel", "service-unavailable");
  deliverTo(sender, target, iq);
}

function onMessage(sender: BoundSession, message: Element, to: Address | null, router: Router): void {
  if (!to) return sendStanzaError(sender, message, "cancel", "service-unavailable");
  const exact = router.resource(to);
  // A full JID that is not online is treated like the bare JID (RFC 6121 8.5.3.2.1).
  const targets = exact ? [exact] : to.bare.includes("@") ? router.messageTargets(to.bare) : [];
  if (targets.length === 0) {
    // Nobody to deliver to, and no offline storage: chat and normal messages bounce, the rest
    // (groupchat, headline, error) are dropped silently as RFC 6121 8.5.2.2 allows.
    const type = message.attrs.type ?? "normal";
    if (type === "normal" || type === "chat") sendStanzaError(sender, message, "cancel", "service-unavailable");
    return;
  }
  for (const target of targets) deliverTo(sender, target, message);
}

function onPresence(sender: BoundSession, presence: Element, to: Address | null, services: DeliveryServices): void {
  const { router, rosters } = services;
  const type = presence.attrs.type;
  if (type !== undefined && SUBSCRIPTION_TYPES.includes(type)) {
    // Subscription requests are between accounts: bare JIDs on both ends (RFC 6121 3.1.2).
    if (to) rosters.subscriptions.outbound(sender.bareJid, to.bare, type as SubscriptionRequest, presence);
    return;
  }
  if (to) {
    // Directed presence goes to the named resource, or to every session of the account.
    const exact = router.resource(to);
    for (const target of exact ? [exact] : router.sessionsOf(to.bare)) deliverTo(sender, target, presence);
    return;
  }
  if (type !== undefined && type !== "unavailable") return;
  const initial = !sender.available && type === undefined;
  sender.available = type === undefined;
  sender.lastPresence = sender.available ? presence : null;
  sender.priority = sender.available ? parsePriority(presence) : 0;
  broadcastPresence(sender, presence, services);
  if (initial) {
    // What the newcomer may see now (RFC 6121 4.2.3: the server answers the probes itself).
    for (const other of presencePeers(sender, services, hasTo)) {
      if (other.lastPresence) sender.deliver(withTo(other.lastPresence, sender.fullJid));
    }
    // Subscription requests that arrived while the account was offline (RFC 6121 3.1.3).
    for (const request of rosters.subscriptions.pendingFor(sender.bareJid)) sender.deliver(request);
  }
}

function broadcastPresence(sender: BoundSession, presence: Element, services: DeliveryServices): void {
  const out = withAttrs(presence, { from: sender.fullJid, xmlns: NS.client });
  for (const other of presencePeers(sender, services, hasFrom)) deliverTo(sender, other, withTo(out, other.fullJid));
}

/**
 * The available sessions on the other end of `sender`'s presence. With `domain`: every other one
 * on its domain, both ways. With `roster` (RFC 6121 4.2): its own other sessions and those of the
 * contacts whose roster item passes `subscribed`: hasFrom for who sees its presence, hasTo for
 * whose presence it sees.
 */
function presencePeers(sender: BoundSession, { router, rosters, config }: DeliveryServices, subscribed: (s: Subscription) => boolean): RoutableSession[] {
  if (config.presenceBroadcast === "domain") return router.availableOn(sender.domain, sender);
  const out = router.sessionsOf(sender.bareJid).filter((s) => s !== sender && s.available);
  for (const item of rosters.store.items(sender.bareJid)) {
    if (subscribed(item.subscription)) for (const s of router.sessionsOf(item.jid)) if (s.available) out.push(s);
  }
  return out;
}

/**
 * Hands a stanza to another session, unless that session's outbound queue is at the bound (it
 * does not read what it is sent): then the stanza is dropped, and a message or an IQ request
 * bounces to the sender with `resource-constraint` (RFC 6120 8.3.3.18, type wait: try later);
 * presence, IQ results and errors are dropped silently. The slow session is not closed, so
 * nobody can get a user disconnected by sending them more than they read.
 */
function deliverTo(sender: BoundSession, target: StanzaTarget, stanza: Element): void {
  if (!offer(target, stanza) && bouncesWhenDropped(stanza)) sendStanzaError(sender, stanza, "wait", "resource-constraint");
}

/** A message or an IQ request dropped for a full queue bounces; presence and IQ results/errors just go. */
export function bouncesWhenDropped(stanza: Element): boolean {
  const type = stanza.attrs.type;
  return stanza.name === "message" || (stanza.name === "iq" && (type === "get" || type === "set"));
}

/** Bounces a stanza with an error (never an error about an error, RFC 6120 8.3.1). */
export function sendStanzaError(sender: RoutableSession, stanza: Element, type: StanzaErrorType, condition: string, text?: string): void {
  if (stanza.attrs.type === "error") return;
  const reply = xml(
    stanza.name,
    { xmlns: NS.client, type: "error", id: stanza.attrs.id, from: stanza.attrs.to || sender.domain, to: sender.fullJid || undefined },
    xml(
      "error",
      { type },
      xml(condition, { xmlns: NS.stanzaErrors }),
      text ? xml("text", { xmlns: NS.stanzaErrors, "xml:lang": "en" }, text) : null,
    ),
  );
  sender.deliver(reply);
}

/** `<priority/>` is an integer from -128 to 127 (RFC 6121 4.7.2.3); anything else counts as 0. */
function parsePriority(presence: Element): number {
  const text = presence.getChildText("priority")?.trim();
  if (!text || !/^[+-]?\d{1,3}$/.test(text)) return 0;
  const value = Number(text);
  return value >= -128 && value <= 127 ? value : 0;
}

/** A copy of the element with some attributes changed; children are shared, never mutated. */
export function withAttrs(stanza: Element, attrs: Record<string, string>): Element {
  const copy = new Element(stanza.name, { ...stanza.attrs, ...attrs });
  copy.children = stanza.children;
  return copy;
}

function withTo(stanza: Element, to: string): Element {
  return withAttrs(stanza, { to });
}
