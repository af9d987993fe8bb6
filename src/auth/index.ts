/**
 * xmpp-x-token/auth: the token authority, the SASL server side (no I/O) and the login policy.
 * One-time password accounts (their login check, and managing credentials for a web backend's
 * enrolment screens) have their own entry point, xmpp-x-token/otp (src/auth/otp, docs/otp.md).
 */
export { TokenAuthority, type AuthorityOptions, type AuthorityDomain, type AuthorityVerdict } from "./authority.js";
export * from "./sasl/index.js";
export {
  LoginLimiter,
  type LoginPolicy,
  type LoginLimits,
  type LoginLimiterOptions,
  type LoginAttempt,
  type AttemptResult,
  type Settlement,
  type FailureCounter,
} from "./policy/login-limiter.js";
export { WindowCounter, type WindowCounterOptions } from "./policy/window-counter.js";
export {
  ClientCertError,
  CertificateError,
  MAX_CERTIFICATE_BYTES,
  MAX_CERTIFICATE_NAME_CHARS,
  MAX_CLIENT_CERTIFICATES_PER_ACCOUNT,
  certificateDer,
  certificateFingerprint,
  parseCertificate,
  registerClientCertificate,
  listClientCertificates,
  disableClientCertificate,
  revokeClientCertificate,
  registeredFromFile,
  certificateLogin,
  type CertificateLogin,
  type ClientCertificate,
  type ClientCertificateRecords,
  type ParsedCertificate,
  type RegisterOptions,
} from "./client-certs/index.js";
