import { mintToken } from "../../core/token/mint.js";
import { checkToken } from "../../core/token/verify.js";
import { parseFlags, unixSeconds } from "./args.js";
import { EXIT_OK, println, type CliIO } from "./io.js";
import { KEY_SOURCE_HELP, KEY_SOURCE_OPTIONS, resolveKeys } from "./keys-source.js";

export const MINT_HELP = `Usage: x-token mint --jid JID [--at UNIX_SECONDS] [--json] [--config FILE]

Mints an X-TOKEN token for the bare JID and prints only the token, so that
  T=$(x-token mint --jid alice@example.com)
works. --json prints {"jid", "token", "expiresAt"} instead. --at mints for another time.

${KEY_SOURCE_HELP}`;

export function mint({ argv, env, stdout, stderr }: CliIO): number {
  const flags = parseFlags("mint", argv, { jid: { type: "string" }, at: { type: "string" }, json: { type: "boolean" }, ...KEY_SOURCE_OPTIONS });
  if (flags.help) return println(stdout, MINT_HELP), EXIT_OK;
  const { jid, keyring, window, nonceDigits } = resolveKeys(flags.jid, flags, env, (line) => println(stderr, `x-token: ${line}`));
  const now = unixSeconds(flags.at, "--at") ?? Date.now() / 1000;
  const token = mintToken({ jid, key: keyring, now, nonceDigits });
  if (!flags.json) return println(stdout, token), EXIT_OK;
  const checked = checkToken(token, { jid, keys: keyring, now, window, nonceDigits });
  println(stdout, JSON.stringify({ jid, token, expiresAt: checked.ok ? checked.expiresAt : null }));
  return EXIT_OK;
}
