/**
 * The `otp` section: settings of one-time password accounts (docs/otp.md), read by `serve` (XMPP
 * logins and the demo's two-factor sign-in), `extauth` and `x-token otp`:
 * - `maxOffset`: the HOTP look-ahead, counter values beyond the stored one a code may be for
 *   (mod_authn_otp's OTPAuthMaxOffset), 0 to 100; XTOKEN_OTP_MAX_OFFSET overrides it.
 * - `issuer`: what an authenticator app shows above the codes of a credential made here (in the
 *   otpauth:// URI); the account's domain when absent.
 * Defaults are DEFAULT_OTP_SETTINGS, here only.
 */
import { checkIssuer, OtpSetupError } from "../../auth/otp/manage.js";
import { DEFAULT_MAX_OFFSET, MAX_MAX_OFFSET } from "../../auth/otp/verifier.js";
import { ConfigError, integer, object, string } from "./validators.js";

export interface OtpSettings {
  maxOffset: number;
  /** null: each credential's domain. */
  issuer: string | null;
}

export const DEFAULT_OTP_SETTINGS: Readonly<OtpSettings> = { maxOffset: DEFAULT_MAX_OFFSET, issuer: null };

export function parseOtp(value: unknown, env: NodeJS.ProcessEnv): OtpSettings {
  const raw = value === undefined || value === null ? {} : object(value, "otp", ["maxOffset", "issuer"]);
  const settings: OtpSettings = { ...DEFAULT_OTP_SETTINGS };
  if (raw.maxOffset !== undefined) settings.maxOffset = integer(raw.maxOffset, "otp.maxOffset", 0, MAX_MAX_OFFSET);
  if (raw.issuer !== undefined && raw.issuer !== null) {
    try {
      settings.issuer = checkIssuer(string(raw.issuer, "otp.issuer"));
    } catch (err) {
      if (err instanceof OtpSetupError) throw new ConfigError(`config: otp.issuer: ${err.message}`);
      throw err;
    }
  }
  const fromEnv = env.XTOKEN_OTP_MAX_OFFSET;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!/^\d{1,3}$/.test(fromEnv) || Number(fromEnv) > MAX_MAX_OFFSET) throw new ConfigError(`config: XTOKEN_OTP_MAX_OFFSET must be an integer from 0 to ${MAX_MAX_OFFSET}`);
    settings.maxOffset = Number(fromEnv);
  }
  return settings;
}
