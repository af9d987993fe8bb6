/**
 * Server configuration from a JSON file and/or environment variables, validated into a
 * AppConfig. Every problem is one ConfigError line naming the setting, never its value.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createSecureContext } from "node:tls";
import { InvalidJidError, nodeprep } from "../../core/jid/prep.js";
import { Keyring, KeyError, type TokenKey } from "../../core/token/keys.js";
import { MIN_SESSION_SECRET_BYTES, weakSecretProblem } from "../../core/token/secret-strength.js";
import { DEFAULT_NONCE_DIGITS, MAX_NONCE_DIGITS, MIN_NONCE_DIGITS } from "../../core/token/format.js";
import { isPasswordHash } from "../../auth/password/scrypt-hash.js";
import { TrustedProxies, TrustedProxiesError } from "../../auth/policy/trusted-proxies.js";
import { DEFAULT_LOGIN_LIMITS } from "../../auth/policy/login-limiter.js";
import type { DemoConfig, DomainConfig, LimitsConfig, ListenerConfig, AppConfig } from "./types.js";
import { boolean, ConfigError, domainName, integer, isObject, object, secret, setOwn, string, type FileReader, type Raw } from "./validators.js";

export { ConfigError, type FileReader };
import { DEFAULT_COMPONENT_PORT, parseComponents, parseTokenComponent } from "./component.js";
import { DEFAULT_WINDOW, MAX_WINDOW } from "../../core/token/window.js";
import { parseStore } from "./store.js";
import { parseStorage } from "./storage.js";
import { parseMetrics } from "./metrics.js";
import { parseFast } from "./fast.js";
import { parseOtp } from "./otp.js";
import { parseRevocation } from "./revocation.js";
import { PRESENCE_BROADCASTS, type PresenceBroadcast } from "../../server/config.js";


export const DEFAULT_LISTENERS: ListenerConfig = {
  host: "127.0.0.1",
  c2sPort: 5222,
  directTlsPort: null,
  httpPort: 5280,
  websocketPath: "/xmpp-websocket",
  componentHost: "127.0.0.1",
  componentPort: null,
};

export const DEFAULT_LIMITS: LimitsConfig = {
  maxStanzaBytesBeforeAuth: 10 * 1024,
  maxStanzaBytes: 256 * 1024,
  maxOutboundBytes: 1024 * 1024,
  maxFailureLinesPerIpPerMinute: 10,
  authTimeoutSeconds: 30,
  ...DEFAULT_LOGIN_LIMITS,
  idleTimeoutSeconds: 0,
  outboundStallSeconds: 60,
  maxSessionsPerAccount: 10,
  maxPresenceBytes: 8 * 1024,
};

export { DEFAULT_WINDOW };
export const DEFAULT_REPLAY_MAX_ENTRIES = 100_000;

/**
 * Who reads the configuration: the server (listeners must be usable: TLS where required), or
 * a verifier without listeners (`x-token extauth`), which needs the domains and the store.
 */
export type ConfigRole = "server" | "verifier";



function port(value: unknown, path: string): number | null {
  return value === null ? null : integer(value, path, 0, 65535);
}

function keys(value: unknown, path: string, env: NodeJS.ProcessEnv, readFile: FileReader): TokenKey[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`config: ${path} must be a non-empty list of keys`);
  const list = value.map((entry, i) => {
    const at = `${path}[${i}]`;
    const raw = object(entry, at, ["tokenSecret", "tokenSecretFile", "tokenSecretEnv", "otpSeed", "otpSeedFile", "otpSeedEnv"]);
    return { tokenSecret: secret(raw, "tokenSecret", at, env, readFile), otpSeed: secret(raw, "otpSeed", at, env, readFile) };
  });
  list.forEach((key, i) => checkKey(key, (field) => `${path}[${i}].${field}`));
  return list;
}

/**
 * Validates one key with the token core's own rules (Keyring), reporting the setting by name:
 * the KeyError's `field` and `problem` (never the value) after `name(field)`.
 */
