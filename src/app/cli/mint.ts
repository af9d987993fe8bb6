import { systemClock } from "../../core/clock.js";
import { issueToken } from "../../core/token/mint.js";
import { parseFlags, unixSeconds } from "./args.js";
import { EXIT_OK, println, type CliIO } from "./io.js";
import { KEY_SOURCE_HELP, KEY_SOURCE_OPTIONS, resolveKeys } from "./keys-source.js";

export const MINT_HELP = `Usage: x-token mint --jid JID [--at UNIX_SECONDS] [--json] [--config FILE]

Mints an X-TOKEN token for the bare JID and prints only the token, so that
  T=$(x-token mint --jid alice@example.com)
works. --json prints {"jid", "token", "expiresAt"} instead. --at mints for another time.
A weak key (token secret under 16 bytes, OTP seed under 10 bytes, repeated characters) is
refused: make a strong one with x-token keygen.

${KEY_SOURCE_HELP}`;

export function mint({ argv, env, stdout, stderr }: CliIO): number {
  const flags = parseFlags("mint", argv, { jid: { type: "string" }, at: { type: "string" }, json: { type: "boolean" }, ...KEY_SOURCE_OPTIONS });
  if (flags.help) return println(stdout, MINT_HELP), EXIT_OK;
  const { jid, keyring, window, nonceDigits } = resolveKeys(flags.jid, flags, env, (line) => println(stderr, `x-token: ${line}`));
  const now = unixSeconds(flags.at, "--at") ?? systemClock();
  const { token, expiresAt } = issueToken({ jid, key: keyring, now, nonceDigits, window });
  if (!flags.json) return println(stdout, token), EXIT_OK;
  println(stdout, JSON.stringify({ jid, token, expiresAt }));
  return EXIT_OK;
}
