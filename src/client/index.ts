export {
  XTokenMechanism,
  useXToken,
  xTokenMechanismFor,
  isStreamEncrypted,
  assertTokenMaySend,
  InsecureStreamError,
  LoginNotOfferedError,
  isDeadEndFeatures,
  type XTokenCredentials,
  type XTokenClientOptions,
  type StreamEntityLike,
} from "./x-token-mechanism.js";
export { xTokenClient, connectWithToken, type ConnectWithTokenOptions, type TokenSource, type OnlineClient } from "./connect.js";
export type { Client, ClientOptions, Credentials, CredentialsCallback, Authenticate, JID } from "@xmpp/client";
