// The @xmpp/* packages ship no declarations: ours travel with the package (see package.json "files").
/// <reference path="../types/xmpp.d.ts" preserve="true" />
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
