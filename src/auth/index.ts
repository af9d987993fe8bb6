/** xmpp-x-token/auth: the token authority, the SASL server side (no I/O) and the login policy. */
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
