/** Resource binding (RFC 6120 7): the `<bind/>` request of an authenticated stream, answered. */
import { xml, type Element } from "@xmpp/xml";
import { MAX_RESOURCE_BYTES } from "../core/jid/prep.js";
import { isValidResource } from "./address.js";
import { NS } from "./namespaces.js";
import { randomHex } from "./random-id.js";
import type { Router } from "./router.js";

export type BindOutcome =
  /** Send `reply`; the stream is now bound to `resource`. */
  | { kind: "bound"; resource: string; fullJid: string; reply: Element }
  /** The request was wrong: answer it with this stanza error, and stay unbound. */
  | { kind: "error"; type: "modify"; condition: "bad-request" }
  /** The resource its certificate fixes is in use by another session of the account. */
  | { kind: "error"; type: "cancel"; condition: "conflict" };

/** Whether `iq` asks to bind a resource (the only stanza an unbound stream may send). */
export function isBindRequest(iq: Element): boolean {
  return iq.name === "iq" && iq.getChild("bind", NS.bind) !== undefined;
}

/** What a taken resource gets after it: `-` and 6 hex digits (3 random bytes). */
const SUFFIX_HEX_BYTES = 3;

/**
 * The longest start of `text` that is at most `maxBytes` bytes of UTF-8, cut between code points
 * (a surrogate pair is never split, so the result encodes to exactly those bytes).
 */
export function utf8Prefix(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, "utf8");
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/**
 * The resource made from a taken `requested` one: its start, cut on a character boundary so the
 * whole fits RFC 7622's 1023 bytes, then `-` and `suffix`. (A resource of 1017 bytes or more
 * would otherwise grow past the limit, and stanzas to it would bounce as jid-malformed.)
 */
export function renamedResource(requested: string, suffix: string): string {
  return `${utf8Prefix(requested, MAX_RESOURCE_BYTES - 1 - Buffer.byteLength(suffix, "utf8"))}-${suffix}`;
}

/**
 * Chooses the resource (RFC 6120 7.7.2.2): the requested one when free; when it is taken, one
 * made from it that always fits the limit (the old session keeps its resource, nobody is kicked
 * out); when none was asked for, a random one (Router.pickResource).
 */
function chooseResource(bareJid: string, requested: string | null, router: Router): string {
  if (requested === null) return router.pickResource(bareJid, null);
  const taken = (resource: string) => router.resource({ bare: bareJid, resource, full: `${bareJid}/${resource}`, domain: bareJid.slice(bareJid.indexOf("@") + 1) }) !== null;
  if (!taken(requested)) return requested;
  let resource: string;
  do {
    resource = renamedResource(requested, randomHex(SUFFIX_HEX_BYTES));
  } while (taken(resource));
  return resource;
}

/**
 * Binds a resource for `bareJid`: the requested one (or one made from it when it is taken), or
 * a random one. A requested resource that is not a valid resourcepart (empty after trimming is
 * "none", too long, control or bidirectional control characters) is bad-request (RFC 6120
 * 7.7.2.1). `fixed`: the only resources allowed (a client certificate's full JIDs). The caller
 * adds the session to the router.
 */
export function bindResource(iq: Element, bareJid: string, router: Router, fixed: readonly string[] | null = null): BindOutcome {
  if (iq.attrs.type !== "set") return { kind: "error", type: "modify", condition: "bad-request" };
  const requested = iq.getChild("bind", NS.bind)?.getChildText("resource")?.trim() || null;
  if (requested !== null && !isValidResource(requested)) return { kind: "error", type: "modify", condition: "bad-request" };
  let resource: string;
  if (fixed !== null && fixed.length > 0) {
    // A client certificate whose xmppAddr is a full JID fixes the resource (mod_client_certs):
    // the one asked for when it is among them, else the first; never renamed.
    resource = requested !== null && fixed.includes(requested) ? requested : fixed[0]!;
    const domain = bareJid.slice(bareJid.indexOf("@") + 1);
    if (router.resource({ bare: bareJid, resource, full: `${bareJid}/${resource}`, domain }) !== null) return { kind: "error", type: "cancel", condition: "conflict" };
  } else {
    resource = chooseResource(bareJid, requested, router);
  }
  const fullJid = `${bareJid}/${resource}`;
  const reply = xml("iq", { xmlns: NS.client, type: "result", id: iq.attrs.id }, xml("bind", { xmlns: NS.bind }, xml("jid", {}, fullJid)));
  return { kind: "bound", resource, fullJid, reply };
}
