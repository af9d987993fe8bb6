/**
 * The server side of SASL (RFC 4422, RFC 6120 section 6) with no I/O: a mechanism is a small
 * state machine from the client's decoded messages to an outcome. Transports (our server, or
 * anyone else's) do the base64 and the XML around it.
 */
import type { CertificateLogin } from "../../core/client-certs/records.js";

/** RFC 6120 section 6.5 failure conditions. */
export type SaslCondition =
  | "aborted"
  | "account-disabled"
  | "credentials-expired"
  | "encryption-required"
  | "incorrect-encoding"
  | "invalid-authzid"
  | "invalid-mechanism"
  | "malformed-request"
  | "mechanism-too-weak"
  | "not-authorized"
  | "temporary-auth-failure";

export type SaslOutcome =
  /** Send `<challenge/>` with these bytes (empty for an empty challenge). */
  | { kind: "challenge"; data: Buffer }
  /**
   * Send `<success/>`; the stream is authenticated as `jid` (prepared bare JID). `additionalData`
   * goes with it where the wire has room (SASL2's `<additional-data>`: a Hashed Token responder);
   * `fastToken` says which FAST token the login was made with (rotation, invalidation follow);
   * `certificate`: it logged in with this client certificate (EXTERNAL), which may fix its resource.
   */
  | { kind: "success"; jid: string; additionalData?: Buffer; fastToken?: FastTokenUse; certificate?: CertificateLogin }
  /**
   * Send `<failure><condition/></failure>`. `reason` is the precise cause for logs and metrics
   * (e.g. a token RejectReason); `jid` is who tried, when it is known. Neither is sent to the client.
   */
  | { kind: "failure"; condition: SaslCondition; reason: string; jid?: string };

/** What a mechanism knows of the stream it runs on. */
export interface SaslContext {
  /** The stream's domain (the `to` of the client's stream header), already prepared. */
  domain: string;
  /** Whether the stream is protected by TLS (or is loopback-only and the operator allows that). */
  secure: boolean;
  /** The client's address, for rate limits and logs. */
  remoteAddress?: string;
  /** SASL2's `<user-agent id=…>`, as sent (FAST tokens are bound to it); absent in legacy SASL. */
  userAgentId?: string;
  /** The SHA-256 fingerprint of the certificate the client presented in the TLS handshake, if any (EXTERNAL). */
  clientCertificate?: string;
}

/** The FAST token (XEP-0484) a login was made with: its binding, which slot held it, and when it was handed out. */
export interface FastTokenUse {
  /** The records' FastTokenBinding (src/core/records/fast-tokens.ts), spelled out: SASL needs no store. */
  binding: { account: string; agentHash: string; mechanism: string };
  /** SHA-256 of the initiator message: which token of the binding it was. */
  verifier: Uint8Array;
  slot: "current" | "new";
  /** Unix seconds. */
  issuedAt: number;
}

/**
 * The one call a token mechanism makes (the shape of a Prosody auth profile): is `token` good for
 * `localpart@domain` (both already prepared)? `TokenAuthority` is one; an external program or a
 * remote service can be another. `reason` is "account-disabled", a token RejectReason
 * ("malformed", "bad-signature", "replayed", ...) or another word for the logs.
 */
export interface TokenCheck {
  check(localpart: string, domain: string, token: string): Promise<{ ok: true; jid: string } | { ok: false; reason: string }>;
  /** Whether `password` has the shape of a token (checkPassword then checks it as one first). */
  isToken?(password: string): boolean;
}

/**
 * The check of one-time password accounts (src/auth/otp's OtpVerifier): null when the account
 * has no such credential, else the verdict for `password` (PIN followed by the code). `reason`
 * is a word for the logs ("otp-invalid", "otp-replayed", ...), never the code.
 */
export interface OtpCheck {
  check(localpart: string, domain: string, password: string): Promise<{ ok: true; jid: string } | { ok: false; reason: string } | null>;
}
