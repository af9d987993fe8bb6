/**
 * IM delivery rules for a bound session's stanzas (RFC 6120 8, RFC 6121 8, XEP-0160 offline
 * messages): the server stamps `from`, answers IQs addressed to itself through the IQ handlers
 * (src/server/iq/), hands subscription requests to the rosters (src/server/roster/), routes the
 * rest through the Router, keeps `chat` and `normal` messages for accounts nobody can take them
 * for (src/core/records/offline.ts), and bounces what cannot be delivered.
 */
import { Element, xml } from "@xmpp/xml";
import { prepareAddress, type Address } from "./address.js";
import { NS } from "./namespaces.js";
import { offer, type RoutableSession, type Router, type StanzaTarget } from "./router.js";
import type { IqHandlers, IqTarget, StanzaErrorType } from "./iq/handlers.js";
import { hasFrom, hasTo, SUBSCRIPTION_TYPES, type Rosters, type Subscription, type SubscriptionRequest } from "./roster/index.js";
import { limitOf, type LimitsConfig, type PresenceBroadcast } from "./config.js";
import type { Storage } from "../core/records/storage.js";
import type { StoredMessage } from "../core/records/offline.js";
import type { Logger } from "./log.js";
import { StrictXmlParser } from "./transport/strict-xml.js";

/** A bound session as the delivery rules see it: its presence state is theirs to keep. */
export interface BoundSession extends RoutableSession {
  available: boolean;
  priority: number;
  lastPresence: Element | null;
  /**
   * Answers to its own request that can be many: sent one at a time while its outbound queue is
   * under the bound (each made when it is sent), before it handles its next input.
   */
  deliverAll(stanzas: Iterable<Element>): void;
}

