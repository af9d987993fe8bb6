import { randomBytes } from "node:crypto";
import { base32Encode } from "../../core/otp/base32.js";
import { parseFlags } from "./args.js";
import { EXIT_OK, println, type CliIO } from "./io.js";

export const KEYGEN_HELP = `Usage: x-token keygen [--json]

Prints a fresh otp_seed (160 bits, base32) and token_secret (256 bits, base32 text used as
is), ready to paste into a Prosody configuration, into environment variables, and into an
x-token configuration file's key list. Keep them secret: anyone who has them can mint tokens.

Every x-token command refuses weak keys (a token secret under 16 bytes, an OTP seed under 10
bytes decoded, whitespace or repeated characters); keys made here always pass. The token secret
also does as a demo session secret or a component secret.`;

export function keygen({ argv, stdout }: CliIO): number {
  const flags = parseFlags("keygen", argv, { json: { type: "boolean" } });
  if (flags.help) return println(stdout, KEYGEN_HELP), EXIT_OK;
  const otpSeed = base32Encode(randomBytes(20));
  const tokenSecret = base32Encode(randomBytes(32));
  if (flags.json) {
    println(stdout, JSON.stringify({ otpSeed, tokenSecret }));
    return EXIT_OK;
  }
  println(stdout, "# Prosody (mod_auth_token), in the VirtualHost:");
  println(stdout, `otp_seed = "${otpSeed}"`);
  println(stdout, `token_secret = "${tokenSecret}"`);
  println(stdout);
  println(stdout, "# Environment (x-token, your web backend):");
  println(stdout, `export XTOKEN_OTP_SEED=${otpSeed}`);
  println(stdout, `export XTOKEN_SECRET=${tokenSecret}`);
  println(stdout);
  println(stdout, "# x-token configuration file, first entry of a domain's \"keys\" list:");
  println(stdout, JSON.stringify({ tokenSecret, otpSeed }));
  return EXIT_OK;
}
