/** FAST (XEP-0484): tokens handed out after a strong login, and the Hashed Token mechanism that logs in with them. */
export { HT_SHA_256_NONE, HT_SHA_256_BYTES, MAX_HT_MESSAGE_BYTES, htInitiator, htResponder, parseHtMessage, verifierOf, type HtMessage } from "./ht.js";
export {
  DEFAULT_FAST_LIFETIME_SECONDS,
  DEFAULT_FAST_ROTATION_SECONDS,
  DEFAULT_FAST_SETTINGS,
  FAST_MECHANISMS,
  FAST_TOKEN_BYTES,
  FastTokens,
  MAX_USER_AGENT_ID_LENGTH,
  isUsableUserAgentId,
  userAgentHash,
  type FastSettings,
  type FastVerdict,
  type IssuedFastToken,
  type UsedFastToken,
} from "./tokens.js";
export { htSha256NoneMechanism, type HtMechanismOptions } from "./mechanism.js";
