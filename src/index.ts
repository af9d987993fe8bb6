/** xmpp-x-token: X-TOKEN tokens for XMPP, compatible with Prosody's mod_auth_token. */
export * from "./otp/index.js";
export * from "./token/index.js";
export { nodeprep, nameprep, prepareBareJid, normaliseBareJid, InvalidJidError, type BareJid } from "./jid/prep.js";
export type { ReplayStore, ClaimResult } from "./replay/store.js";
export { MemoryReplayStore, type MemoryReplayStoreOptions } from "./replay/memory.js";
export * from "./sasl/index.js";
export * from "./auth/index.js";
export * from "./http/index.js";
export * from "./demo/index.js";
export { startServer, type StartOptions, type RunningServer, type Logger } from "./server/index.js";
export { loadConfig, parseConfig, ConfigError } from "./config/load.js";
export type { ServerConfig, DomainConfig, ListenerConfig, LimitsConfig, TlsConfig, DemoConfig } from "./config/types.js";
