export { XTokenMechanism, useXToken, type XTokenCredentials } from "./x-token-mechanism.js";
export { xTokenClient, connectWithToken, type ConnectWithTokenOptions, type TokenSource } from "./connect.js";
