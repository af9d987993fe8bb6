/**
 * `x-token cert`: client certificates that log an account in with SASL EXTERNAL
 * (docs/client-certs.md), in the data directory's database, managed while the server runs (each
 * login reads them anew). The same rules as XEP-0257 and the ad-hoc command
 * (src/auth/client-certs).
 */
import { readFileSync } from "node:fs";
import { loadConfig } from "../config/load.js";
import type { AppConfig } from "../config/types.js";
import {
  ClientCertError,
  MAX_CERTIFICATE_BYTES,
  certificateAccount,
  disableClientCertificate,
  registerClientCertificate,
  registeredFromFile,
  revokeClientCertificate,
  type ClientCertificate,
} from "../../auth/client-certs/index.js";
import { parseFlags } from "./args.js";
import { openManagedDatabase } from "./database.js";
import { EXIT_OK, println, UsageError, type CliIO } from "./io.js";

export const CERT_HELP = `Usage: x-token cert <command> [--config FILE] [options]

Client certificates that log an account in without a password or token (SASL EXTERNAL over
TLS; see docs/client-certs.md). They live in the database of the data directory
(XTOKEN_DATA_DIR or storage.dir); changes take effect at the next login, also while the
server runs.

  add --jid JID [--name NAME] [--no-cert-management] FILE
        registers the certificate in FILE (PEM or DER; never the private key) for the
        account. NAME defaults to the file's name. --no-cert-management: sessions that
        log in with it may not manage certificates (XEP-0257).
  list [--jid JID]
        every certificate (of one account): name, SHA-256 fingerprint, validity, state.
  disable --jid JID (--name NAME | FILE)
        no further logins with it; it stays listed.
  revoke --jid JID (--name NAME | FILE)
        removes it. Sessions logged in with it are closed by the server at its next
        reload (SIGHUP) or restart; XEP-0257 and the ad-hoc command close them at once.

The hosted domains come from the configuration (--config FILE or XTOKEN_CONFIG, and
XTOKEN_DOMAIN, XTOKEN_SECRET, XTOKEN_OTP_SEED), as for serve.`;

const SUBCOMMANDS = ["add", "list", "disable", "revoke"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const OPTIONS = {
  config: { type: "string" },
  jid: { type: "string" },
  name: { type: "string" },
  "no-cert-management": { type: "boolean" },
} as const;

/** The positional FILE taken out of argv (parseFlags takes options only). */
function splitFile(argv: string[]): { flags: string[]; files: string[] } {
  const flags: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith("-")) {
      flags.push(arg);
      const name = arg.replace(/^--?/, "");
      const option = (OPTIONS as Record<string, { type: string }>)[name];
      if (option?.type === "string" && !arg.includes("=") && i + 1 < argv.length) flags.push(argv[++i]!);
    } else {
      files.push(arg);
    }
  }
  return { flags, files };
}

function asUsage<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof ClientCertError) throw new UsageError(`cert: ${err.message}`);
    throw err;
  }
}

function hostedAccount(config: AppConfig, jid: string | undefined): string {
  if (jid === undefined) throw new UsageError("cert: --jid is required");
  const account = asUsage(() => certificateAccount(jid));
  const domain = account.slice(account.lastIndexOf("@") + 1);
  if (!Object.hasOwn(config.domains, domain)) throw new UsageError(`cert: ${domain} is not a domain of this configuration (${Object.keys(config.domains).join(", ")})`);
  return account;
}

function readCertificateFile(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(`cert: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (bytes.length > 4 * MAX_CERTIFICATE_BYTES) throw new UsageError(`cert: ${file} is larger than a certificate can be`);
  return bytes;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

function describe(c: ClientCertificate): string {
  const state = [c.disabled ? "disabled" : "enabled", ...(c.noCertManagement ? ["no-cert-management"] : [])].join(", ");
  return `${c.account}\t${c.name}\tsha256:${c.fingerprint}\t${iso(c.notBefore)} .. ${iso(c.notAfter)}\t${state}`;
}

export async function cert(io: CliIO): Promise<number> {
  const { stdout, stderr } = io;
  const [sub, ...rest] = io.argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    println(sub === undefined ? stderr : stdout, CERT_HELP);
    return sub === undefined ? 2 : EXIT_OK;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`cert: unknown command "${sub}" (commands: ${SUBCOMMANDS.join(", ")})`);
  const command = sub as Subcommand;
  const { flags: flagArgs, files } = splitFile(rest);
  const flags = parseFlags(`cert ${command}`, flagArgs, OPTIONS);
  if (flags.help) return println(stdout, CERT_HELP), EXIT_OK;
  if (files.length > 1) throw new UsageError(`cert: one FILE at most (see x-token cert --help)`);
  const file = files[0];
  const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
  if (command === "add") {
    const account = hostedAccount(config, flags.jid);
    if (file === undefined) throw new UsageError("cert: add needs the certificate FILE");
    const bytes = readCertificateFile(file);
    const name = flags.name ?? file.replace(/^.*\//, "").replace(/\.(pem|crt|cer|der)$/i, "");
    const storage = openManagedDatabase(config, io, "cert", "client certificates live");
    try {
      const added = asUsage(() => registerClientCertificate(storage.clientCerts, { account, name, certificate: bytes, noCertManagement: flags["no-cert-management"] === true }));
      println(stdout, describe(added));
      println(stderr, `x-token: registered ${JSON.stringify(added.name)} for ${added.account}: it logs in with SASL EXTERNAL until ${iso(added.notAfter)}`);
    } finally {
      storage.close();
    }
    return EXIT_OK;
  }
  if (flags["no-cert-management"] !== undefined) throw new UsageError(`cert: --no-cert-management is for add`);
  if (command === "list") {
    if (file !== undefined || flags.name !== undefined) throw new UsageError("cert: list takes --jid only");
    const account = flags.jid === undefined ? undefined : hostedAccount(config, flags.jid);
    const storage = openManagedDatabase(config, io, "cert", "client certificates live");
    try {
      const all = account === undefined ? storage.clientCerts.all() : storage.clientCerts.forAccount(account);
      for (const c of all) println(stdout, describe(c));
      if (all.length === 0) println(stderr, "x-token: no client certificates");
    } finally {
      storage.close();
    }
    return EXIT_OK;
  }
  const account = hostedAccount(config, flags.jid);
  if ((file === undefined) === (flags.name === undefined)) throw new UsageError(`cert: ${command} takes --name NAME or the certificate FILE (one of them)`);
  const bytes = file === undefined ? null : readCertificateFile(file);
  const storage = openManagedDatabase(config, io, "cert", "client certificates live");
  try {
    const name = bytes === null ? flags.name! : asUsage(() => registeredFromFile(storage.clientCerts, account, bytes)).name;
    const changed = asUsage(() => (command === "disable" ? disableClientCertificate : revokeClientCertificate)(storage.clientCerts, account, name));
    println(stdout, describe({ ...changed, disabled: command === "disable" || changed.disabled }));
    println(
      stderr,
      command === "disable"
        ? `x-token: disabled ${JSON.stringify(changed.name)} of ${changed.account}: no further logins with it`
        : `x-token: revoked ${JSON.stringify(changed.name)} of ${changed.account}; a running server closes the sessions that logged in with it at its next reload (SIGHUP)`,
    );
  } finally {
    storage.close();
  }
  return EXIT_OK;
}
