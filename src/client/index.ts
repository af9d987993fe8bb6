export {
  XTokenMechanism,
  useXToken,
  xTokenMechanismFor,
  isStreamEncrypted,
  assertTokenMaySend,
  InsecureStreamError,
  type XTokenCredentials,
  type XTokenClientOptions,
  type StreamEntityLike,
} from "./x-token-mechanism.js";
export { xTokenClient, connectWithToken, type ConnectWithTokenOptions, type TokenSource } from "./connect.js";
