/**
 * The login check of one-time password accounts: is `password` the PIN of one of the account's
 * credentials followed by its next code (or the code alone, for a credential without a PIN)?
 * The rules (docs/otp.md):
 * - HOTP: the stored counter is the next value expected; a code for it or up to `maxOffset`
 *   values beyond is accepted, and the counter moves past it.
 * - TOTP: a code of the current step or one either side, and only of a step after the last one
 *   used (pam_oath's rule): a code is never taken twice, even within its 30 s.
 * - The move is atomic in the records (one conditional UPDATE): of two logins racing with one
 *   code, one succeeds.
 * - A wrong PIN does not use the code up: nothing is written unless PIN and code are both right.
 * - Every credential's PIN hash is checked on every attempt, whatever the code, so the time of a
 *   refusal says neither whether the code nor whether the PIN was right (a PIN cannot be guessed
 *   apart from the code).
 * Codes and PINs are never in a reason, a log line or an error.
 */
import { isCodeShape, hotpMatches, totpMatches } from "../../core/otp/match.js";
import type { OtpCredential, OtpCredentials } from "../../core/records/otp.js";
import { systemClock, type Clock } from "../../core/clock.js";
import { verifyPin } from "./pin.js";

/** Counter values beyond the stored one a HOTP code may be for (mod_authn_otp's OTPAuthMaxOffset). */
export const DEFAULT_MAX_OFFSET = 4;
export const MAX_MAX_OFFSET = 100;
/** TOTP steps accepted either side of the current one. */
export const TOTP_SKEW = 1;
/** HOTP values below the counter looked at, so that a code used again is logged as such. */
const LOOK_BEHIND = 8;

export type OtpVerdict = { ok: true; jid: string } | { ok: false; reason: string };

export interface OtpVerifierOptions {
  credentials: OtpCredentials;
  /** Unix seconds; the system clock by default. */
  now?: Clock;
  /** HOTP look-ahead, 0..100; DEFAULT_MAX_OFFSET by default. A function is read at every check (a reload). */
  maxOffset?: number | (() => number);
  /**
   * The rules every login of the domain follows: a domain not hosted, a disabled account
   * (TokenAuthority.accountProblem). Without it every domain is taken as hosted.
   */
  accounts?: { accountProblem(localpart: string, domain: string): string | null };
}

type CodeResult = { fresh: number } | { used: true } | null;

export class OtpVerifier {
  private readonly credentials: OtpCredentials;
  private readonly now: Clock;
  private readonly maxOffset: () => number;
  private readonly accounts: OtpVerifierOptions["accounts"];

  constructor({ credentials, now = systemClock, maxOffset = DEFAULT_MAX_OFFSET, accounts }: OtpVerifierOptions) {
    const offset = typeof maxOffset === "function" ? maxOffset : () => maxOffset;
    const checked = offset();
    if (!Number.isInteger(checked) || checked < 0 || checked > MAX_MAX_OFFSET) throw new RangeError(`otp: maxOffset must be an integer from 0 to ${MAX_MAX_OFFSET}, got ${checked}`);
    this.credentials = credentials;
    this.now = now;
    this.maxOffset = offset;
    this.accounts = accounts;
  }

  /**
   * The check of one login: null when the account has no one-time password credential (the
   * caller goes on with its other checks), else the verdict. `localpart` and `domain` are
   * prepared. Never throws: a store that cannot be read or written is `otp-store-error`.
   */
  async check(localpart: string, domain: string, password: string): Promise<OtpVerdict | null> {
    const jid = `${localpart}@${domain}`;
    let mine: OtpCredential[];
    try {
      mine = this.credentials.forAccount(jid);
    } catch {
      return { ok: false, reason: "otp-store-error" };
    }
    if (mine.length === 0) return null;
    const problem = this.accounts?.accountProblem(localpart, domain) ?? null;
    if (problem !== null) return { ok: false, reason: problem };
    const now = this.now();
    const maxOffset = this.maxOffset();
    const tries = mine.map((credential) => {
      const code = password.slice(-credential.digits);
      const pin = password.slice(0, Math.max(0, password.length - credential.digits));
      const result = isCodeShape(code, credential.digits) ? matchCode(credential, code, now, maxOffset) : null;
      // Always the PIN check, right code or not (see above); a credential without a PIN takes none.
      const pinOk = credential.pinHash === null ? Promise.resolve(pin === "") : verifyPin(pin, credential.pinHash);
      return { credential, result, pinOk };
    });
    let replayed = false;
    for (const { credential, result, pinOk } of tries) {
      if (!(await pinOk) || result === null) continue;
      if ("used" in result) {
        replayed = true;
        continue;
      }
      let claimed: boolean;
      try {
        claimed = credential.kind === "hotp" ? this.credentials.advanceCounter(credential.id, result.fresh) : this.credentials.claimStep(credential.id, result.fresh);
      } catch {
        return { ok: false, reason: "otp-store-error" };
      }
      if (claimed) return { ok: true, jid };
      // Another login took this code between our read and our write.
      replayed = true;
    }
    return { ok: false, reason: replayed ? "otp-replayed" : "otp-invalid" };
  }
}

/** Where `code` matches for this credential: a value not used yet, one used already, or nowhere. */
function matchCode(credential: OtpCredential, code: string, now: number, maxOffset: number): CodeResult {
  const options = { algorithm: credential.algorithm, digits: credential.digits };
  if (credential.kind === "hotp") {
    const matches = hotpMatches(credential.secret, code, Math.max(0, credential.counter - LOOK_BEHIND), credential.counter + maxOffset, options);
    const fresh = matches.find((c) => c >= credential.counter);
    if (fresh !== undefined) return { fresh };
    return matches.length > 0 ? { used: true } : null;
  }
  const matches = totpMatches(credential.secret, code, now, { ...options, period: credential.period ?? 30, skew: TOTP_SKEW });
  const fresh = matches.find((step) => credential.lastStep === null || step > credential.lastStep);
  if (fresh !== undefined) return { fresh };
  return matches.length > 0 ? { used: true } : null;
}
