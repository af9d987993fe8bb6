/** Where mint and verify get a domain's keys: the environment, or a configuration file. */
import { checkKey, loadDomains, ConfigError } from "../config/load.js";
import { KeyError, Keyring } from "../../core/token/keys.js";
import { DEFAULT_NONCE_DIGITS } from "../../core/token/format.js";
import { DEFAULT_WINDOW } from "../../core/token/window.js";
import { InvalidJidError, prepareBareJid } from "../../core/jid/prep.js";
import { UsageError } from "./io.js";

export interface KeySourceFlags {
  config?: string;
  "insecure-secret-arg"?: boolean;
  "token-secret"?: string;
  "otp-seed"?: string;
}

export interface ResolvedKeys {
  jid: string;
  keyring: Keyring;
  window: number;
  /** The domain's nonce length (32 unless its configuration says otherwise). */
  nonceDigits: number;
}

export function resolveKeys(jid: string | undefined, flags: KeySourceFlags, env: NodeJS.ProcessEnv, warn: (line: string) => void): ResolvedKeys {
  if (!jid) throw new UsageError("--jid is required");
  let bare: { local: string; domain: string };
  try {
    bare = prepareBareJid(jid);
  } catch (err) {
    if (err instanceof InvalidJidError) throw new UsageError(`--jid is not a valid JID: ${err.message}`);
    throw err;
  }
  const prepared = `${bare.local}@${bare.domain}`;
  const fromArgv = flags["token-secret"] !== undefined || flags["otp-seed"] !== undefined;
  if (fromArgv && !flags["insecure-secret-arg"]) {
    throw new UsageError("secrets on the command line are visible to other users (ps, shell history); use XTOKEN_SECRET and XTOKEN_OTP_SEED, or add --insecure-secret-arg");
  }
  try {
    if (fromArgv) {
      const key = { tokenSecret: flags["token-secret"] ?? "", otpSeed: flags["otp-seed"] ?? "" };
      checkKey(key, (field) => (field === "tokenSecret" ? "--token-secret" : "--otp-seed"));
      warn("warning: secrets given on the command line can be seen by other users of this machine");
      return { jid: prepared, keyring: new Keyring([key]), window: DEFAULT_WINDOW, nonceDigits: DEFAULT_NONCE_DIGITS };
    }
    const file = flags.config ?? env.XTOKEN_CONFIG;
    if (file) {
      // Only the domains' keys matter here: the file's TLS, listeners and demo are not read.
      const domains = loadDomains(file, env);
      const domain = Object.hasOwn(domains, bare.domain) ? domains[bare.domain] : undefined;
      if (!domain) throw new UsageError(`domain ${bare.domain} is not configured in ${file}`);
      return { jid: prepared, keyring: new Keyring(domain.keys), window: domain.window, nonceDigits: domain.nonceDigits };
    }
    if (!env.XTOKEN_SECRET || !env.XTOKEN_OTP_SEED) {
      throw new UsageError("no keys: set XTOKEN_SECRET and XTOKEN_OTP_SEED, or give --config FILE");
    }
    const key = { tokenSecret: env.XTOKEN_SECRET, otpSeed: env.XTOKEN_OTP_SEED };
    checkKey(key, (field) => (field === "tokenSecret" ? "XTOKEN_SECRET" : "XTOKEN_OTP_SEED"));
    return { jid: prepared, keyring: new Keyring([key]), window: DEFAULT_WINDOW, nonceDigits: DEFAULT_NONCE_DIGITS };
  } catch (err) {
    if (err instanceof KeyError) throw new UsageError(`bad key: ${err.message}`);
    // Key problems from the environment or argv read "x-token: XTOKEN_OTP_SEED is not valid ...".
    if (err instanceof ConfigError) throw new UsageError(err.message.replace(/^config: (XTOKEN_|--)/, "$1"));
    throw err;
  }
}

export const KEY_SOURCE_OPTIONS = {
  config: { type: "string" },
  "insecure-secret-arg": { type: "boolean" },
  "token-secret": { type: "string" },
  "otp-seed": { type: "string" },
} as const;

export const KEY_SOURCE_HELP = `Keys come from XTOKEN_SECRET and XTOKEN_OTP_SEED, or from --config FILE (the
server's configuration: the JID's domain picks its key list; XTOKEN_CONFIG works too).
--token-secret and --otp-seed are refused unless --insecure-secret-arg is given too.`;
