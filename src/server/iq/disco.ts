/**
 * XEP-0030 service discovery for the server (identity server/im) and for an account on behalf of
 * its user (identity account/registered). Features come from the registered IQ handlers, so
 * they never claim more than the server answers, and from what the server does outside any IQ
 * (`extraFeatures`: offline messages, XEP-0160's `msgoffline`). disco#items lists what providers
 * add (hosted components, for example): `DiscoItems.add`.
 */
import { xml } from "@xmpp/xml";
import { iqError, result, type IqHandler, type IqHandlers, type IqTarget } from "./handlers.js";
import type { RoutableSession } from "../router.js";

export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

export interface DiscoItem {
  jid: string;
  name?: string;
  node?: string;
}

/** The server's disco#items, per domain, from any number of providers. */
export class DiscoItems {
  private readonly providers: Array<(domain: string) => readonly DiscoItem[]> = [];

  /** `provider(domain)` returns the items to list for that hosted domain. */
  add(provider: (domain: string) => readonly DiscoItem[]): void {
    this.providers.push(provider);
  }

  of(domain: string): DiscoItem[] {
    return this.providers.flatMap((provider) => provider(domain));
  }

  private readonly nodes = new Map<string, (from: RoutableSession) => readonly DiscoItem[]>();

  /** The server's items under `node` (XEP-0050's command list, for one): `provider(asker)`. */
  addNode(node: string, provider: (from: RoutableSession) => readonly DiscoItem[]): void {
    this.nodes.set(node, provider);
  }

  /** The items under `node` for this asker, or null when the server has no such node. */
  ofNode(node: string, from: RoutableSession): DiscoItem[] | null {
    const provider = this.nodes.get(node);
    return provider ? [...provider(from)] : null;
  }
}

const IDENTITY: Record<"server" | "own-account", Record<string, string>> = {
  server: { category: "server", type: "im", name: "xmpp-x-token" },
  "own-account": { category: "account", type: "registered" },
};

/**
 * Other accounts are not described to anyone: without presence subscriptions kept here, nothing
 * says the asker may learn about them (XEP-0030 9.2), so they get service-unavailable.
 */
const TARGETS: readonly IqTarget[] = ["server", "own-account"];

/** disco#info features of what the server does outside any IQ handler, per addressee. */
export type ExtraFeatures = Partial<Record<IqTarget, readonly string[]>>;

export function discoInfoHandler(handlers: IqHandlers, extraFeatures: ExtraFeatures = {}): IqHandler {
  return {
    ns: NS_DISCO_INFO,
    name: "query",
    targets: TARGETS,
    features: [NS_DISCO_INFO, NS_DISCO_ITEMS],
    handle({ target, type, payload }) {
      if (type !== "get") return iqError("cancel", "bad-request");
      // We publish no nodes (no entity capabilities, no PEP): any node is unknown.
      if (payload.attrs.node !== undefined) return iqError("cancel", "item-not-found");
      const identity = IDENTITY[target as "server" | "own-account"];
      const features = [...new Set([...handlers.features(target), ...(extraFeatures[target] ?? [])])].sort();
      return result(xml("query", { xmlns: NS_DISCO_INFO }, xml("identity", identity), ...features.map((v) => xml("feature", { var: v }))));
    },
  };
}

export function discoItemsHandler(items: DiscoItems): IqHandler {
  return {
    ns: NS_DISCO_ITEMS,
    name: "query",
    targets: TARGETS,
    handle({ target, type, payload, from }) {
      if (type !== "get") return iqError("cancel", "bad-request");
      const node = payload.attrs.node;
      const list = node === undefined ? (target === "server" ? items.of(from.domain) : []) : target === "server" ? items.ofNode(node, from) : null;
      if (list === null) return iqError("cancel", "item-not-found");
      return result(
        xml(
          "query",
          { xmlns: NS_DISCO_ITEMS, ...(node === undefined ? {} : { node }) },
          ...list.map((item) => xml("item", { jid: item.jid, ...(item.name ? { name: item.name } : {}), ...(item.node ? { node: item.node } : {}) })),
        ),
      );
    },
  };
}
