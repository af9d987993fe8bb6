/**
 * SASL2 (XEP-0388) with Bind 2 (XEP-0386) and FAST (XEP-0484) inline, as elements: the feature
 * a stream offers before authentication, what an `<authenticate/>` asks for, the Bind 2 resource,
 * and the `<success/>` that carries the rest. No state and no policy here: the SASL exchange
 * (sasl-exchange.ts) runs the mechanisms and the login policy, the session does what follows.
 */
import { xml, type Element } from "@xmpp/xml";
import { MAX_RESOURCE_BYTES } from "../core/jid/prep.js";
import { encodeSaslPayload } from "../auth/sasl/index.js";
import { isUsableUserAgentId, type IssuedFastToken } from "../auth/fast/index.js";
import { isValidResource } from "./address.js";
import { utf8Prefix } from "./binding.js";
import { NS } from "./namespaces.js";
import { randomHex } from "./random-id.js";

/** `<authentication/>`: our mechanisms, Bind 2 and (on a TLS-protected stream) FAST inline. */
export function authenticationFeature(mechanisms: readonly string[], fastMechanisms: readonly string[]): Element {
  return xml(
    "authentication",
    { xmlns: NS.sasl2 },
    ...mechanisms.map((m) => xml("mechanism", {}, m)),
    xml(
      "inline",
      {},
      xml("bind", { xmlns: NS.bind2 }),
      fastMechanisms.length > 0 ? xml("fast", { xmlns: NS.fast }, ...fastMechanisms.map((m) => xml("mechanism", {}, m))) : null,
    ),
  );
}

/** What one `<authenticate/>` asks for. */
export interface Sasl2Request {
  mechanism: string;
  /** `<initial-response/>`'s text; null when there is none. */
  initialResponse: string | null;
  /** `<user-agent id=…>` when usable (1 to 256 characters, no controls); absent otherwise. */
  userAgentId?: string;
  /** Bind 2: the `<tag/>` (null: a bind without a usable tag); undefined: no Bind 2 request. */
  bindTag?: string | null;
  /** `<request-token mechanism=…/>`: the mechanism named (maybe one we do not have); null: none asked. */
  requestToken: string | null;
  /** `<fast invalidate='true'/>`: the token this login is made with stops working once it succeeds. */
  invalidate: boolean;
}

/** Reads an `<authenticate/>`; every child we do not know is ignored (XEP-0388's inline rule). */
export function readAuthenticate(element: Element): Sasl2Request {
  const initial = element.getChild("initial-response");
  const agent = element.getChild("user-agent")?.attrs.id as string | undefined;
  const bind = element.getChild("bind", NS.bind2);
  const request = element.getChild("request-token", NS.fast);
  const fast = element.getChild("fast", NS.fast);
  const invalidate = fast?.attrs.invalidate;
  return {
    mechanism: typeof element.attrs.mechanism === "string" ? element.attrs.mechanism : "",
    initialResponse: initial ? initial.text() : null,
    ...(isUsableUserAgentId(agent) ? { userAgentId: agent } : {}),
    ...(bind ? { bindTag: bind.getChildText("tag") ?? null } : {}),
    requestToken: request ? String(request.attrs.mechanism ?? "") : null,
    invalidate: invalidate === "true" || invalidate === "1",
  };
}

/** Bytes of a Bind 2 tag kept as the resource's prefix (the generated rest follows it). */
const MAX_TAG_BYTES = 256;

/**
 * A Bind 2 resource: the client's tag (when it is a valid resourcepart; cut to MAX_TAG_BYTES) as a
 * prefix, then a dot and 12 generated hex digits (XEP-0386: the server makes the resource; the
 * tag only says which client it is). `taken` says whether a resource is in use already.
 */
export function bind2Resource(tag: string | null, taken: (resource: string) => boolean): string {
  const trimmed = tag?.trim() ?? "";
  const prefix = trimmed !== "" && isValidResource(trimmed) ? utf8Prefix(trimmed, Math.min(MAX_TAG_BYTES, MAX_RESOURCE_BYTES - 13)) : "";
  let resource: string;
  do {
    resource = prefix === "" ? `x-token-${randomHex(6)}` : `${prefix}.${randomHex(6)}`;
  } while (taken(resource));
  return resource;
}

/** XEP-0082 date and time of unix seconds, in UTC. */
export function xmppDateTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `<success/>`: the responder's data, the identity (full JID once bound), `<bound/>`, the new FAST token. */
export function successElement({ additionalData, identity, bound, token }: { additionalData?: Buffer | undefined; identity: string; bound: boolean; token: IssuedFastToken | null }): Element {
  return xml(
    "success",
    { xmlns: NS.sasl2 },
    additionalData ? xml("additional-data", {}, encodeSaslPayload(additionalData) || "=") : null,
    xml("authorization-identifier", {}, identity),
    bound ? xml("bound", { xmlns: NS.bind2 }) : null,
    token ? xml("token", { xmlns: NS.fast, token: token.token, expiry: xmppDateTime(token.expiresAt) }) : null,
  );
}
