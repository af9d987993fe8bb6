/** The SQLite engine: used tokens, rosters, offline messages, web sessions, OTP credentials and FAST tokens in one file. */
export { openSqliteStorage, type SqliteStorage, type SqliteStorageOptions } from "./open.js";
export { DATABASE_FILE, StorageOpenError, openDatabase, holdDataDirectory, type Synchronous, type OpenDatabaseOptions } from "./database.js";
export { SCHEMA_VERSION } from "./schema.js";
export { SqliteReplayStore } from "./replay-store.js";
export { SqliteRosterRecords } from "./roster-records.js";
export { SqliteOfflineMessages } from "./offline-messages.js";
export { SqliteWebSessions } from "./web-sessions.js";
export { SqliteAccounts } from "./accounts.js";
export { SqliteOtpCredentials } from "./otp-credentials.js";
export { SqliteFastTokens } from "./fast-tokens.js";
export { SqliteRevocations } from "./revocations.js";
export { SqliteClientCertificates } from "./client-certificates.js";
