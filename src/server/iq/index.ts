/** The server's own IQ handlers, assembled: one registry per running server. */
import type { Rosters } from "../roster/index.js";
import { pingHandler, sessionHandler, timeHandler, versionHandler } from "./basic.js";
import { DiscoItems, discoInfoHandler, discoItemsHandler, type ExtraFeatures } from "./disco.js";
import { IqHandlers } from "./handlers.js";
import { pubsubHandler } from "./pubsub.js";
import { rosterHandler } from "./roster.js";

export { IqHandlers, type IqAnswer, type IqHandler, type IqRequest, type IqTarget } from "./handlers.js";
export { DiscoItems, type DiscoItem, type ExtraFeatures } from "./disco.js";

export interface ServerIq {
  handlers: IqHandlers;
  /** Add disco#items entries (hosted components, ...) here. */
  discoItems: DiscoItems;
}

/**
 * What the server itself does outside any IQ handler, as disco#info features: it keeps `chat` and
 * `normal` messages for accounts that are offline (XEP-0160, src/server/delivery.ts), whatever the
 * storage engine (the memory one keeps them until the process ends).
 */
export const SERVER_FEATURES: ExtraFeatures = { server: ["msgoffline"] };

export function createServerIq(rosters: Rosters, { extraFeatures = SERVER_FEATURES }: { extraFeatures?: ExtraFeatures } = {}): ServerIq {
  const handlers = new IqHandlers();
  const discoItems = new DiscoItems();
  handlers
    .register(discoInfoHandler(handlers, extraFeatures))
    .register(discoItemsHandler(discoItems))
    .register(pingHandler)
    .register(sessionHandler)
    .register(versionHandler())
    .register(timeHandler())
    .register(rosterHandler(rosters))
    .register(pubsubHandler);
  return { handlers, discoItems };
}
