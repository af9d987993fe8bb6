/** Command-line flags of the benchmark scripts: `--name value`, checked, with a default. */

/** A positive integer flag; anything else ends the script with a usage line (exit 2). */
export function numberFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
  return value;
}

/** A positive number flag (seconds, rates); anything else ends the script with a usage line (exit 2). */
export function positiveFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!(value > 0) || !Number.isFinite(value)) {
    console.error(`--${name} must be a positive number`);
    process.exit(2);
  }
  return value;
}

export function textFlag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
