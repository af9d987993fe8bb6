/**
 * X-TOKEN, and PLAIN whose password is an X-TOKEN token or, for a one-time password account, its
 * PIN followed by a code (docs/otp.md). Both read the same PLAIN-shaped message and end in the
 * same checks; they differ in name, in where they are offered, and in PLAIN's second kind of
 * password.
 */
import { InvalidJidError, prepareBareJid } from "../../core/jid/prep.js";
import { parsePlainMessage } from "./message.js";
import { failure, type MechanismFactory, type ServerMechanism } from "./registry.js";
import type { OtpCheck, SaslCondition, SaslContext, SaslOutcome, TokenCheck } from "./types.js";

/** Consulted before a token is checked, with the JID that tries: rate limits, bans. */
export type AuthGate = (ctx: SaslContext, jid: string) => "allow" | "deny" | Promise<"allow" | "deny">;

export interface TokenMechanismOptions {
  /** The TokenAuthority, or anything else with its one `check`. */
  authority: TokenCheck;
  gate?: AuthGate;
  /** Offer PLAIN on streams without TLS too (tokens are one-time, but still bearer secrets). */
  allowPlainWithoutTls?: boolean;
  /** One-time password accounts (src/auth/otp's OtpVerifier): PLAIN takes PIN + code for them. */
  otp?: OtpCheck;
}

/** Reasons that say the server could not decide, not that the token is bad. */
const TEMPORARY_REASONS = new Set(["replay-store-full", "replay-store-error", "otp-store-error"]);

/**
 * The check of a password (PLAIN's, or extauth's): a password with the shape of a token is
 * checked as a token; any other is checked against the account's one-time password credentials
 * when it has some, and else as a token after all (which refuses it as `malformed`, as for any
 * account without them). One function, so every way in follows the same rules.
 */
export async function checkPassword(
  { authority, otp }: { authority: TokenCheck; otp?: OtpCheck | undefined },
  localpart: string,
  domain: string,
  password: string,
): Promise<{ ok: true; jid: string } | { ok: false; reason: string }> {
  // The shape is the authority's to know (TokenAuthority.isToken); without it, credentials first.
  if (otp && !(authority.isToken?.(password) ?? false)) {
    const verdict = await otp.check(localpart, domain, password);
    if (verdict !== null) return verdict;
  }
  return authority.check(localpart, domain, password);
}

/** The SASL condition for each refusal the authority can give; the rest are not-authorized. */
function conditionFor(reason: string): SaslCondition {
  if (TEMPORARY_REASONS.has(reason)) return "temporary-auth-failure";
  if (reason === "account-disabled") return "account-disabled";
  // Prosody raises an error (and never replies) for a password that is no token; we answer.
  if (reason === "malformed") return "malformed-request";
  return "not-authorized";
}

/** From one PLAIN-shaped message to an outcome: the whole X-TOKEN decision. */
export async function authenticateTokenMessage(
  message: Buffer,
  ctx: SaslContext,
  { authority, gate, otp }: Pick<TokenMechanismOptions, "authority" | "gate" | "otp">,
): Promise<SaslOutcome> {
  const parsed = parsePlainMessage(message);
  if ("error" in parsed) return failure("malformed-request", parsed.error);
  const jid = `${parsed.localpart}@${ctx.domain}`;
  if (parsed.authzid !== "") {
    let requested: string;
    try {
      const bare = prepareBareJid(parsed.authzid);
      // Stryker disable next-line StringLiteral: equivalent, any text that is not this account's bare JID is refused the same
      requested = parsed.authzid.includes("/") ? "" : `${bare.local}@${bare.domain}`;
    } catch (err) {
      // Stryker disable next-line ConditionalExpression: equivalent, prepareBareJid throws only InvalidJidError
      if (!(err instanceof InvalidJidError)) throw err;
      // Stryker disable next-line StringLiteral: equivalent, any text that is not this account's bare JID is refused the same
      requested = "";
    }
    if (requested !== jid) return failure("invalid-authzid", "invalid-authzid", jid);
  }
  if (gate && (await gate(ctx, jid)) === "deny") return failure("temporary-auth-failure", "rate-limited", jid);
  // The one check: the token's shape is read there, once, and the JID is not prepared again.
  const verdict = otp ? await checkPassword({ authority, otp }, parsed.localpart, ctx.domain, parsed.secret) : await authority.check(parsed.localpart, ctx.domain, parsed.secret);
  if (verdict.ok) return { kind: "success", jid: verdict.jid };
  return failure(conditionFor(verdict.reason), verdict.reason, jid);
}

/** A client-first mechanism: one message, or an empty challenge first when `<auth/>` had none. */
function clientFirst(ctx: SaslContext, options: TokenMechanismOptions): ServerMechanism {
  return {
    async step(message) {
      if (message === null) return { kind: "challenge", data: Buffer.alloc(0) };
      return authenticateTokenMessage(message, ctx, options);
    },
  };
}

/** X-TOKEN takes tokens only: one-time password accounts log in with PLAIN. */
export function xTokenMechanism({ otp: _otp, ...options }: TokenMechanismOptions): MechanismFactory {
  return { name: "X-TOKEN", offered: () => true, start: (ctx) => clientFirst(ctx, options) };
}

export function plainTokenMechanism(options: TokenMechanismOptions): MechanismFactory {
  return {
    name: "PLAIN",
    offered: (ctx) => ctx.secure || options.allowPlainWithoutTls === true,
    start: (ctx) => clientFirst(ctx, options),
  };
}
