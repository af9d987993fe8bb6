/**
 * What `x-token extauth` answers to each request of an XMPP server's external-auth protocol:
 * `auth` is the login check of our own PLAIN (checkPassword): a token goes to the authority
 * (hosted domain, enabled account, signature, time window, replay store), the PIN + code of a
 * one-time password account to its credentials (docs/otp.md); `isuser` says whether a user
 * could hold tokens here, and every account-management command is refused. Answers are yes/no;
 * the log line says why, never with the password.
 */
import { InvalidJidError, nameprep, nodeprep } from "../core/jid/prep.js";
import type { TokenAuthority } from "../auth/authority.js";
import { checkPassword, type OtpCheck } from "../auth/sasl/index.js";
import type { ExtauthRequest } from "./protocol.js";

/** Who `isuser` says exists: any valid username at a hosted domain, or nobody. */
export type IsUserPolicy = "hosted" | "none";
export const IS_USER_POLICIES: readonly IsUserPolicy[] = ["hosted", "none"];

/** One line per decision; callers write it to stderr. Never given a token or password. */
export interface ExtauthLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface ExtauthAnswererOptions {
  authority: TokenAuthority;
  /** One-time password accounts (src/auth/otp's OtpVerifier over the shared database); tokens only when absent. */
  otp?: OtpCheck;
  isUser?: IsUserPolicy;
  log: ExtauthLog;
}

export type ExtauthAnswerer = (request: ExtauthRequest) => Promise<boolean>;

/** The user and domain prepared as everywhere (nodeprep, nameprep), or null when invalid. */
function prepare(user: string, server: string): { localpart: string; domain: string } | null {
  try {
    return { localpart: nodeprep(user), domain: nameprep(server) };
  } catch (err) {
    // Stryker disable next-line ConditionalExpression: nodeprep and nameprep throw only InvalidJidError; the check keeps a future bug loud
    if (err instanceof InvalidJidError) return null;
    throw err;
  }
}

/** A name from the request for a log line: printable, bounded, quoted. */
function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

export function createExtauthAnswerer({ authority, otp, isUser = "hosted", log }: ExtauthAnswererOptions): ExtauthAnswerer {
  return async (request) => {
    switch (request.command) {
      case "auth": {
        const who = prepare(request.user, request.server);
        if (!who) return log.warn(`auth refused for ${shown(request.user)}@${shown(request.server)}: invalid-jid`), false;
        const verdict = await checkPassword({ authority, otp }, who.localpart, who.domain, request.password);
        if (verdict.ok) return log.info(`auth accepted for ${verdict.jid}`), true;
        return log.warn(`auth refused for ${who.localpart}@${who.domain}: ${verdict.reason}`), false;
      }
      case "isuser": {
        // Whether the account exists (for offline storage, rosters): a disabled one still does.
        if (isUser === "none") return false;
        const who = prepare(request.user, request.server);
        return who !== null && authority.hosts(who.domain);
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
