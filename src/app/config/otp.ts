/**
 * Settings of one-time password accounts (docs/otp.md), from the environment:
 * XTOKEN_OTP_MAX_OFFSET, the HOTP look-ahead (counter values beyond the stored one a code may be
 * for; mod_authn_otp's OTPAuthMaxOffset), 0 to 100, 4 by default. `serve` and `extauth` read it
 * at start.
 */
import { DEFAULT_MAX_OFFSET, MAX_MAX_OFFSET } from "../../auth/otp/verifier.js";
import { ConfigError } from "./validators.js";

export interface OtpSettings {
  maxOffset: number;
}

export function otpSettings(env: NodeJS.ProcessEnv): OtpSettings {
  const value = env.XTOKEN_OTP_MAX_OFFSET;
  if (value === undefined || value === "") return { maxOffset: DEFAULT_MAX_OFFSET };
  if (!/^\d{1,3}$/.test(value) || Number(value) > MAX_MAX_OFFSET) throw new ConfigError(`config: XTOKEN_OTP_MAX_OFFSET must be an integer from 0 to ${MAX_MAX_OFFSET}`);
  return { maxOffset: Number(value) };
}
