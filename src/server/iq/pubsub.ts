/**
 * What clients ask of PEP (XEP-0163) on an account, answered for a server without it: nothing
 * can be published here, so no node exists, and retrieving items gets item-not-found, the
 * answer clients (Converse.js's OMEMO device lists and reactions, ...) read as "nothing
 * published". Everything else in pubsub is service-unavailable. Nothing is advertised in disco,
 * so clients do not try to publish.
 */
import { iqError, type IqHandler } from "./handlers.js";

export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

export const pubsubHandler: IqHandler = {
  ns: NS_PUBSUB,
  name: "pubsub",
  targets: ["own-account", "other-account"],
  handle({ type, payload }) {
    const children = payload.children.filter((c) => typeof c !== "string");
    const isItemsGet = type === "get" && children.length === 1 && payload.getChild("items")?.attrs.node !== undefined;
    return isItemsGet ? iqError("cancel", "item-not-found") : iqError("cancel", "service-unavailable");
  },
};
