export { mintToken, issueToken, randomNonce, MintError, type MintOptions, type IssueOptions, type IssuedToken } from "./mint.js";
export { DEFAULT_WINDOW, MAX_WINDOW, WINDOW_RULE, isValidWindow, expiresAt } from "./window.js";
export {
  verifyToken,
  checkToken,
  replayId,
  REJECT_REASONS,
  VerifyOptionsError,
  type VerifyResult,
  type Accepted,
  type Rejected,
  type RejectReason,
  type CheckOptions,
  type VerifyOptions,
} from "./verify.js";
export { Keyring, PreparedKey, KeyError, OTP_STEP_SECONDS, type TokenKey } from "./keys.js";
export { parseToken, formatToken, MAX_TOKEN_LENGTH, DEFAULT_NONCE_DIGITS, MIN_NONCE_DIGITS, MAX_NONCE_DIGITS, type TokenParts } from "./format.js";
export { mintedBefore, acceptedFrom } from "./not-before.js";
