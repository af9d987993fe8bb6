#!/usr/bin/env node
/** The `x-token` command line: keygen, mint, verify, serve, hash-password, component, extauth, otp, cert. */
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../config/load.js";
import { StorageOpenError } from "../../stores/sqlite/index.js";
import { EXIT_INTERNAL, EXIT_OK, EXIT_STORAGE, EXIT_USAGE, println, UsageError, type CliIO } from "./io.js";
import { keygen } from "./keygen.js";
import { mint } from "./mint.js";
import { verify } from "./verify.js";
import { serve } from "./serve.js";
import { hashPasswordCommand } from "./hash-password.js";
import { component } from "./component.js";
import { extauth } from "./extauth.js";
import { otp } from "./otp.js";
import { revoke } from "./revoke.js";
import { cert } from "./cert.js";

const HELP = `Usage: x-token <command> [options]

Commands:
  keygen          print a fresh otp_seed and token_secret
  mint            mint a token for a JID
  verify          check a token for a JID
  serve           run the XMPP server (--dev: development defaults)
  component       run the login-token XMPP component (XEP-0114, XEP-0050)
  hash-password   hash a demo user's password (asked without echo, or read from standard input)
  extauth         external authentication program for ejabberd, MongooseIM, Prosody
  otp             one-time password accounts: add, list, remove, resync, import, export
  revoke          revoke an account: refuse its tokens minted before now, end its streams
  cert            client certificates for SASL EXTERNAL: add, list, disable, revoke

Run "x-token <command> --help" for a command's options; "x-token --version" prints the version.`;

const COMMANDS: Record<string, (io: CliIO) => number | Promise<number>> = {
  keygen,
  mint,
  verify,
  serve,
  "hash-password": hashPasswordCommand,
  component,
  extauth,
  otp,
  revoke,
  cert,
};

/** Runs one command line; returns the exit code. Never throws for a user's mistake. */
export async function run(io: CliIO): Promise<number> {
  const [name, ...rest] = io.argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    println(name === undefined ? io.stderr : io.stdout, HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === "--version" || name === "-v") {
    println(io.stdout, packageVersion());
    return EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
    return await command({ ...io, argv: rest });
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      println(io.stderr, `x-token: ${err.message}`);
      return EXIT_USAGE;
    }
    if (err instanceof StorageOpenError) {
      println(io.stderr, `x-token: ${err.message}`);
      return EXIT_STORAGE;
    }
    throw err;
  }
}

/** This package's version, from the package.json above this file (src/ in tests, dist/src/ installed). */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "xmpp-x-token" && pkg.version) return pkg.version;
    } catch {
      // no (readable) package.json here: look further up
    }
    if (dirname(dir) === dir) return "unknown";
  }
}

/** Installs the SIGTERM/SIGINT handlers only when a command waits for them (`serve`), so Ctrl-C stops any other command at once. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string) => {
      resolve(signal);
      // A second signal while closing means "now".
      process.once("SIGTERM", () => process.exit(1));
      process.once("SIGINT", () => process.exit(1));
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}

/** Installs the SIGHUP handler only for a command that reloads (`serve`); others keep SIGHUP's default. */
function reloadSignal(onReload: () => void): void {
  process.on("SIGHUP", () => onReload());
}

/** True when this file is the program (also through npm's bin symlink), not an import. */
function isMain(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  const internalError = (err: unknown) => {
    // A bug, not a user's mistake: one line, no secrets (errors here never carry them).
    println(process.stderr, `x-token: internal error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EXIT_INTERNAL);
  };
  // An error no command caught (an event handler's exception) ends the process the same way;
  // exiting closes every listener with it.
  process.on("uncaughtException", internalError);
  process.on("unhandledRejection", internalError);
  run({ argv: process.argv.slice(2), env: process.env, stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, stopSignal, reloadSignal })
    .then((code) => {
      process.exitCode = code;
      // A command has finished: a handle left open by mistake must not keep the process running.
      setTimeout(() => process.exit(), 5000).unref();
    }, internalError);
}
