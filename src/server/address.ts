/** Addresses in stanzas (`to`), prepared so that `Bob@Example.TEST/r` reaches bob@example.test/r. */
import { InvalidJidError, nameprep, normaliseBareJid, resourceProblem } from "../core/jid/prep.js";

export interface Address {
  /** `local@domain`, or just `domain`. */
  bare: string;
  resource: string | null;
  /** `bare/resource`, or `bare`. */
  full: string;
  /** The domain part of `bare`. */
  domain: string;
}

/**
 * A resource this server accepts, in a stanza address or a bind request: not empty, at most
 * 1023 bytes (RFC 7622 3.1), no control or bidirectional control characters (the core's one
 * rule, resourceProblem). Resources are kept as sent, not prepared.
 */
export function isValidResource(resource: string): boolean {
  return resourceProblem(resource) === null;
}

/** The prepared address, or null when `jid` is not a valid JID (answer `jid-malformed`). */
export function prepareAddress(jid: string): Address | null {
  const slash = jid.indexOf("/");
  const bareText = slash === -1 ? jid : jid.slice(0, slash);
  const resource = slash === -1 ? null : jid.slice(slash + 1);
  if (resource !== null && !isValidResource(resource)) return null;
  let bare: string;
  try {
    bare = bareText.includes("@") ? normaliseBareJid(bareText) : nameprep(bareText);
  } catch (err) {
    if (err instanceof InvalidJidError) return null;
    throw err;
  }
  return { bare, resource, full: resource === null ? bare : `${bare}/${resource}`, domain: bare.slice(bare.indexOf("@") + 1) };
}
