export { mintToken, randomNonce, MintError, type MintOptions } from "./mint.js";
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
