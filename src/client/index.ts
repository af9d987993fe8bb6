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
export { fastXTokenLogin, hearStreamHeaderEarly, type FastXTokenLogin, type FastXTokenOptions, type FastCapableClient } from "./fast-login.js";
export {
  memoryFastStore,
  webStorageFastStore,
  parseFastState,
  serializeFastState,
  FastStoreError,
  type FastStore,
  type FastState,
  type FastToken,
  type StorageLike,
} from "./fast-store.js";
export { fileFastStore } from "./file-store.js";
export type { Client, ClientOptions, Credentials, CredentialsCallback, Authenticate, JID } from "@xmpp/client";
