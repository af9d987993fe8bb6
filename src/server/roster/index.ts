/** Rosters and presence subscriptions, assembled: one per running server. */
import type { Router } from "../router.js";
import { DEFAULT_ROSTER_LIMITS, RosterPushes, RosterStore, type RosterLimits } from "./store.js";
import { Subscriptions } from "./subscriptions.js";
import type { PresenceBroadcast } from "../config.js";
import type { RosterRecords } from "../../core/records/roster.js";

export { DEFAULT_ROSTER_LIMITS, hasFrom, hasTo, RosterPushes, RosterStore, rosterItemElement, type RosterItem, type RosterLimits, type Subscription } from "./store.js";
export { Subscriptions, SUBSCRIPTION_TYPES, type SubscriptionRequest } from "./subscriptions.js";

export interface Rosters {
  store: RosterStore;
  pushes: RosterPushes;
  subscriptions: Subscriptions;
}

export function createRosters(
  router: Router,
  isHosted: (domain: string) => boolean,
  presenceBroadcast: PresenceBroadcast = "roster",
  limits: RosterLimits = DEFAULT_ROSTER_LIMITS,
  records: RosterRecords | null = null,
): Rosters {
  const store = new RosterStore(limits, records);
  const pushes = new RosterPushes(router, store);
  return { store, pushes, subscriptions: new Subscriptions(store, pushes, router, isHosted, presenceBroadcast) };
}
