/**
 * The `metrics` section: Prometheus metrics at `/metrics` on the HTTP listener. Off unless
 * `metrics.enabled` is true; then only peers in `allowFrom` (loopback by default) may scrape,
 * matched on the TCP peer address, never on a forwarded header.
 */
import { TrustedProxies, TrustedProxiesError } from "../../auth/policy/trusted-proxies.js";
import { ConfigError, boolean, object } from "./validators.js";

export interface MetricsConfig {
  /** Addresses and CIDR ranges allowed to read /metrics. */
  allowFrom: string[];
}

export const DEFAULT_METRICS_ALLOW_FROM = ["127.0.0.1", "::1"];

export function parseMetrics(value: unknown): MetricsConfig | null {
  if (value === undefined || value === null) return null;
  const raw = object(value, "metrics", ["enabled", "allowFrom"]);
  if (raw.enabled === undefined || !boolean(raw.enabled, "metrics.enabled")) return null;
  if (raw.allowFrom === undefined) return { allowFrom: [...DEFAULT_METRICS_ALLOW_FROM] };
  if (!Array.isArray(raw.allowFrom) || !raw.allowFrom.every((v) => typeof v === "string")) {
    throw new ConfigError("config: metrics.allowFrom must be a list of IP addresses or CIDR ranges");
  }
  try {
    TrustedProxies.parse(raw.allowFrom);
  } catch (err) {
    if (err instanceof TrustedProxiesError) throw new ConfigError(`config: metrics.allowFrom: ${err.message}`);
    throw err;
  }
  return { allowFrom: raw.allowFrom.map((v: string) => v.trim()) };
}
