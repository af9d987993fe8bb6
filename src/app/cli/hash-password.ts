import { hashPassword } from "../../web/demo/password.js";
import { parseFlags } from "./args.js";
import { EXIT_OK, println, readAll, UsageError, type CliIO } from "./io.js";

export const HASH_PASSWORD_HELP = `Usage: echo -n PASSWORD | x-token hash-password

Reads a demo user's password from standard input and prints its scrypt hash, for the
"passwordHash" of a user in the configuration's "demo" section.`;

export async function hashPasswordCommand({ argv, stdout, stdin }: CliIO): Promise<number> {
  const flags = parseFlags("hash-password", argv, {});
  if (flags.help) return println(stdout, HASH_PASSWORD_HELP), EXIT_OK;
  const password = (await readAll(stdin, 1024)).replace(/\r?\n$/, "");
  if (password.length < 8) throw new UsageError("the password must be at least 8 characters");
  println(stdout, await hashPassword(password));
  return EXIT_OK;
}
