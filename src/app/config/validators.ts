/**
 * The configuration's building blocks: plain validators that name the setting they refuse
 * (`config: limits.maxStanzaBytes must be ...`) and never echo a secret. load.ts and the
 * sections beside it (component, store, metrics) are written with them.
 */
import { InvalidJidError, nameprep } from "../../core/jid/prep.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export type Raw = Record<string, unknown>;
/** Reads a file named in the configuration (relative to the config file). */
export type FileReader = (path: string) => string;

export function isObject(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The allowed name closest to a mistyped `key` (case aside, or at most two edits away), or null. */
export function nearest(key: string, allowed: readonly string[]): string | null {
  const lower = key.toLowerCase();
  let best: string | null = null;
  let bestDistance = 3;
  for (const name of allowed) {
    const distance = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance; names are short (bounded by the JSON file the operator wrote). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export function object(value: unknown, path: string, allowed: readonly string[]): Raw {
  if (!isObject(value)) throw new ConfigError(`config: ${path} must be an object`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const near = nearest(key, allowed);
      const hint = near === null ? "" : `; did you mean "${near}"?`;
      // The file's top level is "the configuration" in other messages ("... must be an object"); its keys are named alone.
      const name = path === "the configuration" ? key : `${path}.${key}`;
      throw new ConfigError(`config: ${name} is not a known setting${hint} (known: ${allowed.join(", ")})`);
    }
  }
  return value;
}

export function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`config: ${path} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== "string" || value.length === 0) throw new ConfigError(`config: ${path} must be a non-empty string`);
  return value;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") throw new ConfigError(`config: ${path} must be true or false`);
  return value;
}

/** A secret given inline, as a file (`<name>File`) or as an environment variable (`<name>Env`). */
export function secret(raw: Raw, name: string, path: string, env: NodeJS.ProcessEnv, readFile: FileReader): string {
  const given = [name, `${name}File`, `${name}Env`].filter((k) => raw[k] !== undefined);
  if (given.length !== 1) throw new ConfigError(`config: ${path} needs exactly one of ${name}, ${name}File, ${name}Env`);
  const key = given[0]!;
  if (key === name) return string(raw[key], `${path}.${name}`);
  if (key === `${name}Env`) {
    const variable = string(raw[key], `${path}.${key}`);
    const value = Object.hasOwn(env, variable) ? env[variable] : undefined;
    if (!value) throw new ConfigError(`config: ${path}.${key}: environment variable ${variable} is not set`);
    return value;
  }
  const file = string(raw[key], `${path}.${key}`);
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new ConfigError(`config: ${path}.${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const value = text.trim();
  if (!value) throw new ConfigError(`config: ${path}.${key}: ${file} is empty`);
  return value;
}

export function domainName(name: string, path: string): string {
  try {
    return nameprep(name);
  } catch (err) {
    if (err instanceof InvalidJidError) throw new ConfigError(`config: ${path}: ${JSON.stringify(name)} is not a valid domain (${err.message})`);
    throw err;
  }
}

/** defineProperty, not `=`: a key named "__proto__" (a domain) stays a key and never becomes a prototype. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
