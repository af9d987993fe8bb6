/**
 * The two component sections of the configuration:
 * - `components`: XEP-0114 components this server hosts (domain -> handshake secret);
 * - `tokenComponent`: what `x-token component` connects to and how it answers.
 * Same rules as the rest (load.ts): unknown keys refused, one line naming the setting, secrets
 * inline, from a file or from the environment, never printed.
 */
import { ConfigError, domainName, object, secret, setOwn, string, integer, type FileReader } from "./validators.js";
import { InvalidJidError, normaliseBareJid } from "../../core/jid/prep.js";
import { MIN_COMPONENT_SECRET_BYTES, weakSecretProblem } from "../../core/token/secret-strength.js";
import type { HostedComponentConfig } from "../../server/config.js";

export interface TokenComponentConfig {
  /** The XMPP server's component listener, `xmpp://host:port`. */
  service: string;
  /** The component's domain (e.g. tokens.example.com). */
  domain: string;
  secret: string;
  admins: string[];
  /** Bare JIDs and domains allowed to use the command; null: everyone of the key domains. */
  allowed: string[] | null;
  rateLimit: { max: number; perSeconds: number };
  websocketUrl: string | null;
  loginUrl: string | null;
}

export const DEFAULT_COMPONENT_PORT = 5347;

/**
 * A component secret that is good enough (at least 16 bytes, not repeated or whitespace: the
 * core's one rule), else a ConfigError naming the setting and never the value.
 */
function componentSecret(value: string, name: string): string {
  const problem = weakSecretProblem(value, MIN_COMPONENT_SECRET_BYTES);
  if (problem !== null) throw new ConfigError(`config: ${name} ${problem}`);
  return value;
}

/** `components`: `{ "tokens.example.com": { "secretFile": "..." } }`. */
export function parseComponents(value: unknown, env: NodeJS.ProcessEnv, readFile: FileReader, hosted: readonly string[]): Record<string, HostedComponentConfig> {
  const raw = object(value, "components", Object.keys(typeof value === "object" && value !== null ? value : {}));
  const components: Record<string, HostedComponentConfig> = {};
  for (const [name, entry] of Object.entries(raw)) {
    const path = `components[${JSON.stringify(name)}]`;
    const domain = domainName(name, path);
    if (Object.hasOwn(components, domain)) throw new ConfigError(`config: ${path} is the same domain as another entry (${domain})`);
    if (hosted.includes(domain)) throw new ConfigError(`config: ${path} is also a hosted domain; a component needs a domain of its own`);
    const value = secret(object(entry, path, ["secret", "secretFile", "secretEnv"]), "secret", path, env, readFile);
    setOwn(components, domain, { secret: componentSecret(value, `${path}.secret`) });
  }
  return components;
}

function jidList(value: unknown, path: string, domainsToo: boolean): string[] {
  if (!Array.isArray(value)) throw new ConfigError(`config: ${path} must be a list of ${domainsToo ? "JIDs and domains" : "JIDs"}`);
  return value.map((entry, i) => {
    const at = `${path}[${i}]`;
    const text = string(entry, at);
    if (domainsToo && !text.includes("@")) return domainName(text, at);
    try {
      return normaliseBareJid(text);
    } catch (err) {
      if (err instanceof InvalidJidError) throw new ConfigError(`config: ${at} is not a valid bare JID (${err.message})`);
      throw err;
    }
  });
}

function url(value: unknown, path: string, protocols: string[]): string {
  const text = string(value, path);
  let parsed: URL;
  try {
    parsed = new URL(text.replaceAll("{jid}", "jid").replaceAll("{token}", "token"));
  } catch {
    throw new ConfigError(`config: ${path} is not a URL`);
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(`config: ${path} must be a ${protocols.map((p) => `${p}//`).join(" or ")} URL`);
  return text;
}

/**
 * `tokenComponent`, with XTOKEN_COMPONENT_SERVICE / _DOMAIN / _SECRET from the environment
 * winning over the file (and enough on their own, with no section in the file).
 */
export function parseTokenComponent(value: unknown, env: NodeJS.ProcessEnv, readFile: FileReader, hosted: readonly string[]): TokenComponentConfig | null {
  const fromEnv = !!(env.XTOKEN_COMPONENT_SERVICE || env.XTOKEN_COMPONENT_DOMAIN || env.XTOKEN_COMPONENT_SECRET);
  if ((value === undefined || value === null) && !fromEnv) return null;
  const raw = object(value ?? {}, "tokenComponent", ["service", "domain", "secret", "secretFile", "secretEnv", "admins", "allowed", "rateLimit", "websocketUrl", "loginUrl"]);
  const service = env.XTOKEN_COMPONENT_SERVICE || string(raw.service, "tokenComponent.service");
  if (!/^xmpp:\/\/[^/?#]+:\d+$/.test(service)) throw new ConfigError("config: tokenComponent.service must be xmpp://host:port (the server's component listener)");
  const domain = domainName(env.XTOKEN_COMPONENT_DOMAIN || string(raw.domain, "tokenComponent.domain"), "tokenComponent.domain");
  if (hosted.includes(domain)) throw new ConfigError("config: tokenComponent.domain is one of the user domains; a component needs a domain of its own");
  const sharedSecret = env.XTOKEN_COMPONENT_SECRET
    ? componentSecret(env.XTOKEN_COMPONENT_SECRET, "XTOKEN_COMPONENT_SECRET")
    : componentSecret(secret(raw, "secret", "tokenComponent", env, readFile), "tokenComponent.secret");
  const loginUrl = raw.loginUrl === undefined ? null : url(raw.loginUrl, "tokenComponent.loginUrl", ["http:", "https:"]);
  if (loginUrl !== null && !loginUrl.includes("{token}")) throw new ConfigError("config: tokenComponent.loginUrl must contain {token} (and may contain {jid})");
  const rate = raw.rateLimit === undefined ? {} : object(raw.rateLimit, "tokenComponent.rateLimit", ["max", "perSeconds"]);
  return {
    service,
    domain,
    secret: sharedSecret,
    admins: raw.admins === undefined ? [] : jidList(raw.admins, "tokenComponent.admins", false),
    allowed: raw.allowed === undefined ? null : jidList(raw.allowed, "tokenComponent.allowed", true),
    rateLimit: {
      max: rate.max === undefined ? 10 : integer(rate.max, "tokenComponent.rateLimit.max", 1, 1 << 20),
      perSeconds: rate.perSeconds === undefined ? 60 : integer(rate.perSeconds, "tokenComponent.rateLimit.perSeconds", 1, 86_400),
    },
    websocketUrl: raw.websocketUrl === undefined ? null : url(raw.websocketUrl, "tokenComponent.websocketUrl", ["ws:", "wss:"]),
    loginUrl,
  };
}
