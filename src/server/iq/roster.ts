/**
 * The roster IQ (RFC 6121 2): roster get, and roster set to add, update or remove one item, each
 * change pushed to the account's interested resources. Removing an item with a subscription
 * also cancels it both ways (RFC 6121 2.5.2).
 */
import { xml, type Element } from "@xmpp/xml";
import { prepareAddress } from "../address.js";
import { NS_ROSTER, rosterItemElement, type RosterItem, type RosterLimits, type RosterPushes, type RosterStore } from "../roster/store.js";
import type { Subscriptions } from "../roster/subscriptions.js";
import { iqError, result, type IqHandler, type IqAnswer } from "./handlers.js";

const byteLength = (text: string) => Buffer.byteLength(text, "utf8");
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A roster set's one item, checked (RFC 6121 2.3.3, 2.5.3), or the error to answer. */
function parseSetItem(payload: Element, limits: RosterLimits): { jid: string; remove: boolean; name?: string; groups: string[] } | IqAnswer {
  const children = payload.children.filter((c): c is Element => typeof c !== "string");
  if (children.length !== 1 || children[0]!.name !== "item") return iqError("modify", "bad-request", "a roster set has exactly one item");
  const item = children[0]!;
  const jidText = item.attrs.jid;
  const address = jidText === undefined ? null : prepareAddress(jidText);
  if (!address) return iqError("modify", "jid-malformed");
  if (address.resource !== null) return iqError("modify", "bad-request", "roster items are bare JIDs");
  if (item.attrs.subscription === "remove") return { jid: address.bare, remove: true, groups: [] };
  // Any other subscription or ask value from a client is ignored (RFC 6121 2.1.2.5, 2.1.2.1).
  const name = item.attrs.name;
  if (name !== undefined && (byteLength(name) > limits.maxNameBytes || CONTROL.test(name))) return iqError("modify", "not-acceptable", "the name is too long");
  const groupElements = item.children.filter((c): c is Element => typeof c !== "string");
  if (groupElements.some((g) => g.name !== "group")) return iqError("modify", "bad-request", "an item holds only groups");
  if (groupElements.length > limits.maxGroupsPerItem) return iqError("modify", "not-acceptable", "too many groups");
  const groups = groupElements.map((g) => g.text());
  if (groups.some((g) => g === "" || byteLength(g) > limits.maxNameBytes || CONTROL.test(g))) return iqError("modify", "not-acceptable", "a group name is empty or too long");
  if (new Set(groups).size !== groups.length) return iqError("modify", "bad-request", "a group is listed twice");
  return { jid: address.bare, remove: false, ...(name !== undefined ? { name } : {}), groups };
}

export function rosterHandler({ store, pushes, subscriptions }: { store: RosterStore; pushes: RosterPushes; subscriptions: Subscriptions }): IqHandler {
  return {
    ns: NS_ROSTER,
    name: "query",
    // "other-account": someone else's roster is refused with forbidden, not service-unavailable.
    targets: ["server", "own-account", "other-account"],
    handle({ from, target, type, payload }) {
      if (target === "other-account") return iqError("auth", "forbidden");
      const owner = from.bareJid;
      if (type === "get") {
        pushes.markInterested(from);
        return result(xml("query", { xmlns: NS_ROSTER }, ...store.items(owner).map(rosterItemElement)));
      }
      const parsed = parseSetItem(payload, store.limits);
      if ("kind" in parsed) return parsed;
      try {
        // One unit: the result is sent only once the change is stored (and its pushes follow it).
        return store.atomically(() => setItem(owner, parsed));
      } catch {
        return iqError("wait", "internal-server-error", "the roster could not be stored; try again later");
      }
    },
  };

  function setItem(owner: string, parsed: { jid: string; remove: boolean; name?: string; groups: string[] }): IqAnswer {
    if (parsed.remove) {
      const removed = store.get(owner, parsed.jid);
      if (!removed) return iqError("cancel", "item-not-found");
      store.remove(owner, parsed.jid);
      pushes.push(owner, rosterItemElement({ jid: parsed.jid, subscription: "remove" }));
      subscriptions.removed(owner, removed);
      return result();
    }
    const existing = store.get(owner, parsed.jid);
    const item: RosterItem = {
      jid: parsed.jid,
      ...(parsed.name !== undefined ? { name: parsed.name } : {}),
      subscription: existing?.subscription ?? "none",
      ask: existing?.ask ?? false,
      groups: parsed.groups,
    };
    if (!store.put(owner, item)) return iqError("wait", "resource-constraint", "the roster is full");
    pushes.push(owner, rosterItemElement(item));
    return result();
  }
}
