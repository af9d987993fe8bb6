/** Resource binding (RFC 6120 7): the `<bind/>` request of an authenticated stream, answered. */
import { xml, type Element } from "@xmpp/xml";
import { isValidResource } from "./address.js";
import { NS } from "./namespaces.js";
import type { Router } from "./router.js";

export type BindOutcome =
  /** Send `reply`; the stream is now bound to `resource`. */
  | { kind: "bound"; resource: string; fullJid: string; reply: Element }
  /** The request was wrong: answer it with this stanza error, and stay unbound. */
  | { kind: "error"; type: "modify"; condition: "bad-request" };

/** Whether `iq` asks to bind a resource (the only stanza an unbound stream may send). */
export function isBindRequest(iq: Element): boolean {
  return iq.name === "iq" && iq.getChild("bind", NS.bind) !== undefined;
}

/**
 * Binds a resource for `bareJid`: the requested one (or one made from it when it is taken,
 * see Router.pickResource), or a random one. The caller adds the session to the router.
 */
export function bindResource(iq: Element, bareJid: string, router: Router): BindOutcome {
  if (iq.attrs.type !== "set") return { kind: "error", type: "modify", condition: "bad-request" };
  const requested = iq.getChild("bind", NS.bind)?.getChildText("resource")?.trim() || null;
  if (requested !== null && !isValidResource(requested)) return { kind: "error", type: "modify", condition: "bad-request" };
  const resource = router.pickResource(bareJid, requested);
  const fullJid = `${bareJid}/${resource}`;
  const reply = xml("iq", { xmlns: NS.client, type: "result", id: iq.attrs.id }, xml("bind", { xmlns: NS.bind }, xml("jid", {}, fullJid)));
  return { kind: "bound", resource, fullJid, reply };
}
