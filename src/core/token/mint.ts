import { randomInt } from "node:crypto";
import { normaliseBareJid } from "../jid/prep.js";
import { DEFAULT_NONCE_DIGITS, formatToken, nonceDigitsProblem, signedMessage } from "./format.js";
import { Keyring, OTP_STEP_SECONDS, type TokenKey } from "./keys.js";
import { timeStep } from "../otp/totp.js";
import { systemClock } from "../clock.js";
import { DEFAULT_WINDOW, WINDOW_RULE, expiresAt, isValidWindow } from "./window.js";

export class MintError extends Error {
  override readonly name = "MintError";
}

export interface MintOptions {
  /** The user's JID; the token is for its prepared bare form. */
  jid: string;
  /** The domain's key, or its key list (the first one mints). */
  key: TokenKey | readonly TokenKey[] | Keyring;
  /** Unix time in seconds; the current time by default. */
  now?: number;
  /** The nonce's length, as the verifier is configured (its `nonceDigits`); 32 by default. */
  nonceDigits?: number;
  /** Exactly `nonceDigits` decimal digits; random ones from crypto.randomInt by default. Given only for tests and vectors. */
  nonce?: string;
}

/** Uniformly random decimal digits (32: about 106 bits), drawn 8 at a time. */
export function randomNonce(digits = DEFAULT_NONCE_DIGITS): string {
  let nonce = "";
  while (nonce.length < digits) nonce += String(randomInt(0, 100_000_000)).padStart(8, "0");
  return nonce.slice(0, digits);
}

/** Mints an X-TOKEN token exactly as mod_auth_token's generator does. */
export function mintToken(options: MintOptions): string {
  return mint(options).token;
}

export interface IssueOptions extends MintOptions {
  /** The verifiers' window (time steps either side of now); 1 by default. */
  window?: number;
}

export interface IssuedToken {
  token: string;
  /** The prepared bare JID the token is for. */
  jid: string;
  /** Unix time (seconds) after which no verifier with that window accepts the token. */
  expiresAt: number;
}

/** Mints a token and says until when it is good: what a token endpoint or a CLI hands out. */
export function issueToken({ window = DEFAULT_WINDOW, ...options }: IssueOptions): IssuedToken {
  if (!isValidWindow(window)) throw new MintError(`window must be ${WINDOW_RULE}`);
  const { token, jid, step } = mint(options);
  return { token, jid, expiresAt: expiresAt(step, window) };
}

function mint({ jid, key, now = systemClock(), nonceDigits = DEFAULT_NONCE_DIGITS, nonce }: MintOptions): { token: string; jid: string; step: number } {
  const bareJid = normaliseBareJid(jid);
  const problem = nonceDigitsProblem(nonceDigits);
  if (problem) throw new MintError(problem);
  nonce ??= randomNonce(nonceDigits);
  // A token whose nonce has another length would never verify (see format.ts).
  if (typeof nonce !== "string" || nonce.length !== nonceDigits || !/^\d+$/.test(nonce)) throw new MintError(`nonce must be exactly ${nonceDigits} decimal digits`);
  if (!Number.isFinite(now) || now < 0) throw new MintError("now must be a non-negative unix time in seconds");
  const signer = Keyring.from(key).current;
  const step = timeStep(now, { step: OTP_STEP_SECONDS });
  const otp = signer.otpAt(step).toString("latin1");
  return { token: formatToken(otp, nonce, signer.sign(signedMessage(otp, nonce, bareJid))), jid: bareJid, step };
}
