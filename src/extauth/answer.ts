/**
 * What `x-token extauth` answers to each request of an XMPP server's external-auth protocol:
 * `auth` is a token check through the shared TokenAuthority (signature, time window, replay
 * store, disabled accounts), `isuser` says whether a user could hold tokens here, and every
 * account-management command is refused. Answers are yes/no; the log line says why.
 */
import { InvalidJidError, nameprep, nodeprep } from "../core/jid/prep.js";
import type { TokenAuthority } from "../auth/authority.js";
import type { ExtauthRequest } from "./protocol.js";

/** Who `isuser` says exists: any valid username at a hosted domain (not disabled), or nobody. */
export type IsUserPolicy = "hosted" | "none";
export const IS_USER_POLICIES: readonly IsUserPolicy[] = ["hosted", "none"];

/** One line per decision; callers write it to stderr. Never given a token or password. */
export interface ExtauthLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface ExtauthAnswererOptions {
  authority: TokenAuthority;
  isUser?: IsUserPolicy;
  log: ExtauthLog;
}

export type ExtauthAnswerer = (request: ExtauthRequest) => Promise<boolean>;

/** The user and domain prepared as everywhere (nodeprep, nameprep), or null when invalid. */
function prepare(user: string, server: string): { localpart: string; domain: string } | null {
  try {
    return { localpart: nodeprep(user), domain: nameprep(server) };
  } catch (err) {
    if (err instanceof InvalidJidError) return null;
    throw err;
  }
}

/** A name from the request for a log line: printable, bounded, quoted. */
function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

export function createExtauthAnswerer({ authority, isUser = "hosted", log }: ExtauthAnswererOptions): ExtauthAnswerer {
  return async (request) => {
    switch (request.command) {
      case "auth": {
        const who = prepare(request.user, request.server);
        if (!who) return log.warn(`auth refused for ${shown(request.user)}@${shown(request.server)}: invalid-jid`), false;
        const jid = `${who.localpart}@${who.domain}`;
        if (!authority.hosts(who.domain)) return log.warn(`auth refused for ${jid}: unknown-domain`), false;
        if (authority.isDisabled(who.domain, who.localpart)) return log.warn(`auth refused for ${jid}: account-disabled`), false;
        const result = await authority.verify(who.domain, who.localpart, request.password);
        if (result.ok) return log.info(`auth accepted for ${result.jid}`), true;
        return log.warn(`auth refused for ${jid}: ${result.reason}`), false;
      }
      case "isuser": {
        if (isUser === "none") return false;
        const who = prepare(request.user, request.server);
        return who !== null && authority.hosts(who.domain) && !authority.isDisabled(who.domain, who.localpart);
      }
      case "malformed":
        log.warn(`request refused: ${request.why}`);
        return false;
      default:
        // setpass, tryregister, removeuser, removeuser3, certauth: accounts are not ours to manage.
        log.warn(`${request.command} refused for ${shown(request.user)}@${shown(request.server)}: not supported`);
        return false;
    }
  };
}
