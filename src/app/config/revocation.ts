/**
 * The `revocation` section (docs/revocation.md): the revocation endpoint on the HTTP listener.
 * Off when absent. Who may call it is configured here and nowhere else: a shared secret
 * (`secretFile` or `secretEnv`, or inline `secret`; never a command-line argument), an
 * `allowFrom` list of peer addresses, or both. Loopback is not trusted by itself: list it.
 */
import { TrustedProxies, TrustedProxiesError } from "../../auth/policy/trusted-proxies.js";
import { weakSecretProblem } from "../../core/token/secret-strength.js";
import { ConfigError, object, secret, string, type FileReader } from "./validators.js";

export interface RevocationConfig {
  /** Null: the endpoint's default (DEFAULT_REVOCATION_PATH, /x-token/revoke). */
  path: string | null;
  /** Null: no secret, the allow-list decides. */
  secret: string | null;
  /** Null: any address with the secret. */
  allowFrom: string[] | null;
}

/** A revocation secret is a bearer credential: as strong as a token secret. */
export const MIN_REVOCATION_SECRET_BYTES = 16;

/**
 * `httpListener`: whether the HTTP listener is on (a server's configuration without it cannot
 * serve the endpoint, which is said at start rather than left silently off).
 */
export function parseRevocation(value: unknown, env: NodeJS.ProcessEnv, readFile: FileReader, { httpListener = true }: { httpListener?: boolean } = {}): RevocationConfig | null {
  if (value === undefined || value === null) return null;
  if (!httpListener) throw new ConfigError("config: revocation needs the HTTP listener (listeners.httpPort or XMPP_HTTP_PORT), which is off");
  const raw = object(value, "revocation", ["path", "secret", "secretFile", "secretEnv", "allowFrom"]);
  const path = raw.path === undefined ? null : string(raw.path, "revocation.path");
  if (path !== null && (!path.startsWith("/") || /[\s?#]/.test(path))) throw new ConfigError("config: revocation.path must start with / and hold no spaces, ? or #");
  const hasSecret = ["secret", "secretFile", "secretEnv"].some((k) => raw[k] !== undefined);
  const shared = hasSecret ? secret(raw, "secret", "revocation", env, readFile) : null;
  if (shared !== null) {
    const weak = weakSecretProblem(shared, MIN_REVOCATION_SECRET_BYTES);
    if (weak !== null) throw new ConfigError(`config: revocation.secret ${weak}`);
  }
  let allowFrom: string[] | null = null;
  if (raw.allowFrom !== undefined) {
    if (!Array.isArray(raw.allowFrom) || raw.allowFrom.length === 0 || !raw.allowFrom.every((v) => typeof v === "string")) {
      throw new ConfigError("config: revocation.allowFrom must be a non-empty list of IP addresses or CIDR ranges");
    }
    try {
      TrustedProxies.parse(raw.allowFrom);
    } catch (err) {
      if (err instanceof TrustedProxiesError) throw new ConfigError(`config: revocation.allowFrom: ${err.message}`);
      throw err;
    }
    allowFrom = raw.allowFrom.map((v: string) => v.trim());
  }
  if (shared === null && allowFrom === null) {
    throw new ConfigError("config: revocation needs secretFile (or secretEnv, secret), allowFrom, or both: the endpoint trusts no caller by default, loopback included");
  }
  return { path, secret: shared, allowFrom };
}
