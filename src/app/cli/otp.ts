/**
 * `x-token otp`: one-time password accounts (docs/otp.md) in the data directory's database,
 * managed while `serve` and `extauth` workers run (each login reads the credentials anew).
 * Secrets never come from the command line: a PIN is typed without echo (or read from standard
 * input), resync codes likewise, an import from a file; the secret of a new credential is printed
 * once, as an otpauth:// URI and, on a terminal, a QR code.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync, chmodSync } from "node:fs";
import { renderUnicodeCompact } from "uqr";
import { loadConfig } from "../config/load.js";
import type { AppConfig } from "../config/types.js";
import type { SqliteStorage } from "../../stores/sqlite/index.js";
import { openManagedDatabase } from "./database.js";
import { OtpRecordsError } from "../../core/records/otp.js";
import { UsersFileError } from "../../core/otp/users-file.js";
import {
  OtpSetupError,
  enrolOtpCredential,
  exportOtpUsersFile,
  importOtpUsersFile,
  listOtpCredentials,
  otpAccount,
  removeOtpCredentials,
  resyncHotpCredential,
  DEFAULT_RESYNC_WINDOW,
  type OtpCredentialSummary,
} from "../../auth/otp/index.js";
import { parseFlags } from "./args.js";
import { EXIT_OK, println, readAll, UsageError, type CliIO } from "./io.js";
import { asTerminal, readHidden } from "./prompt.js";

export const OTP_HELP = `Usage: x-token otp <command> [--config FILE] [options]

One-time password accounts: an account logs in with PLAIN, its password being its PIN
followed by the code of an authenticator app (TOTP) or a hardware token (HOTP), or the code
alone when it has no PIN; each code is accepted once (see docs/otp.md). Not the TOTP inside
X-TOKEN tokens. Credentials live in the database of the data directory (XTOKEN_DATA_DIR or
storage.dir); changes take effect at the next login, also while the server runs.

  add --jid JID [--hotp] [--digits 6|8] [--period 30|60] [--algorithm sha1|sha256|sha512]
      [--pin] [--name NAME] [--issuer NAME] [--qr]
        a new credential (TOTP, 6 digits, 30 s, SHA-1 unless told); prints its otpauth://
        URI, and a QR code to scan when standard output is a terminal (or with --qr).
        --pin asks for a PIN without echo (or reads one line of standard input); only its
        hash is kept. An account may have several credentials (--name: phone, yubikey).
        --issuer: what the app shows above the code (otp.issuer in the configuration,
        else the domain).
  list [--jid JID]
        every credential (of one account): name, type, digits, PIN or not, counter.
  remove --jid JID [--name NAME]
        one credential, or all of the account's.
  resync --jid JID [--name NAME] [--window N]
        a HOTP token whose counter drifted: asks for two consecutive codes (or reads two
        lines of standard input) and finds them within N values (${DEFAULT_RESYNC_WINDOW}) of the counter.
  import FILE [--domain DOMAIN] [--replace]
        the users file of mod_authn_otp and pam_oath (TYPE USER PIN KEY [COUNTER [LASTOTP
        [LASTTIME]]]); all or nothing: a bad line is named and nothing is written; an
        account that has credentials is refused unless --replace. USER is a localpart of
        --domain or a bare JID.
  export [--with-secrets --output FILE]
        the same format with current counters, on standard output; keys and PIN hashes
        only with --with-secrets, written to FILE (mode 0600) and never to the terminal.

The hosted domains come from the configuration (--config FILE or XTOKEN_CONFIG, and
XTOKEN_DOMAIN, XTOKEN_SECRET, XTOKEN_OTP_SEED), as for serve.`;

const SUBCOMMANDS = ["add", "list", "remove", "resync", "import", "export"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const COMMON = { config: { type: "string" } } as const;

/** Errors of the OTP library and the records are the user's to fix: one line, exit 2. */
function asUsage<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof OtpSetupError || err instanceof OtpRecordsError || err instanceof UsersFileError) throw new UsageError(`otp: ${err.message}`);
    throw err;
  }
}

async function asUsageAsync<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof OtpSetupError || err instanceof OtpRecordsError || err instanceof UsersFileError) throw new UsageError(`otp: ${err.message}`);
    throw err;
  }
}

/** The database the server uses; a memory configuration has none to manage. */
function openDatabase(config: AppConfig, io: CliIO): SqliteStorage {
  return openManagedDatabase(config, io, "otp", "one-time password credentials live");
}

function hostedAccount(config: AppConfig, jid: string | undefined): string {
  if (jid === undefined) throw new UsageError("otp: --jid is required");
  const account = asUsage(() => otpAccount(jid));
  const domain = account.slice(account.lastIndexOf("@") + 1);
  if (!Object.hasOwn(config.domains, domain)) throw new UsageError(`otp: ${domain} is not a domain of this configuration (${Object.keys(config.domains).join(", ")})`);
  return account;
}

