/**
 * Which counter value or time step a one-time password belongs to: the arithmetic of a login
 * check, with no state. Whether a value was used already, and claiming it, is the records'
 * business (src/core/records/otp.ts); these functions only say where a code matches.
 */
import { timingSafeEqual } from "node:crypto";
import { hotp, OtpOptionsError, type OtpAlgorithm } from "./hotp.js";
import { timeStep } from "./totp.js";

export interface CodeOptions {
  algorithm?: OtpAlgorithm;
  digits?: number;
}

/** Whether two codes are the same, compared in constant time (their length is not secret). */
export function sameCode(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `digits` decimal digits and nothing else (the only shape a code has). */
export function isCodeShape(code: string, digits: number): boolean {
  return code.length === digits && /^[0-9]+$/.test(code);
}

function checkRange(from: number, to: number): void {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from || to - from > 100_000) {
    throw new OtpOptionsError(`otp: counter range ${from}..${to} is not a range of at most 100000 non-negative integers`);
  }
}

/**
 * Every counter value from `from` to `to` (both included) whose HOTP is `code`, in order. Every
 * value of the range is computed and compared, match or not, so the time taken does not say
 * where (or whether) the code matched.
 */
export function hotpMatches(key: Uint8Array, code: string, from: number, to: number, options: CodeOptions = {}): number[] {
  checkRange(from, to);
  const found: number[] = [];
  for (let counter = from; counter <= to; counter++) {
    if (sameCode(hotp(key, counter, options), code)) found.push(counter);
  }
  return found;
}

export interface StepOptions extends CodeOptions {
  /** Step length in seconds (30 or 60 for the accounts here). */
  period: number;
  /** Steps accepted either side of the current one (1: the clock of a phone may be a step off). */
  skew?: number;
}

/** The time steps around `now` (unix seconds) whose TOTP is `code`, in order. */
export function totpMatches(key: Uint8Array, code: string, now: number, { period, skew = 1, ...options }: StepOptions): number[] {
  if (!Number.isInteger(skew) || skew < 0 || skew > 10) throw new OtpOptionsError(`otp: skew must be an integer from 0 to 10, got ${skew}`);
  const current = timeStep(now, { step: period });
  return hotpMatches(key, code, Math.max(0, current - skew), current + skew, options);
}

/**
 * Resynchronisation (RFC 4226 E.4): the counter value `c` from `from` on, within `window`
 * values, with HOTP(c) = `first` and HOTP(c + 1) = `second`, or null. Two consecutive codes
 * make a false match about a million times less likely than one.
 */
export function findHotpPair(key: Uint8Array, first: string, second: string, from: number, window: number, options: CodeOptions = {}): number | null {
  checkRange(from, from + window);
  let previous = hotp(key, from, options);
  for (let counter = from; counter < from + window; counter++) {
    const next = hotp(key, counter + 1, options);
    if (sameCode(previous, first) && sameCode(next, second)) return counter;
    previous = next;
  }
  return null;
}