export function checkKey(key: TokenKey, name: (field: "tokenSecret" | "otpSeed") => string): void {
  try {
    new Keyring([key]);
  } catch (err) {
    if (!(err instanceof KeyError)) throw err;
    if (err.field === undefined || err.problem === undefined) throw new ConfigError(`config: ${name("otpSeed").replace(/\.otpSeed$/, "")}: ${err.message}`);
    throw new ConfigError(`config: ${name(err.field)} ${err.problem}`);
  }
}


function domain(value: unknown, path: string, env: NodeJS.ProcessEnv, readFile: FileReader): DomainConfig {
  const raw = object(value, path, ["keys", "window", "nonceDigits", "disabledUsers"]);
  const disabled = raw.disabledUsers ?? [];
  if (!Array.isArray(disabled)) throw new ConfigError(`config: ${path}.disabledUsers must be a list of usernames`);
  return {
    keys: keys(raw.keys, `${path}.keys`, env, readFile),
    window: raw.window === undefined ? DEFAULT_WINDOW : integer(raw.window, `${path}.window`, 0, MAX_WINDOW),
    nonceDigits:
      raw.nonceDigits === undefined ? DEFAULT_NONCE_DIGITS : integer(raw.nonceDigits, `${path}.nonceDigits`, MIN_NONCE_DIGITS, MAX_NONCE_DIGITS),
    disabledUsers: disabled.map((user, i) => {
      try {
        return nodeprep(string(user, `${path}.disabledUsers[${i}]`));
      } catch (err) {
        if (err instanceof InvalidJidError) throw new ConfigError(`config: ${path}.disabledUsers[${i}] is not a valid username`);
        throw err;
      }
    }),
  };
}

function demo(value: unknown, env: NodeJS.ProcessEnv, readFile: FileReader, domains: Record<string, DomainConfig>): DemoConfig {
  const raw = object(value, "demo", ["domain", "sessionSecret", "sessionSecretFile", "sessionSecretEnv", "users", "secureCookie", "sessionIdleSeconds"]);
  if (raw.secureCookie !== undefined && typeof raw.secureCookie !== "boolean") throw new ConfigError("config: demo.secureCookie must be true or false");
  const name = domainName(string(raw.domain, "demo.domain"), "demo.domain");
  if (!Object.hasOwn(domains, name)) throw new ConfigError(`config: demo.domain ${name} is not one of the configured domains`);
  const sessionSecret = secret(raw, "sessionSecret", "demo", env, readFile);
  const weakSession = weakSecretProblem(sessionSecret, MIN_SESSION_SECRET_BYTES);
  if (weakSession !== null) throw new ConfigError(`config: demo.sessionSecret ${weakSession}`);
  if (!Array.isArray(raw.users) || raw.users.length === 0) throw new ConfigError("config: demo.users must be a non-empty list");
  const users = raw.users.map((user, i) => {
    const entry = object(user, `demo.users[${i}]`, ["username", "passwordHash"]);
    const passwordHash = string(entry.passwordHash, `demo.users[${i}].passwordHash`);
    if (!isPasswordHash(passwordHash)) throw new ConfigError(`config: demo.users[${i}].passwordHash is not a scrypt hash (make one with x-token hash-password)`);
    try {
      return { username: nodeprep(string(entry.username, `demo.users[${i}].username`)), passwordHash };
    } catch (err) {
      if (err instanceof InvalidJidError) throw new ConfigError(`config: demo.users[${i}].username is not a valid username (${err.message})`);
      throw err;
    }
  });
  return {
    domain: name,
    sessionSecret,
    users,
    secureCookie: raw.secureCookie === true,
    ...(raw.sessionIdleSeconds === undefined ? {} : { sessionIdleSeconds: integer(raw.sessionIdleSeconds, "demo.sessionIdleSeconds", 60, 7 * 24 * 3600) }),
  };
}

/**
 * `trustedProxies`: a list of IP addresses / CIDR ranges (checked here, so a typo stops startup);
 * XMPP_TRUSTED_PROXIES (a comma-separated list) replaces the file's.
 */
