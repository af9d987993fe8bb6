/**
 * SASL EXTERNAL with a registered client certificate (XEP-0178, RFC 4422 appendix A): the TLS
 * handshake proved the client holds the certificate's key; the records say which account the
 * certificate logs in (src/auth/client-certs). Offered only on a stream whose certificate is
 * registered, enabled and valid now for an account of the stream's domain; checked again when
 * used (it may have been disabled or revoked in between).
 *
 * The message is the authorization identity: empty (or "=" on the wire) for the certificate's
 * account, or that account's bare JID; anything else is `invalid-authzid`.
 */
import { InvalidJidError, prepareBareJid } from "../../core/jid/prep.js";
import type { CertificateLoginVerdict } from "../../core/client-certs/records.js";
import { failure, type MechanismFactory } from "./registry.js";
import type { SaslContext, SaslOutcome } from "./types.js";

export interface ExternalMechanismOptions {
  /**
   * The verdict on the certificate with this fingerprint for a login to `domain` now: src/auth/
   * client-certs' certificateLogin over the records (given, not imported: SASL stays free of them).
   */
  login(fingerprint: string, domain: string): CertificateLoginVerdict;
  /** The account's own refusals (a disabled account): the TokenAuthority's, as for every other login. */
  accounts?: { accountProblem(localpart: string, domain: string): string | null };
}

/** An authzid longer than a JID can be is refused before it is read. */
const MAX_AUTHZID_BYTES = 3071;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bare JID an authzid asks for, or null when it is not one. */
function requestedAccount(message: Buffer): string | null {
  if (message.length > MAX_AUTHZID_BYTES) return null;
  let text: string;
  try {
    text = utf8.decode(message);
  } catch {
    return null;
  }
  if (text.includes("/") || text.includes("\0")) return null;
  try {
    const { local, domain } = prepareBareJid(text);
    return `${local}@${domain}`;
  } catch (err) {
    // Stryker disable next-line ConditionalExpression: equivalent, prepareBareJid throws only InvalidJidError
    if (err instanceof InvalidJidError) return null;
    throw err;
  }
}

export function externalMechanism({ login: verdictFor, accounts }: ExternalMechanismOptions): MechanismFactory {
  const login = (ctx: SaslContext) => (ctx.clientCertificate && ctx.secure ? verdictFor(ctx.clientCertificate, ctx.domain) : null);
  return {
    name: "EXTERNAL",
    offered: (ctx) => login(ctx)?.ok === true,
    start: (ctx) => ({
      async step(message): Promise<SaslOutcome> {
        // No initial response: an empty challenge asks for the authzid (RFC 6120 6.4.2).
        if (message === null) return { kind: "challenge", data: Buffer.alloc(0) };
        const verdict = login(ctx);
        if (verdict === null) return failure("not-authorized", "no-client-certificate");
        if (!verdict.ok) return failure("not-authorized", verdict.reason, verdict.account);
        const { account } = verdict;
        if (message.length > 0 && requestedAccount(message) !== account) return failure("invalid-authzid", "invalid-authzid", account);
        const at = account.lastIndexOf("@");
        const problem = accounts?.accountProblem(account.slice(0, at), account.slice(at + 1)) ?? null;
        if (problem !== null) return failure(problem === "account-disabled" ? "account-disabled" : "not-authorized", problem, account);
        return { kind: "success", jid: account, certificate: verdict.login };
      },
    }),
  };
}
