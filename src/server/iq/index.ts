/** The server's own IQ handlers, assembled: one registry per running server. */
import type { Rosters } from "../roster/index.js";
import { pingHandler, sessionHandler, timeHandler, versionHandler } from "./basic.js";
import { DiscoItems, discoInfoHandler, discoItemsHandler } from "./disco.js";
import { IqHandlers } from "./handlers.js";
import { pubsubHandler } from "./pubsub.js";
import { rosterHandler } from "./roster.js";

export { IqHandlers, type IqAnswer, type IqHandler, type IqRequest, type IqTarget } from "./handlers.js";
export { DiscoItems, type DiscoItem } from "./disco.js";

export interface ServerIq {
  handlers: IqHandlers;
  /** Add disco#items entries (hosted components, ...) here. */
  discoItems: DiscoItems;
}

export function createServerIq(rosters: Rosters): ServerIq {
  const handlers = new IqHandlers();
  const discoItems = new DiscoItems();
  handlers
    .register(discoInfoHandler(handlers))
    .register(discoItemsHandler(discoItems))
    .register(pingHandler)
    .register(sessionHandler)
    .register(versionHandler())
    .register(timeHandler())
    .register(rosterHandler(rosters))
    .register(pubsubHandler);
  return { handlers, discoItems };
}
