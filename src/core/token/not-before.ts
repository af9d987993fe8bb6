/**
 * "Not before": the rule that refuses tokens minted before an account's revocation time. A token
 * does not carry the second it was minted, only its TOTP time step (the OTP inside it): a token of
 * step `s` was minted somewhere in [s * 30, s * 30 + 30). So the rule works at step granularity
 * and errs on the side of refusing:
 * - a step that starts at or after `notBefore` was minted after it: accepted;
 * - any other step holds at least one second before `notBefore`: refused, even though part of it
 *   may lie after. A token minted just after a revocation is therefore refused until the next
 *   step starts: for less than one step (30 s), never longer. When `notBefore` falls exactly on a
 *   step boundary nothing is refused wrongly.
 * Times are the minter's clock (the step comes from the backend that minted the token) against
 * the revoker's; clocks that disagree by d seconds move the edge by d, as they move the window.
 */
import { OTP_STEP_SECONDS } from "./keys.js";

/** Whether a token of time step `step` may have been minted before `notBefore` (unix seconds), and is refused. */
export function mintedBefore(step: number, notBefore: number | null | undefined): boolean {
  if (notBefore === null || notBefore === undefined) return false;
  return step * OTP_STEP_SECONDS < notBefore;
}

/** The first unix second at which a minted token is accepted again after a revocation at `notBefore`. */
export function acceptedFrom(notBefore: number): number {
  return Math.ceil(notBefore / OTP_STEP_SECONDS) * OTP_STEP_SECONDS;
}
