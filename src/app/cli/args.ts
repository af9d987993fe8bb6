import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./io.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Strict flag parsing: unknown flags and stray arguments are usage errors, as one line. */
export function parseFlags<T extends Options>(command: string, argv: string[], options: T) {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, options), options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    // Node's messages look like: Unknown option '--foo'. ... ; keep the first sentence.
    const message = (err as Error).message.split("\n")[0]!.replace(/\. To specify.*$/, "");
    throw new UsageError(`${command}: ${message} (see x-token ${command} --help)`);
  }
  // parseArgs keeps the last of a repeated option and takes "" as a value: both hide a mistake
  // (`--jid a --jid b` would mint for b; `--config ""` would fall back to the environment).
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    if (seen.has(token.name)) throw new UsageError(`${command}: --${token.name} is given more than once (see x-token ${command} --help)`);
    seen.add(token.name);
    if (token.value === "") throw new UsageError(`${command}: --${token.name} is empty (see x-token ${command} --help)`);
  }
  return parsed.values as {
    [K in keyof T]?: T[K] extends { type: "boolean" } ? boolean : string;
  } & { help?: boolean };
}

/**
 * `--window -1` as `--window=-1`: parseArgs refuses a value that starts with a dash as
 * "ambiguous", which hides the option's own, clearer check of the number. Only for options
 * that take a value, and only for values that look like negative numbers.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.startsWith("--") ? argv[i]!.slice(2) : null;
    const next = argv[i + 1];
    if (name !== null && Object.hasOwn(options, name) && options[name]!.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else {
      out.push(argv[i]!);
    }
  }
  return out;
}

export function unixSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,12}(\.\d+)?$/.test(value)) throw new UsageError(`${flag} must be a unix time in seconds`);
  return Number(value);
}