function proxies(value: unknown, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = env.XMPP_TRUSTED_PROXIES;
  const name = fromEnv ? "XMPP_TRUSTED_PROXIES" : "trustedProxies";
  if (fromEnv) value = fromEnv.split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new ConfigError("config: trustedProxies must be a list of IP addresses or CIDR ranges");
  }
  try {
    TrustedProxies.parse(value);
  } catch (err) {
    if (err instanceof TrustedProxiesError) throw new ConfigError(`config: ${name}: ${err.message}`);
    throw err;
  }
  return value.map((v: string) => v.trim());
}


function envPort(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new ConfigError(`config: ${name} must be a port number from 0 to 65535`);
  return Number(value);
}

function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const value = env[name]?.toLowerCase();
  if (value === undefined || value === "") return undefined;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(`config: ${name} must be true or false`);
}

const TOP_LEVEL = ["domains", "listeners", "tls", "requireTls", "allowPlainWithoutTls", "limits", "trustedProxies", "loopbackWebSocketIsSecure", "presenceBroadcast", "replay", "store", "storage", "metrics", "fast", "revocation", "demo", "components", "tokenComponent", "otp"] as const;

/** The `domains` section: each domain's keys, window, nonce length and disabled users. */
function parseDomains(value: unknown, env: NodeJS.ProcessEnv, readFile: FileReader): Record<string, DomainConfig> {
  const domains: Record<string, DomainConfig> = {};
  if (value === undefined) return domains;
  const rawDomains = object(value, "domains", Object.keys(isObject(value) ? value : {}));
  for (const [name, entry] of Object.entries(rawDomains)) {
    const path = `domains[${JSON.stringify(name)}]`;
    const prepared = domainName(name, path);
    if (Object.hasOwn(domains, prepared)) throw new ConfigError(`config: ${path} is the same domain as another entry (${prepared})`);
    setOwn(domains, prepared, domain(entry, path, env, readFile));
  }
  return domains;
}

/**
 * Only the domains of a configuration file, for commands that need nothing else (mint, verify):
 * no TLS files read, no listeners or demo checked, no domain added from XTOKEN_DOMAIN. Secrets
 * that the file names (`tokenSecretFile`, `tokenSecretEnv`) are still read. Top-level names are
 * still checked, so a typo is not ignored.
 */
export function loadDomains(file: string, env: NodeJS.ProcessEnv = process.env): Record<string, DomainConfig> {
  const { raw, readFile } = readConfigFile(file);
  const top = object(raw, "the configuration", TOP_LEVEL);
  return parseDomains(top.domains, env, readFile);
}

/**
 * Validates a parsed configuration file (or `{}` when there is none) and applies the
 * environment: XTOKEN_DOMAIN + XTOKEN_SECRET + XTOKEN_OTP_SEED add (or replace) one domain;
 * XMPP_HOST, XMPP_C2S_PORT, XMPP_HTTP_PORT, XMPP_REQUIRE_TLS, XMPP_TRUSTED_PROXIES, XTOKEN_REDIS_URL
 * and XTOKEN_OTP_MAX_OFFSET override the file.
 */
