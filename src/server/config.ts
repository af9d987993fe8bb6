/**
 * What the server needs to know, once validated (src/app/config builds it from a JSON file and
 * the environment; anyone embedding the server can build it in code).
 */
import type { TokenKey } from "../core/token/keys.js";

export interface DomainConfig {
  /** Current key first; every key verifies (rotation). */
  keys: TokenKey[];
  /** TOTP steps accepted either side of now; Prosody uses 1. */
  window: number;
  /** The tokens' exact nonce length in digits (32; 16..128 for another generator); never "any". */
  nonceDigits: number;
  /** Prepared localparts whose logins are refused with `account-disabled`. */
  disabledUsers: string[];
}

export interface ListenerConfig {
  /** Bind address; loopback by default. */
  host: string;
  /** TCP c2s with STARTTLS (5222); 0 picks a free port; null disables. */
  c2sPort: number | null;
  /** Direct TLS c2s (XEP-0368, usually 5223); null (default) disables. */
  directTlsPort: number | null;
  /** HTTP port serving WebSocket (and mounted HTTP handlers) (5280); 0 picks a free port; null disables. */
  httpPort: number | null;
  /** WebSocket path, `/xmpp-websocket` by default. */
  websocketPath: string;
  /** XEP-0114 component listener's bind address: loopback unless configured (the protocol has no TLS). */
  componentHost?: string;
  /** XEP-0114 component listener (5347 when `components` are configured); null disables. */
  componentPort?: number | null;
}

export interface TlsConfig {
  /** PEM certificate chain and private key (contents, already read from their files). */
  cert: string;
  key: string;
}

export interface LimitsConfig {
  /** Largest stanza, in bytes, before authentication. */
  maxStanzaBytesBeforeAuth: number;
  /** Largest stanza, in bytes, after authentication. */
  maxStanzaBytes: number;
  /** Seconds an unauthenticated stream may live. */
  authTimeoutSeconds: number;
  /** Failed SASL attempts allowed on one connection before it is closed. */
  maxAuthFailuresPerConnection: number;
  /** Failed logins per IP per minute before further attempts get `temporary-auth-failure`. */
  maxAuthFailuresPerIpPerMinute: number;
  /** Failed logins per JID per minute before further attempts get `temporary-auth-failure`. */
  maxAuthFailuresPerJidPerMinute: number;
  /**
   * Bytes that may wait to be sent to one connection: past it the server stops reading from that
   * connection, and stanzas routed to it are dropped (messages and IQ requests bounce with
   * `resource-constraint`).
   */
  maxOutboundBytes: number;
  /** Failed-login log lines written per IP per minute; further ones are summed up in one line. */
  maxFailureLinesPerIpPerMinute: number;
  /** Seconds of silence after which an authenticated stream is closed (0: never). */
  idleTimeoutSeconds: number;
  /**
   * Seconds a client whose outbound queue is over `maxOutboundBytes` may take no byte of it: then
   * its stream is closed with `connection-timeout` (a client that never reads is cut off).
   */
  outboundStallSeconds: number;
  /**
   * Bound sessions of one account: a new bind past it closes the account's session heard from
   * least recently, with the stream error `conflict` (the new login is never refused).
   */
  maxSessionsPerAccount: number;
  /**
   * Largest broadcast presence (no `to`), in bytes as serialised: what is kept as a session's
   * presence and sent to everyone who sees it. A bigger one is refused with `policy-violation`.
   */
  maxPresenceBytes: number;
}

/**
 * What the server takes for the limits added after LimitsConfig's first version when a
 * configuration built in code (or in JavaScript) leaves them out; src/app/config ships the same.
 */
export const LIMIT_FALLBACKS: Pick<LimitsConfig, "outboundStallSeconds" | "maxSessionsPerAccount" | "maxPresenceBytes"> = {
  outboundStallSeconds: 60,
  maxSessionsPerAccount: 10,
  maxPresenceBytes: 8 * 1024,
};

/** One of those limits: the configured value when it is a positive number, else the fallback. */
export function limitOf(limits: Partial<LimitsConfig>, name: keyof typeof LIMIT_FALLBACKS): number {
  const value = limits[name];
  return typeof value === "number" && value > 0 ? value : LIMIT_FALLBACKS[name];
}

export interface ServerConfig {
  /** Hosted domains, prepared (lower-case), each with its keys. */
  domains: Record<string, DomainConfig>;
  listeners: ListenerConfig;
  /** Certificate for STARTTLS, direct TLS (and https/wss if ever added); null: no TLS offered. */
  tls: TlsConfig | null;
  /** No authentication before STARTTLS (default true, like Prosody's c2s_require_encryption). */
  requireTls: boolean;
  /** Offer PLAIN (password = token) on streams without TLS too (default false). */
  allowPlainWithoutTls: boolean;
  limits: LimitsConfig;
  /**
   * Reverse proxies (IP addresses or CIDR ranges) whose X-Forwarded-For / X-Forwarded-Proto are
   * believed; empty (default): forwarded headers are ignored from everyone, loopback included.
   */
  trustedProxies: string[];
  /**
   * Count a WebSocket from a loopback address without forwarded headers as TLS-protected (for
   * development over ws://127.0.0.1; `serve --dev` sets it). Absent or false (default): a
   * loopback address alone never makes a stream secure.
   */
  loopbackWebSocketIsSecure?: boolean;
  /**
   * Who sees a user's presence (RFC 6121 4): `roster` (default) is the contacts subscribed to it
   * and the user's own other sessions; `domain` is every available session on the user's domain
   * (a "who is online" list: the development demo's page; `serve --dev` sets it).
   */
  presenceBroadcast?: PresenceBroadcast;
  /** Capacity of the in-memory replay store. */
  replayMaxEntries: number;
  /** XEP-0114 components this server hosts, by domain (see component-stream.ts); none when absent. */
  components?: Record<string, HostedComponentConfig>;
}

export type PresenceBroadcast = "roster" | "domain";
export const PRESENCE_BROADCASTS: readonly PresenceBroadcast[] = ["roster", "domain"];

export interface HostedComponentConfig {
  /** The XEP-0114 handshake secret. */
  secret: string;
}
