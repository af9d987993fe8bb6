/**
 * X-TOKEN, and PLAIN whose password is an X-TOKEN token. Both read the same PLAIN-shaped
 * message and end in the same checks; they differ in name and in where they are offered.
 */
import { InvalidJidError, prepareBareJid } from "../../core/jid/prep.js";
import { parseToken } from "../../core/token/format.js";
import type { TokenAuthority } from "../authority.js";
import { parsePlainMessage } from "./message.js";
import { failure, type MechanismFactory, type ServerMechanism } from "./registry.js";
import type { SaslContext, SaslOutcome } from "./types.js";

/** Consulted before a token is checked, with the JID that tries: rate limits, bans. */
export type AuthGate = (ctx: SaslContext, jid: string) => "allow" | "deny" | Promise<"allow" | "deny">;

export interface TokenMechanismOptions {
  authority: TokenAuthority;
  gate?: AuthGate;
  /** Offer PLAIN on streams without TLS too (tokens are one-time, but still bearer secrets). */
  allowPlainWithoutTls?: boolean;
}

/** Reasons that say the server could not decide, not that the token is bad. */
const TEMPORARY_REASONS = new Set(["replay-store-full", "replay-store-error"]);

/** From one PLAIN-shaped message to an outcome: the whole X-TOKEN decision. */
export async function authenticateTokenMessage(
  message: Buffer,
  ctx: SaslContext,
  { authority, gate }: Pick<TokenMechanismOptions, "authority" | "gate">,
): Promise<SaslOutcome> {
  const parsed = parsePlainMessage(message);
  if ("error" in parsed) return failure("malformed-request", parsed.error);
  const jid = `${parsed.localpart}@${ctx.domain}`;
  // Prosody raises an error (and never replies) for a password without a space; we answer.
  if (!parseToken(parsed.secret)) return failure("malformed-request", "malformed", jid);
  if (parsed.authzid !== "") {
    let requested: string;
    try {
      const bare = prepareBareJid(parsed.authzid);
      requested = parsed.authzid.includes("/") ? "" : `${bare.local}@${bare.domain}`;
    } catch (err) {
      if (!(err instanceof InvalidJidError)) throw err;
      requested = "";
    }
    if (requested !== jid) return failure("invalid-authzid", "invalid-authzid", jid);
  }
  if (gate && (await gate(ctx, jid)) === "deny") return failure("temporary-auth-failure", "rate-limited", jid);
  if (authority.isDisabled(ctx.domain, parsed.localpart)) return failure("account-disabled", "account-disabled", jid);
  const result = await authority.verify(ctx.domain, parsed.localpart, parsed.secret);
  if (result.ok) return { kind: "success", jid: result.jid };
  const condition = TEMPORARY_REASONS.has(result.reason) ? "temporary-auth-failure" : "not-authorized";
  return failure(condition, result.reason, jid);
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

export function xTokenMechanism(options: TokenMechanismOptions): MechanismFactory {
  return { name: "X-TOKEN", offered: () => true, start: (ctx) => clientFirst(ctx, options) };
}

export function plainTokenMechanism(options: TokenMechanismOptions): MechanismFactory {
  return {
    name: "PLAIN",
    offered: (ctx) => ctx.secure || options.allowPlainWithoutTls === true,
    start: (ctx) => clientFirst(ctx, options),
  };
}
