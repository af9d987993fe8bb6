/**
 * The X-TOKEN SASL server side, for our server and for any other Node XMPP server:
 * decode the element's text with decodeSaslPayload, hand the bytes to a mechanism, and turn
 * the outcome back into `<challenge/>`, `<success/>` or `<failure/>`.
 */
import { SaslRegistry, failure } from "./registry.js";
import { authenticateTokenMessage, plainTokenMechanism, xTokenMechanism, type AuthGate, type TokenMechanismOptions } from "./token-mechanisms.js";
import type { SaslContext, SaslOutcome, TokenCheck } from "./types.js";

export * from "./types.js";
export { SaslRegistry, ABORTED, INVALID_MECHANISM, failure, type MechanismFactory, type ServerMechanism } from "./registry.js";
export { decodeSaslPayload, encodeSaslPayload, type DecodedPayload } from "./encoding.js";
export { parsePlainMessage, MAX_PLAIN_MESSAGE_BYTES, type PlainMessage } from "./message.js";
export { externalMechanism, type ExternalMechanismOptions } from "./external.js";
export { xTokenMechanism, plainTokenMechanism, authenticateTokenMessage, checkPassword, type AuthGate, type TokenMechanismOptions } from "./token-mechanisms.js";

/**
 * The registry our server uses: X-TOKEN first, then PLAIN where allowed (a token, or with
 * `otp`, PIN + code for one-time password accounts).
 */
export function createXTokenSasl(options: TokenMechanismOptions): SaslRegistry {
  return new SaslRegistry().use(xTokenMechanism(options)).use(plainTokenMechanism(options));
}

/** One-shot check of a decoded X-TOKEN initial response, for servers with their own SASL state. */
export function authenticateXToken(
  authority: TokenCheck,
  { message, domain, secure, remoteAddress, gate }: { message: Buffer; domain: string; secure: boolean; remoteAddress?: string; gate?: AuthGate },
): Promise<SaslOutcome> {
  const ctx: SaslContext = remoteAddress === undefined ? { domain, secure } : { domain, secure, remoteAddress };
  // Same promise as a registered mechanism: an outcome for every input, never a rejection.
  return authenticateTokenMessage(message, ctx, gate ? { authority, gate } : { authority }).catch(() => failure("temporary-auth-failure", "internal-error"));
}