/** One line of input: hidden on a terminal (asked `prompt`), else the next line of standard input. */
async function secretLines(io: CliIO, prompts: string[]): Promise<string[]> {
  const terminal = asTerminal(io.stdin);
  if (terminal) {
    const answers: string[] = [];
    for (const prompt of prompts) answers.push(await readHidden(terminal, io.stderr, prompt));
    return answers;
  }
  const lines = (await readAll(io.stdin, 4096)).split(/\r?\n/);
  if (lines.length < prompts.length || lines.slice(0, prompts.length).some((l) => l === "")) {
    throw new UsageError(`otp: expected ${prompts.length} line${prompts.length === 1 ? "" : "s"} on standard input (${prompts.map((p) => p.replace(/: $/, "")).join(", ")})`);
  }
  return lines.slice(0, prompts.length);
}

function describe(c: OtpCredentialSummary): string {
  const type = c.kind === "hotp" ? `HOTP ${c.digits} digits, next counter ${c.counter}` : `TOTP ${c.digits} digits, ${c.period} s${c.algorithm === "sha1" ? "" : `, ${c.algorithm.toUpperCase()}`}`;
  return `${c.jid}  ${c.name}  ${type}, ${c.hasPin ? "PIN" : "no PIN"}, added ${new Date(c.createdAt).toISOString().slice(0, 10)}`;
}

function choice<T extends string | number>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  const found = allowed.find((a) => String(a) === value);
  if (found === undefined) throw new UsageError(`otp: ${flag} must be ${allowed.join(" or ")}`);
  return found;
}

export async function otp(io: CliIO): Promise<number> {
  const [sub, ...rest] = io.argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    println(sub === undefined ? io.stderr : io.stdout, OTP_HELP);
    return sub === undefined ? 2 : EXIT_OK;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`otp: unknown command "${sub}" (commands: ${SUBCOMMANDS.join(", ")})`);
  return run(sub as Subcommand, rest, io);
}

