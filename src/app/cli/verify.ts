import { checkToken } from "../../core/token/verify.js";
import { WINDOW_RULE, isValidWindow } from "../../core/token/window.js";
import { parseToken } from "../../core/token/format.js";
import { parseFlags, unixSeconds } from "./args.js";
import { EXIT_OK, EXIT_REFUSED, println, readAll, UsageError, type CliIO } from "./io.js";
import { KEY_SOURCE_HELP, KEY_SOURCE_OPTIONS, resolveKeys } from "./keys-source.js";

export const VERIFY_HELP = `Usage: x-token verify --jid JID --token TOKEN|- [--at UNIX_SECONDS] [--window N] [--config FILE]

Checks a token for a JID: exit 0 and "valid", or exit 1 and "invalid: REASON":
  malformed          not "8-digit otp, nonce, space, base64 signature", or the nonce is not
                     exactly 32 digits (the domain's nonceDigits with --config); a line on
                     stderr then says which
  bad-signature      signed with another key, or for another JID
  otp-out-of-window  the token's time step is outside --window steps of now
A --jid that is not a valid JID is a usage error: exit 2, one line on stderr.

"--token -" reads the token from standard input. The check is stateless: there is no
replay store here, so a token already used on a server still shows as valid while its
time window lasts.

${KEY_SOURCE_HELP}`;

export async function verify({ argv, env, stdout, stderr, stdin }: CliIO): Promise<number> {
  const flags = parseFlags("verify", argv, {
    jid: { type: "string" },
    token: { type: "string" },
    at: { type: "string" },
    window: { type: "string" },
    ...KEY_SOURCE_OPTIONS,
  });
  if (flags.help) return println(stdout, VERIFY_HELP), EXIT_OK;
  if (flags.token === undefined) throw new UsageError("--token is required (or --token - to read it from standard input)");
  const { jid, keyring, window, nonceDigits } = resolveKeys(flags.jid, flags, env, (line) => println(stderr, `x-token: ${line}`));
  const token = flags.token === "-" ? (await readAll(stdin)).trim() : flags.token;
  let chosenWindow = window;
  if (flags.window !== undefined) {
    if (!/^\d{1,2}$/.test(flags.window) || !isValidWindow(Number(flags.window))) throw new UsageError(`--window must be ${WINDOW_RULE}`);
    chosenWindow = Number(flags.window);
  }
  const result = checkToken(token, { jid, keys: keyring, now: unixSeconds(flags.at, "--at"), window: chosenWindow, nonceDigits });
  if (result.ok) {
    println(stdout, "valid");
    return EXIT_OK;
  }
  println(stdout, `invalid: ${result.reason}`);
  if (result.reason === "malformed") println(stderr, `x-token: ${malformedWhy(token, nonceDigits)}`);
  return EXIT_REFUSED;
}

/** Which part of a malformed token is wrong; never echoes the token. */
function malformedWhy(token: string, nonceDigits: number): string {
  const parts = parseToken(token);
  if (!parts) return "the token is not an 8-digit otp and a nonce of digits, a space, and a 44-character base64 signature";
  // Another length lets digits move between nonce and localpart (1alice -> alice), so none is accepted.
  return `the nonce has ${parts.nonce.length} digits; this domain accepts exactly ${nonceDigits} (nonceDigits)`;
}
