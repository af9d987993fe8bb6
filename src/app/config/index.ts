/** xmpp-x-token/config: the configuration file and environment, validated (what `x-token serve` reads). */
export { loadConfig, parseConfig, readConfigFile, ConfigError, type FileReader } from "./load.js";
export type { AppConfig, ServerConfig, DomainConfig, ListenerConfig, LimitsConfig, TlsConfig, DemoConfig } from "./types.js";