export interface DeliveryServices {
  router: Router;
  /** The IQs the server answers itself (disco, roster, ping, ...): src/server/iq/. */
  iqHandlers: IqHandlers;
  /** Rosters and presence subscriptions: src/server/roster/. */
  rosters: Rosters;
  /**
   * Who sees a user's presence (ServerConfig.presenceBroadcast); `roster` when absent. The hosted
   * domains. The largest presence a session may broadcast (LimitsConfig.maxPresenceBytes).
   */
  config: { presenceBroadcast?: PresenceBroadcast; domains: Readonly<Record<string, unknown>>; limits: Partial<LimitsConfig> };
  /** Accounts that have logged in, and the messages waiting for them (XEP-0160). */
  storage: Pick<Storage, "accounts" | "offline">;
  log: Logger;
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
  return onMessage(sender, out, to, services);
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

function onMessage(sender: BoundSession, message: Element, to: Address | null, services: DeliveryServices): void {
  if (!to) return sendStanzaError(sender, message, "cancel", "service-unavailable");
  const { router } = services;
  const exact = router.resource(to);
  if (exact) return deliverTo(sender, exact, message);
  // A full JID that is not online is treated like the bare JID (RFC 6121 8.5.3.2.1).
  const account = to.bare.includes("@");
  if (account) {
    // RFC 6121 8.5.2.1.1: the available resources with a non-negative priority get it.
    const ready = router.sessionsOf(to.bare).filter(isReady);
    if (ready.length > 0) {
      for (const target of ready) deliverTo(sender, target, message);
      return;
    }
    if (keptOffline(sender, message, to, services)) return;
  }
  // What is not kept offline follows the rules from before offline storage: the account's bound
  // sessions if it has any (Router.messageTargets), else chat and normal messages bounce and the
  // rest (groupchat, headline, error) are dropped silently.
  const targets = account ? router.messageTargets(to.bare) : [];
  if (targets.length === 0) {
    const type = message.attrs.type ?? "normal";
    if (type === "normal" || type === "chat") sendStanzaError(sender, message, "cancel", "service-unavailable");
    return;
  }
  for (const target of targets) deliverTo(sender, target, message);
}

/** A session that takes messages sent to its bare JID, and its offline messages (RFC 6121 8.5.2.1.1, XEP-0160 2). */
function isReady(session: RoutableSession): boolean {
  return session.available && session.priority >= 0;
}

const NS_CHAT_STATES = "http://jabber.org/protocol/chatstates";
const NS_HINTS = "urn:xmpp:hints";
const NS_STANZA_IDS = "urn:xmpp:sid:0";
const NS_DELAY = "urn:xmpp:delay";

/**
 * XEP-0160 for a message to `to`'s account, which has no available resource with a non-negative
 * priority: a `chat` or `normal` message (no type is normal) to an account of a hosted domain that
 * has logged in here is stored for its next available presence. True when that is settled here
 * (stored, refused with an error to the sender, or dropped on purpose); false leaves the message
 * to the rules for what is not stored: groupchat, headline and error (XEP-0160 3: not stored),
 * other domains, accounts that never logged in (so nobody fills the store by writing to made-up
 * addresses), and messages the sender marked `<no-store/>` (XEP-0334 4.2).
 */
function keptOffline(sender: BoundSession, message: Element, to: Address, { storage, config, log }: DeliveryServices): boolean {
  const type = message.attrs.type ?? "normal";
  if (type !== "chat" && type !== "normal") return false;
  if (!Object.hasOwn(config.domains, to.domain)) return false;
  try {
    if (!storage.accounts.has(to.bare)) return false;
    // The sender's XEP-0334 hints: <store/> asks for it to be kept whatever it holds.
    const store = message.getChild("store", NS_HINTS) !== undefined;
    // A chat state alone ("typing...") says something about a conversation now: XEP-0160 3 says
    // not to store it. It is not bounced either: it is worth nothing later, and an error for
    // each would show the sender errors while it types. Any other message without a body (a
    // receipt, a marker, an invitation) is stored, as other servers do.
    if (!store && onlyChatStates(message)) return true;
    if (!store && message.getChild("no-store", NS_HINTS) !== undefined) return false;
    // Stored as it will be delivered: `from` stamped, in jabber:client, to the bare JID.
    const stanza = withAttrs(message, { to: to.bare }).toString();
    if (storage.offline.add(to.bare, { stanza, storedAt: Date.now() }) === "full") {
      // XEP-0160 2 (step 3): when the account's offline queue is full the server returns
      // service-unavailable (type cancel), the error RFC 6121 has for a message a server does
      // not store; no text says why. Nothing already stored is dropped to make room.
      sendStanzaError(sender, message, "cancel", "service-unavailable");
    }
  } catch (err) {
    // The store cannot be read or written (a disk full, a database busy or read-only): nothing
    // was stored (the engine adds in one transaction). RFC 6120 8.3.3.18 resource-constraint,
    // type wait: the server lacks the resources to take it now, and sending it again later may
    // work (internal-server-error's type is cancel: do not retry).
    log.warn(`offline message for ${to.bare} not stored: ${describe(err)}`);
    sendStanzaError(sender, message, "wait", "resource-constraint", "the message could not be stored; try again later");
  }
  return true;
}

/** No body, and nothing but chat states (XEP-0085) and what rides along with them (hints, ids, a thread). */
function onlyChatStates(message: Element): boolean {
  let chatState = false;
  for (const child of message.children) {
    if (typeof child === "string") continue;
    const ns = child.attrs.xmlns ?? NS.client;
    if (ns === NS_CHAT_STATES) chatState = true;
    else if (ns !== NS_HINTS && ns !== NS_STANZA_IDS && !(ns === NS.client && child.name === "thread")) return false;
  }
  return chatState;
}

/**
 * Hands `session` (now available with a non-negative priority) the messages kept for its account,
 * oldest first, each with a XEP-0203 delay stamped when it was stored (XEP-0160 2, step 5).
 * They are the session's to take, like the answers to its own presence: written to it as its own
 * answers are (`deliverAll`, not `offer`: dropped, they would be lost, since take() removed
 * them), one at a time while its outbound queue is under the bound; until then they wait as the
 * stored texts (at most the account's offline bound, maxBytesPerAccount), each parsed when it is
 * sent. A store that cannot hand them over keeps them (for the next available presence); a stored
 * text that does not parse is dropped.
 */
function deliverOffline(session: BoundSession, { storage, log }: DeliveryServices): void {
  let waiting: StoredMessage[];
  try {
    // count() reads; take() writes (one transaction): most presences find nothing waiting.
    if (storage.offline.count(session.bareJid) === 0) return;
    waiting = storage.offline.take(session.bareJid);
  } catch (err) {
    log.warn(`offline messages for ${session.bareJid} not delivered (they stay stored): ${describe(err)}`);
    return;
  }
  session.deliverAll(offlineMessages(session, waiting, log));
}

function* offlineMessages(session: BoundSession, waiting: StoredMessage[], log: Logger): Generator<Element> {
  const parser = new StrictXmlParser("messages");
  let unreadable = 0;
  for (let i = 0; i < waiting.length; i++) {
    const { stanza, storedAt } = waiting[i]!;
    // What is sent is let go of (a long queue does not stay whole until its last message is sent).
    waiting[i] = undefined as unknown as StoredMessage;
    let message: Element;
    try {
      // Stored by us from a stanza the strict parser read, but read back just as strictly: what a
      // database file holds is not trusted to be XML a client can take.
      message = parser.parseElement(stanza);
      if (message.name !== "message" || message.attrs.xmlns !== NS.client) throw new Error("not a jabber:client message");
      message.append(xml("delay", { xmlns: NS_DELAY, from: session.domain, stamp: new Date(storedAt).toISOString() }, "Offline Storage"));
    } catch {
      unreadable++;
      continue;
    }
    yield message;
  }
  if (unreadable > 0) log.warn(`${unreadable} offline message(s) for ${session.bareJid} could not be read and were dropped`);
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function onPresence(sender: BoundSession, presence: Element, to: Address | null, services: DeliveryServices): void {
  const { router, rosters } = services;
  const type = presence.attrs.type;
  if (type !== undefined && SUBSCRIPTION_TYPES.includes(type)) {
    // Subscription requests are between accounts: bare JIDs on both ends (RFC 6121 3.1.2).
    if (!to) return;
    try {
      rosters.subscriptions.outbound(sender.bareJid, to.bare, type as SubscriptionRequest, presence);
    } catch (err) {
      // Neither roster changed and nothing was sent (one unit): the sender may try again.
      services.log.warn(`subscription ${type} from ${sender.bareJid} to ${to.bare} not stored: ${describe(err)}`);
      sendStanzaError(sender, presence, "wait", "internal-server-error");
    }
    return;
  }
  if (to) {
    // Directed presence goes to the named resource, or to every session of the account.
    const exact = router.resource(to);
    for (const target of exact ? [exact] : router.sessionsOf(to.bare)) deliverTo(sender, target, presence);
    return;
  }
  if (type !== undefined && type !== "unavailable") return;
  // What is broadcast (and kept, to answer others' initial presence) is bounded: one presence
  // goes to every contact's session, and to every newcomer who may see it.
  const max = limitOf(services.config.limits, "maxPresenceBytes");
  if (Buffer.byteLength(presence.toString(), "utf8") > max) {
    return sendStanzaError(sender, presence, "modify", "policy-violation", `a presence may hold at most ${max} bytes`);
  }
  const wasReady = isReady(sender);
  const initial = !sender.available && type === undefined;
  sender.available = type === undefined;
  sender.lastPresence = sender.available ? presence : null;
  sender.priority = sender.available ? parsePriority(presence) : 0;
  broadcastPresence(sender, presence, services);
  // What the newcomer may see now (RFC 6121 4.2.3: the server answers the probes itself), and the
  // subscription requests that arrived while the account was offline (RFC 6121 3.1.3): its own
  // answers, sent as its queue takes them (an unavailable-available pair repeated cannot pile
  // them up: the next pair waits until they are sent).
  if (initial) sender.deliverAll(initialAnswers(sender, services));
  // Messages kept while no session could take them go to the first that can: an initial presence,
  // or a priority raised from negative (XEP-0160 2: "next sends non-negative available presence").
  if (!wasReady && isReady(sender)) deliverOffline(sender, services);
}

function* initialAnswers(sender: BoundSession, services: DeliveryServices): Generator<Element> {
  for (const other of presencePeers(sender, services, hasTo)) {
    // As it is when its turn comes: a session gone unavailable meanwhile is skipped.
    if (other.available && other.lastPresence) yield withTo(other.lastPresence, sender.fullJid);
  }
  yield* services.rosters.subscriptions.pendingFor(sender.bareJid);
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
