import { hashPassword } from "../../auth/password/scrypt-hash.js";
import { parseFlags } from "./args.js";
import { EXIT_OK, println, readAll, UsageError, type CliIO } from "./io.js";
import { asTerminal, readHidden } from "./prompt.js";

export const HASH_PASSWORD_HELP = `Usage: x-token hash-password

Prints the scrypt hash of a demo user's password, for the "passwordHash" of a user in the
configuration's "demo" section. On a terminal it asks for the password twice, without
showing it; otherwise it reads it from standard input (one line), for example from a file:
  x-token hash-password < password.txt`;

const MIN_LENGTH = 8;

export async function hashPasswordCommand({ argv, stdout, stderr, stdin }: CliIO): Promise<number> {
  const flags = parseFlags("hash-password", argv, {});
  if (flags.help) return println(stdout, HASH_PASSWORD_HELP), EXIT_OK;
  const terminal = asTerminal(stdin);
  let password: string;
  if (terminal) {
    password = await readHidden(terminal, stderr, "Password: ");
    if (password.length >= MIN_LENGTH && (await readHidden(terminal, stderr, "Again: ")) !== password) {
      throw new UsageError("the two passwords differ");
    }
  } else {
    password = (await readAll(stdin, 1024)).replace(/\r?\n$/, "");
  }
  if (password.length < MIN_LENGTH) throw new UsageError(`the password must be at least ${MIN_LENGTH} characters`);
  println(stdout, await hashPassword(password));
  return EXIT_OK;
}