export function parseConfig(
  rawValue: unknown,
  env: NodeJS.ProcessEnv = {},
  readFile: FileReader = (p) => readFileSync(p, "utf8"),
  { role = "server", baseDir = null }: { role?: ConfigRole; baseDir?: string | null } = {},
): AppConfig {
  const raw = object(rawValue, "the configuration", TOP_LEVEL);
  const domains = parseDomains(raw.domains, env, readFile);
  const envDomain = env.XTOKEN_DOMAIN;
  if (envDomain) {
    if (!env.XTOKEN_SECRET || !env.XTOKEN_OTP_SEED) {
      throw new ConfigError("config: XTOKEN_DOMAIN is set, so XTOKEN_SECRET and XTOKEN_OTP_SEED must be set too");
    }
    const key = { tokenSecret: env.XTOKEN_SECRET, otpSeed: env.XTOKEN_OTP_SEED };
    checkKey(key, (field) => (field === "tokenSecret" ? "XTOKEN_SECRET" : "XTOKEN_OTP_SEED"));
    setOwn(domains, domainName(envDomain, "XTOKEN_DOMAIN"), { keys: [key], window: DEFAULT_WINDOW, nonceDigits: DEFAULT_NONCE_DIGITS, disabledUsers: [] });
  }
  if (Object.keys(domains).length === 0) {
    throw new ConfigError("config: no domain configured (give a config file with domains, or XTOKEN_DOMAIN, XTOKEN_SECRET and XTOKEN_OTP_SEED)");
  }

  const listenersRaw = raw.listeners === undefined ? {} : object(raw.listeners, "listeners", Object.keys(DEFAULT_LISTENERS));
  const listeners: ListenerConfig = {
    host: listenersRaw.host === undefined ? DEFAULT_LISTENERS.host : string(listenersRaw.host, "listeners.host"),
    c2sPort: listenersRaw.c2sPort === undefined ? DEFAULT_LISTENERS.c2sPort : port(listenersRaw.c2sPort, "listeners.c2sPort"),
    directTlsPort: listenersRaw.directTlsPort === undefined ? null : port(listenersRaw.directTlsPort, "listeners.directTlsPort"),
    httpPort: listenersRaw.httpPort === undefined ? DEFAULT_LISTENERS.httpPort : port(listenersRaw.httpPort, "listeners.httpPort"),
    websocketPath: listenersRaw.websocketPath === undefined ? DEFAULT_LISTENERS.websocketPath : string(listenersRaw.websocketPath, "listeners.websocketPath"),
  };
  const components = raw.components === undefined ? {} : parseComponents(raw.components, env, readFile, Object.keys(domains));
  // The component listener stays on loopback unless configured otherwise (XEP-0114 has no TLS).
  listeners.componentHost = listenersRaw.componentHost === undefined ? DEFAULT_LISTENERS.componentHost : string(listenersRaw.componentHost, "listeners.componentHost");
  listeners.componentPort =
    envPort(env, "XMPP_COMPONENT_PORT") ??
    (listenersRaw.componentPort === undefined ? (Object.keys(components).length > 0 ? DEFAULT_COMPONENT_PORT : null) : port(listenersRaw.componentPort, "listeners.componentPort"));
  if (!listeners.websocketPath.startsWith("/")) throw new ConfigError("config: listeners.websocketPath must start with /");
  if (env.XMPP_HOST) listeners.host = env.XMPP_HOST;
  listeners.c2sPort = envPort(env, "XMPP_C2S_PORT") ?? listeners.c2sPort;
  listeners.httpPort = envPort(env, "XMPP_HTTP_PORT") ?? listeners.httpPort;

  let tls: AppConfig["tls"] = null;
  if (raw.tls !== undefined && raw.tls !== null) {
    const tlsRaw = object(raw.tls, "tls", ["certFile", "keyFile"]);
    const read = (key: "certFile" | "keyFile") => {
      const file = string(tlsRaw[key], `tls.${key}`);
      try {
        return readFile(file);
      } catch (err) {
        throw new ConfigError(`config: tls.${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    };
    tls = { cert: read("certFile"), key: read("keyFile") };
    try {
      // Refuse an unusable pair now, as one line, rather than when the first client says STARTTLS.
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError(`config: tls.certFile and tls.keyFile are not a usable PEM certificate and private key (${reason})`);
    }
  }

  const requireTls = envBoolean(env, "XMPP_REQUIRE_TLS") ?? (raw.requireTls === undefined ? true : boolean(raw.requireTls, "requireTls"));
  if (role === "server" && requireTls && !tls && listeners.c2sPort !== null) {
    throw new ConfigError("config: requireTls is true but no tls certificate is configured, so nobody could log in over TCP (add tls, or set requireTls false / XMPP_REQUIRE_TLS=false)");
  }
  if (role === "server" && listeners.directTlsPort !== null && !tls) throw new ConfigError("config: listeners.directTlsPort needs a tls certificate");

  const limitsRaw = raw.limits === undefined ? {} : object(raw.limits, "limits", Object.keys(DEFAULT_LIMITS));
  const limits = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof LimitsConfig)[]) {
    if (limitsRaw[name] !== undefined) limits[name] = integer(limitsRaw[name], `limits.${name}`, name === "idleTimeoutSeconds" ? 0 : 1, 1 << 30);
  }
  const trustedProxies = proxies(raw.trustedProxies, env);
  const replayRaw = raw.replay === undefined ? {} : object(raw.replay, "replay", ["maxEntries"]);
  const replayMaxEntries = replayRaw.maxEntries === undefined ? DEFAULT_REPLAY_MAX_ENTRIES : integer(replayRaw.maxEntries, "replay.maxEntries", 1, 100_000_000);

  return {
    domains,
    listeners,
    tls,
    requireTls,
    allowPlainWithoutTls: raw.allowPlainWithoutTls === undefined ? false : boolean(raw.allowPlainWithoutTls, "allowPlainWithoutTls"),
    limits,
    trustedProxies,
    loopbackWebSocketIsSecure: raw.loopbackWebSocketIsSecure === undefined ? false : boolean(raw.loopbackWebSocketIsSecure, "loopbackWebSocketIsSecure"),
    presenceBroadcast: raw.presenceBroadcast === undefined ? "roster" : presenceBroadcast(raw.presenceBroadcast),
    replayMaxEntries,
    store: parseStore(raw.store, env, readFile),
    storage: parseStorage(raw.storage, env, baseDir),
    metrics: parseMetrics(raw.metrics),
    fast: parseFast(raw.fast),
    otp: parseOtp(raw.otp, env),
    revocation: parseRevocation(raw.revocation, env, readFile, { httpListener: role !== "server" || listeners.httpPort !== null }),
    demo: raw.demo === undefined || raw.demo === null ? null : demo(raw.demo, env, readFile, domains),
    components,
    tokenComponent: parseTokenComponent(raw.tokenComponent, env, readFile, Object.keys(domains)),
  };
}

/**
 * Where JSON.parse stopped, as " (line L, column C)", or "" when its message says no position.
 * V8's message itself is never shown: newer versions quote the text around the error, which
 * may be an inline secret.
 */
function jsonErrorPlace(text: string, message: string): string {
  const position = /at position (\d+)/.exec(message);
  if (!position) return "";
  const before = text.slice(0, Number(position[1]));
  const line = before.split("\n").length;
  return ` (line ${line}, column ${before.length - before.lastIndexOf("\n")})`;
}

/** Reads and parses a JSON config file; relative file names inside it are relative to it. */
export function readConfigFile(file: string): { raw: unknown; readFile: FileReader } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`config: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config: ${file} is not valid JSON${jsonErrorPlace(text, (err as Error).message)}`);
  }
  const base = dirname(resolve(file));
  return { raw, readFile: (path) => readFileSync(resolve(base, path), "utf8") };
}

/** The configuration from `file` (or XTOKEN_CONFIG) and the environment. */
export function loadConfig({ file, env = process.env, role = "server" }: { file?: string; env?: NodeJS.ProcessEnv; role?: ConfigRole } = {}): AppConfig {
  const path = file ?? env.XTOKEN_CONFIG;
  if (!path) return parseConfig({}, env, undefined, { role });
  const { raw, readFile } = readConfigFile(path);
  return parseConfig(raw, env, readFile, { role, baseDir: dirname(resolve(path)) });
}

function presenceBroadcast(value: unknown): PresenceBroadcast {
  if (typeof value === "string" && (PRESENCE_BROADCASTS as readonly string[]).includes(value)) return value as PresenceBroadcast;
  throw new ConfigError(`config: presenceBroadcast must be ${PRESENCE_BROADCASTS.map((v) => JSON.stringify(v)).join(" or ")}`);
}
