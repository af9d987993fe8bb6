/**
 * HT-SHA-256-NONE as a server mechanism (draft-schmaus-kitten-sasl-ht-09, for FAST): one
 * message, one verdict, never a challenge (a challenge crashes xmpp.js, and the mechanism has
 * none to make). Offered only inside SASL2's `<fast/>` on a TLS-protected stream, never in
 * legacy SASL (a token is bound to a user agent, which only SASL2 names).
 */
import { nodeprep } from "../../core/jid/prep.js";
import { prepareSaslString } from "../sasl/message.js";
import { failure, type MechanismFactory } from "../sasl/registry.js";
import type { SaslCondition } from "../sasl/types.js";
import type { RevocationRecords } from "../../core/records/revocations.js";
import { HT_SHA_256_NONE, parseHtMessage } from "./ht.js";
import type { FastTokens } from "./tokens.js";

export interface HtMechanismOptions {
  tokens: FastTokens;
  /** The rules every login of a domain follows (TokenAuthority.accountProblem): not hosted, disabled. */
  accounts: { accountProblem(localpart: string, domain: string): string | null };
  /**
   * An account's revocation time (docs/revocation.md): a FAST token handed out before it is
   * refused. Revoking deletes the tokens of the node that hears it; this check covers a node that
   * did not (down, or cut off from Redis, at the time) but reads the shared records.
   */
  revocations?: Pick<RevocationRecords, "notBefore">;
}

function conditionFor(reason: string): SaslCondition {
  if (reason === "fast-expired") return "credentials-expired";
  if (reason === "fast-store-error" || reason === "revocation-store-error") return "temporary-auth-failure";
  if (reason === "account-disabled") return "account-disabled";
  return "not-authorized";
}

export function htSha256NoneMechanism({ tokens, accounts, revocations }: HtMechanismOptions): MechanismFactory {
  return {
    name: HT_SHA_256_NONE,
    offered: (ctx) => ctx.secure,
    start: (ctx) => ({
      async step(message) {
        if (message === null) return failure("malformed-request", "no-initial-response");
        const parsed = parseHtMessage(message);
        if ("error" in parsed) return failure("malformed-request", parsed.error);
        let localpart: string;
        try {
          localpart = nodeprep(prepareSaslString(parsed.authcid));
        } catch {
          // InvalidJidError from nodeprep, or saslprep's error for a prohibited character.
          return failure("malformed-request", "prep-failed");
        }
        if (localpart === "") return failure("malformed-request", "empty-field");
        const jid = `${localpart}@${ctx.domain}`;
        const problem = accounts.accountProblem(localpart, ctx.domain);
        if (problem !== null) return failure(conditionFor(problem), problem, jid);
        const verdict = tokens.verify(jid, ctx.userAgentId, HT_SHA_256_NONE, parsed.initiator);
        if (!verdict.ok) return failure(conditionFor(verdict.reason), verdict.reason, jid);
        if (revocations) {
          let notBefore: number | null;
          try {
            notBefore = await revocations.notBefore(jid);
          } catch {
            return failure("temporary-auth-failure", "revocation-store-error", jid);
          }
          if (notBefore !== null && verdict.used.issuedAt < notBefore) return failure("not-authorized", "revoked", jid);
        }
        return { kind: "success", jid, additionalData: verdict.responder, fastToken: verdict.used };
      },
    }),
  };
}
