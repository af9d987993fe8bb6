/**
 * `x-token extauth`: the external-authentication program for ejabberd, MongooseIM and Prosody
 * (mod_auth_external). Standard output carries protocol answers and nothing else; every log
 * line goes to standard error; it exits 0 when the server closes its standard input.
 */
import { loadConfig } from "../config/load.js";
import { TokenAuthority } from "../../auth/authority.js";
import { createExtauthAnswerer, IS_USER_POLICIES, type IsUserPolicy } from "../../extauth/answer.js";
import { DEFAULT_MAX_REQUEST_BYTES, EXTAUTH_PROTOCOLS, type ExtauthProtocol } from "../../extauth/protocol.js";
import { serveExtauthStream } from "../../extauth/stdio.js";
import { oneLineLogger, stderrLogger } from "../../server/log.js";
import { openStores } from "../stores.js";
import { OtpVerifier } from "../../auth/otp/verifier.js";
import { DEFAULT_OTP_SETTINGS } from "../config/otp.js";
import { parseFlags } from "./args.js";
import { EXIT_OK, println, UsageError, type CliIO } from "./io.js";

export const EXTAUTH_HELP = `Usage: x-token extauth [--config FILE] [--protocol ejabberd|prosody] [--isuser hosted|none]
                      [--max-request-bytes N]

An external authentication program: the server starts it and asks it over standard input
and output whether a password is good. The password is an X-TOKEN token for USER@SERVER,
checked with the keys of the configuration (--config FILE or XTOKEN_CONFIG, and
XTOKEN_DOMAIN, XTOKEN_SECRET, XTOKEN_OTP_SEED), and accepted once. For an account with
one-time password credentials (x-token otp, docs/otp.md) the password may instead be its PIN
followed by a code, each code accepted once (XTOKEN_OTP_MAX_OFFSET: HOTP look-ahead, 4).

Used tokens are remembered in the SQLite database of the data directory: XTOKEN_DATA_DIR, or
storage.dir in the config file (relative to the file), or else ./x-token-data under the
working directory (for ejabberd, its spool folder: name one). Every copy of this program
that uses the directory shares it, and it outlives restarts, so one server needs nothing
more; the user the server runs this program as must be able to write there. Servers on
several machines: store.redis (or XTOKEN_REDIS_URL) for every copy. XTOKEN_STORAGE=memory
(storage.engine "memory"): this process only, forgotten when it exits.

--protocol ejabberd   2-byte length-prefixed requests (ejabberd, MongooseIM); the default
--protocol prosody    one request per line (Prosody's mod_auth_external)
--isuser hosted       "isuser" is yes for any valid username at a configured domain (default)
--isuser none         "isuser" is always no
--max-request-bytes   longest request read (default ${DEFAULT_MAX_REQUEST_BYTES}); longer ones are skipped and refused

Unknown domains, unknown commands and account commands (setpass, tryregister, removeuser,
removeuser3, certauth) are answered no. Logs go to standard error; tokens are never logged.
See docs/ejabberd.md.`;

function choice<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(", ")}`);
  return value as T;
}

export async function extauth(io: CliIO): Promise<number> {
  const flags = parseFlags("extauth", io.argv, {
    config: { type: "string" },
    protocol: { type: "string" },
    isuser: { type: "string" },
    "max-request-bytes": { type: "string" },
  });
  if (flags.help) return println(io.stdout, EXTAUTH_HELP), EXIT_OK;
  const protocol = choice<ExtauthProtocol>(flags.protocol, EXTAUTH_PROTOCOLS, "--protocol", "ejabberd");
  const isUser = choice<IsUserPolicy>(flags.isuser, IS_USER_POLICIES, "--isuser", "hosted");
  let maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;
  if (flags["max-request-bytes"] !== undefined) {
    const value = flags["max-request-bytes"];
    if (!/^\d{1,5}$/.test(value) || Number(value) < 64 || Number(value) > 65535) throw new UsageError("--max-request-bytes must be an integer from 64 to 65535");
    maxRequestBytes = Number(value);
  }
  const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
  const { maxOffset } = config.otp ?? DEFAULT_OTP_SETTINGS;
  const log = oneLineLogger(stderrLogger(io.stderr));
  // SQLite in the data directory by default, shared by every worker on this machine; Redis
  // (store.redis, XTOKEN_REDIS_URL) when several machines must share it.
  const stores = await openStores(config, log, { cwd: io.cwd ?? process.cwd(), role: "verifier" });
  try {
    const authority = new TokenAuthority({ domains: config.domains, replay: stores.replay, revocations: stores.storage.revocations });
    const shared = stores.redis
      ? ""
      : stores.storage.durable
        ? " (shared by every worker using this file, kept across restarts; servers on several machines need store.redis)"
        : " (this process only, forgotten when it exits: with several workers, use the SQLite storage or store.redis)";
    // "in memory" / "in SQLite in /path" / "in Redis at redis://host:port"
    const place = stores.where.startsWith("in ") ? stores.where : `in ${stores.where}`;
    log.info(`extauth (${protocol} protocol) for ${authority.domains.join(", ")}; used tokens remembered ${place}${shared}`);
    const summary = await serveExtauthStream({
      input: io.stdin,
      output: io.stdout,
      protocol,
      // One-time password accounts from the same database (docs/otp.md), read at each login.
      answer: createExtauthAnswerer({ authority, otp: new OtpVerifier({ credentials: stores.storage.otp, accounts: authority, maxOffset }), isUser, log }),
      log,
      maxRequestBytes,
    });
    log.info(`extauth input closed after ${summary.requests} requests (${summary.logins} login${summary.logins === 1 ? "" : "s"} accepted, ${summary.usersFound} isuser answered yes); exiting`);
  } finally {
    await stores.close();
  }
  return EXIT_OK;
}
