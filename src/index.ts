/** xmpp-x-token: X-TOKEN tokens for XMPP, compatible with Prosody's mod_auth_token. */
export * from "./core/otp/index.js";
export * from "./core/token/index.js";
export { systemClock, type Clock } from "./core/clock.js";
export { nodeprep, nameprep, prepareBareJid, normaliseBareJid, InvalidJidError, type BareJid } from "./core/jid/prep.js";
export type { ReplayStore, ClaimResult } from "./core/replay/store.js";
export { MemoryReplayStore, type MemoryReplayStoreOptions } from "./core/replay/memory.js";
export * from "./stores/redis/index.js";
export * from "./auth/sasl/index.js";
export * from "./auth/index.js";
export * from "./web/endpoint/index.js";
export * from "./web/demo/index.js";
export { startServer, type StartOptions, type RunningServer, type Logger } from "./server/index.js";
export { loadConfig, parseConfig, ConfigError } from "./app/config/load.js";
export type { AppConfig, ServerConfig, DomainConfig, ListenerConfig, LimitsConfig, TlsConfig, DemoConfig } from "./app/config/types.js";
