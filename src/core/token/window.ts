/**
 * The verification window and what it means for a token's lifetime: the one owner of both rules
 * (verifiers, the authority, the configuration, the CLI and every minter use these).
 */
import { OTP_STEP_SECONDS } from "./keys.js";

/** Time steps accepted either side of now when nothing else is said (Prosody's value). */
export const DEFAULT_WINDOW = 1;
export const MAX_WINDOW = 10;
/** For error messages: "window must be " + WINDOW_RULE. */
export const WINDOW_RULE = `an integer from 0 to ${MAX_WINDOW}`;

export function isValidWindow(window: unknown): window is number {
  return typeof window === "number" && Number.isInteger(window) && window >= 0 && window <= MAX_WINDOW;
}

/**
 * Unix time (seconds) after which no verifier with `window` accepts an OTP of time step `step`:
 * verifiers accept it while their own step is at most `step + window`.
 */
export function expiresAt(step: number, window: number): number {
  return (step + window + 1) * OTP_STEP_SECONDS;
}
