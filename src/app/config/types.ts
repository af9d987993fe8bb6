/**
 * The whole configuration once loaded and validated (from a JSON file and/or environment
 * variables; see load.ts): the server's part (src/server/config.ts), the demo app's
 * (src/web/demo/app.ts) and the x-token component's. Each layer owns its own option types.
 */
import type { ServerConfig } from "../../server/config.js";
import type { DemoConfig } from "../../web/demo/app.js";
import type { TokenComponentConfig } from "./component.js";
import type { MetricsConfig } from "./metrics.js";
import type { FastSettings } from "../../auth/fast/tokens.js";
import type { StorageSettings } from "./storage.js";
import type { OtpSettings } from "./otp.js";
import type { RevocationConfig } from "./revocation.js";

export type { DomainConfig, ListenerConfig, TlsConfig, LimitsConfig, ServerConfig, HostedComponentConfig } from "../../server/config.js";
export type { DemoConfig } from "../../web/demo/app.js";

export interface AppConfig extends ServerConfig {
  /** The demo web app on the HTTP port; null when not configured. */
  demo: DemoConfig | null;
  /** `x-token component`'s settings; null when not configured. */
  tokenComponent?: TokenComponentConfig | null;
  /** Where used tokens and login failure counts live: memory (absent, or redis null) or a shared Redis. */
  store?: StoreConfig;
  /** What outlives the process (SQLite in a data directory, or memory); see storage.ts. */
  storage?: StorageSettings;
  /** Prometheus metrics at /metrics on the HTTP listener; null (absent) when off. */
  metrics?: MetricsConfig | null;
  /** FAST tokens' lifetime and rotation age (docs/fast.md); the defaults when absent. */
  fast?: FastSettings;
  /** One-time password accounts (otp.ts); DEFAULT_OTP_SETTINGS when absent. */
  otp?: OtpSettings;
  /** The revocation endpoint on the HTTP listener (docs/revocation.md); null (absent) when off. */
  revocation?: RevocationConfig | null;
}

export interface StoreConfig {
  redis: RedisStoreSettings | null;
}

/** `store.redis`, with defaults applied. The URL may hold a password: never log it whole. */
export interface RedisStoreSettings {
  url: string;
  /** The deployment's prefix (`x-token:`); keys are `<prefix>replay:…`, `<prefix>fail-ip:…`, `<prefix>fail-jid:…`, `<prefix>revoked:…`. */
  keyPrefix: string;
  timeoutMs: number;
}
