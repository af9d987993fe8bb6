/** TOTP, RFC 6238: HOTP over the number of time steps since T0. */
import { hotp, OtpOptionsError, type HotpOptions } from "./hotp.js";

export interface TotpOptions extends HotpOptions {
  /** Step length in seconds (X in RFC 6238); 30 by default. */
  step?: number;
  /** Unix time in seconds at which counting starts; 0 by default. */
  t0?: number;
}

/** The time step (T in RFC 6238) that contains unix time `seconds`. */
export function timeStep(seconds: number, { step = 30, t0 = 0 }: TotpOptions = {}): number {
  if (!Number.isFinite(step) || step <= 0) throw new OtpOptionsError(`otp: step must be positive, got ${step}`);
  if (!Number.isFinite(seconds) || !Number.isFinite(t0)) throw new OtpOptionsError("otp: time must be finite");
  return Math.floor((seconds - t0) / step);
}

export function totp(key: Uint8Array, seconds: number, options: TotpOptions = {}): string {
  return hotp(key, timeStep(seconds, options), options);
}
