/**
 * Who may have a login token minted by the component, and for whom. Pure.
 *
 * - Tokens exist only for domains the component holds keys for (`keyDomains`).
 * - Everyone allowed gets a token for their own bare JID; admins may name any JID of those domains.
 * - `allowed` (bare JIDs and domains), when given, narrows who may use the command at all;
 *   admins are always allowed.
 */
import { InvalidJidError, nameprep, normaliseBareJid, prepareBareJid, type BareJid } from "../core/jid/prep.js";

export class AccessOptionsError extends Error {
  override readonly name = "AccessOptionsError";
}

export interface AccessOptions {
  /** Domains whose keys the component holds (prepared or not). */
  keyDomains: readonly string[];
  /** Bare JIDs that may mint for any JID of `keyDomains`. */
  admins?: readonly string[];
  /** Bare JIDs and domains that may use the command; absent: everyone of `keyDomains`. */
  allowed?: readonly string[];
}

export type MintDecision =
  | { ok: true; jid: string }
  /** `jid`: the prepared JID asked for, when it was one (never the text as typed). */
  | { ok: false; condition: "forbidden" | "item-not-found" | "bad-request"; text: string; jid?: string };

/** The requester's prepared bare JID from a stanza's `from` (a full or bare JID), or null. */
export function requesterOf(from: string | undefined): BareJid | null {
  if (!from) return null;
  try {
    return prepareBareJid(from);
  } catch (err) {
    if (err instanceof InvalidJidError) return null;
    throw err;
  }
}

export class AccessPolicy {
  private readonly keyDomains: Set<string>;
  private readonly admins: Set<string>;
  private readonly allowed: { jids: Set<string>; domains: Set<string> } | null;

  constructor({ keyDomains, admins = [], allowed }: AccessOptions) {
    this.keyDomains = new Set(keyDomains.map((d, i) => prepare(() => nameprep(d), `keyDomains[${i}]`)));
    this.admins = new Set(admins.map((jid, i) => prepare(() => normaliseBareJid(jid), `admins[${i}]`)));
    if (allowed === undefined) {
      this.allowed = null;
    } else {
      const jids = new Set<string>();
      const domains = new Set<string>();
      allowed.forEach((entry, i) => {
        if (entry.includes("@")) jids.add(prepare(() => normaliseBareJid(entry), `allowed[${i}]`));
        else domains.add(prepare(() => nameprep(entry), `allowed[${i}]`));
      });
      this.allowed = { jids, domains };
    }
  }

  isAdmin(requester: BareJid): boolean {
    return this.admins.has(`${requester.local}@${requester.domain}`);
  }

  /** Whether the requester may use the command at all (and see it in disco). */
  mayUse(requester: BareJid): boolean {
    if (this.isAdmin(requester)) return true;
    if (!this.keyDomains.has(requester.domain)) return false;
    if (this.allowed === null) return true;
    return this.allowed.domains.has(requester.domain) || this.allowed.jids.has(`${requester.local}@${requester.domain}`);
  }

  /** Whether `requester` may have a token for `target` (a JID as typed in a form; own JID when absent). */
  decide(requester: BareJid, target?: string): MintDecision {
    const own = `${requester.local}@${requester.domain}`;
    if (!this.mayUse(requester)) return { ok: false, condition: "forbidden", text: "you may not get login tokens from this service" };
    if (target === undefined || target.trim() === "") return this.keysFor(requester.domain, own);
    let wanted: BareJid;
    try {
      wanted = prepareBareJid(target.trim());
    } catch (err) {
      if (err instanceof InvalidJidError) return { ok: false, condition: "bad-request", text: `jid is not a valid user JID: ${err.message}` };
      throw err;
    }
    const jid = `${wanted.local}@${wanted.domain}`;
    if (jid !== own && !this.isAdmin(requester)) return { ok: false, condition: "forbidden", text: "only an admin may get a token for another JID", jid };
    return this.keysFor(wanted.domain, jid);
  }

  /** Only admins get this far for a domain without keys: everyone else fails `mayUse`. */
  private keysFor(domain: string, jid: string): MintDecision {
    if (!this.keyDomains.has(domain)) return { ok: false, condition: "item-not-found", text: `this service holds no keys for ${domain}`, jid };
    return { ok: true, jid };
  }
}

function prepare(fn: () => string, path: string): string {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InvalidJidError) throw new AccessOptionsError(`${path} is not valid: ${err.message}`);
    throw err;
  }
}
