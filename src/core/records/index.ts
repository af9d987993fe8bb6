export { SUBSCRIPTIONS, type PendingRequest, type RosterItem, type RosterRecords, type Subscription } from "./roster.js";
export { DEFAULT_OFFLINE_LIMITS, MemoryOfflineMessages, type OfflineAddResult, type OfflineLimits, type OfflineMessages, type StoredMessage } from "./offline.js";
export type { WebSessionRecord, WebSessionRecords } from "./web-sessions.js";
export { StorageError, memoryStorage, type Storage } from "./storage.js";
export { MemoryAccounts, type AccountRecords } from "./accounts.js";
export { MAX_OTP_CREDENTIALS_PER_ACCOUNT, MemoryOtpCredentials, OtpRecordsError, type OtpCredential, type OtpCredentialSpec, type OtpCredentials, type OtpKind } from "./otp.js";
export { MAX_FAST_BINDINGS_PER_ACCOUNT, MemoryFastTokens, type FastTokenBinding, type FastTokenRecords, type FastTokenSecret, type FastTokenSlot, type FastTokenSlots } from "./fast-tokens.js";
export { MemoryRevocations, RevocationError, checkNotBefore, MAX_NOT_BEFORE_AHEAD_SECONDS, type Revocation, type RevocationBus, type RevocationRecords, type RevokeResult } from "./revocations.js";
export {
  MAX_CLIENT_CERTIFICATES_PER_ACCOUNT,
  MemoryClientCertificates,
  ClientCertRecordsError,
  type ClientCertificate,
  type ClientCertificateSpec,
  type ClientCertificateRecords,
} from "../client-certs/records.js";
