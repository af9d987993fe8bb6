import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./io.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Strict flag parsing: unknown flags and stray arguments are usage errors, as one line. */
export function parseFlags<T extends Options>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }).values as {
      [K in keyof T]?: T[K] extends { type: "boolean" } ? boolean : string;
    } & { help?: boolean };
  } catch (err) {
    // Node's messages look like: Unknown option '--foo'. ... ; keep the first sentence.
    const message = (err as Error).message.split("\n")[0]!.replace(/\. To specify.*$/, "");
    throw new UsageError(`${command}: ${message} (see x-token ${command} --help)`);
  }
}

export function unixSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,12}(\.\d+)?$/.test(value)) throw new UsageError(`${flag} must be a unix time in seconds`);
  return Number(value);
}