async function run(sub: Subcommand, argv: string[], io: CliIO): Promise<number> {
  const { stdout, stderr } = io;
  switch (sub) {
    case "add": {
      const flags = parseFlags("otp add", argv, {
        ...COMMON,
        jid: { type: "string" },
        hotp: { type: "boolean" },
        digits: { type: "string" },
        period: { type: "string" },
        algorithm: { type: "string" },
        pin: { type: "boolean" },
        name: { type: "string" },
        issuer: { type: "string" },
        qr: { type: "boolean" },
      });
      if (flags.help) return println(stdout, OTP_HELP), EXIT_OK;
      const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
      const jid = hostedAccount(config, flags.jid);
      const digits = choice(flags.digits, [6, 8] as const, "--digits");
      const period = choice(flags.period, [30, 60] as const, "--period");
      const algorithm = choice(flags.algorithm, ["sha1", "sha256", "sha512"] as const, "--algorithm");
      let pin: string | undefined;
      if (flags.pin) {
        const terminal = asTerminal(io.stdin);
        [pin] = await secretLines(io, ["PIN: "]);
        if (terminal && (await readHidden(terminal, stderr, "Again: ")) !== pin) throw new UsageError("otp: the two PINs differ");
      }
      const storage = openDatabase(config, io);
      try {
        const enrolment = await asUsageAsync(() =>
          enrolOtpCredential(storage.otp, {
            jid,
            kind: flags.hotp ? "hotp" : "totp",
            ...(digits !== undefined ? { digits } : {}),
            ...(period !== undefined ? { period } : {}),
            ...(algorithm !== undefined ? { algorithm } : {}),
            ...(pin !== undefined ? { pin } : {}),
            ...(flags.name !== undefined ? { name: flags.name } : {}),
            // --issuer, else the configuration's otp.issuer, else the JID's domain.
            ...(flags.issuer !== undefined ? { issuer: flags.issuer } : config.otp?.issuer ? { issuer: config.otp.issuer } : {}),
          }),
        );
        println(stderr, `x-token: added ${describe(enrolment.credential)}`);
        println(stderr, "x-token: scan the QR code (or type the secret) into the authenticator app; the secret is shown this once:");
        if (flags.qr || (stdout as { isTTY?: boolean }).isTTY === true) println(stdout, renderUnicodeCompact(enrolment.uri, { border: 1 }));
        println(stdout, enrolment.uri);
        println(stderr, `x-token: secret (base32) ${enrolment.secret}`);
        println(stderr, `x-token: log in with PLAIN as ${jid}, password ${enrolment.credential.hasPin ? "the PIN followed by" : ""} the ${enrolment.credential.digits}-digit code`.replace("  ", " "));
      } finally {
        storage.close();
      }
      return EXIT_OK;
    }
    case "list": {
      const flags = parseFlags("otp list", argv, { ...COMMON, jid: { type: "string" } });
      if (flags.help) return println(stdout, OTP_HELP), EXIT_OK;
      const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
      const jid = flags.jid === undefined ? undefined : hostedAccount(config, flags.jid);
      const storage = openDatabase(config, io);
      try {
        const list = listOtpCredentials(storage.otp, jid);
        for (const c of list) println(stdout, describe(c));
        if (list.length === 0) println(stderr, `x-token: no one-time password credentials${jid ? ` for ${jid}` : ""}`);
      } finally {
        storage.close();
      }
      return EXIT_OK;
    }
    case "remove": {
      const flags = parseFlags("otp remove", argv, { ...COMMON, jid: { type: "string" }, name: { type: "string" } });
      if (flags.help) return println(stdout, OTP_HELP), EXIT_OK;
      const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
      const jid = hostedAccount(config, flags.jid);
      const storage = openDatabase(config, io);
      try {
        const removed = asUsage(() => removeOtpCredentials(storage.otp, jid, flags.name));
        println(stderr, `x-token: removed ${removed} credential${removed === 1 ? "" : "s"} of ${jid}`);
      } finally {
        storage.close();
      }
      return EXIT_OK;
    }
    case "resync": {
      const flags = parseFlags("otp resync", argv, { ...COMMON, jid: { type: "string" }, name: { type: "string" }, window: { type: "string" } });
      if (flags.help) return println(stdout, OTP_HELP), EXIT_OK;
      const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
      const jid = hostedAccount(config, flags.jid);
      if (flags.window !== undefined && !/^\d{1,6}$/.test(flags.window)) throw new UsageError("otp: --window must be an integer from 1 to 100000");
      const storage = openDatabase(config, io);
      try {
        const [first, second] = (await secretLines(io, ["First code: ", "Next code: "])).map((c) => c.trim()) as [string, string];
        const result = asUsage(() => resyncHotpCredential(storage.otp, { jid, ...(flags.name !== undefined ? { name: flags.name } : {}), first, second, ...(flags.window !== undefined ? { window: Number(flags.window) } : {}) }));
        println(stderr, `x-token: ${jid} ${JSON.stringify(result.name)} resynchronised: the next counter value expected is ${result.counter}`);
      } finally {
        storage.close();
      }
      return EXIT_OK;
    }
    case "import": {
      const file = argv[0] !== undefined && !argv[0].startsWith("-") ? argv[0] : undefined;
      const flags = parseFlags("otp import", file === undefined ? argv : argv.slice(1), { ...COMMON, domain: { type: "string" }, replace: { type: "boolean" } });
      if (flags.help) return println(stdout, OTP_HELP), EXIT_OK;
      if (file === undefined) throw new UsageError("otp: import needs the users file: x-token otp import FILE");
      const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        throw new UsageError(`otp: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
      const domains = Object.keys(config.domains);
      const domain = flags.domain ?? (domains.length === 1 ? domains[0] : undefined);
      const storage = openDatabase(config, io);
      try {
        const result = await asUsageAsync(() => importOtpUsersFile(storage.otp, text, { ...(domain !== undefined ? { domain } : {}), replace: flags.replace === true, hostedDomains: domains }));
        for (const warning of result.warnings) println(stderr, `x-token: warning: ${warning}`);
        println(stderr, `x-token: imported ${result.added} credential${result.added === 1 ? "" : "s"} from ${file}${result.replacedAccounts > 0 ? `, replacing those of ${result.replacedAccounts} account${result.replacedAccounts === 1 ? "" : "s"}` : ""}`);
      } catch (err) {
        if (err instanceof UsageError) throw new UsageError(`${err.message.replace(/^otp: /, `otp: ${file}: `)}; nothing was imported`);
        throw err;
      } finally {
        storage.close();
      }
      return EXIT_OK;
    }
    case "export": {
      const flags = parseFlags("otp export", argv, { ...COMMON, "with-secrets": { type: "boolean" }, output: { type: "string" } });
      if (flags.help) return println(stdout, OTP_HELP), EXIT_OK;
      const withSecrets = flags["with-secrets"] === true;
      if (withSecrets && flags.output === undefined) throw new UsageError("otp: --with-secrets writes keys: give --output FILE (created with mode 0600)");
      const config = loadConfig({ file: flags.config, env: io.env, role: "verifier" });
      const storage = openDatabase(config, io);
      try {
        const { text, skipped } = exportOtpUsersFile(storage.otp, { withSecrets });
        for (const s of skipped) println(stderr, `x-token: not exported (the format has SHA-1 only): ${s}`);
        if (flags.output === undefined) stdout.write(text);
        else {
          writePrivateFile(flags.output, text);
          println(stderr, `x-token: wrote ${flags.output} (mode 0600)${withSecrets ? ": it holds keys and PIN hashes, keep it as safe as the database" : ""}`);
        }
      } finally {
        storage.close();
      }
      return EXIT_OK;
    }
  }
}

/** Writes `text` to a file only its owner can read, narrowing an existing file first. */
function writePrivateFile(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, "w", 0o600);
  } catch (err) {
    throw new UsageError(`otp: cannot write ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    chmodSync(path, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
