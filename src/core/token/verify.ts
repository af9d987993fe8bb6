/**
 * Token verification, in the order the spec gives: shape, signature (constant time),
 * OTP window, replay. Every outcome is a value; no input string makes it throw.
 */
import { timingSafeEqual } from "node:crypto";
import { InvalidJidError, normaliseBareJid } from "../jid/prep.js";
import { timeStep } from "../otp/totp.js";
import type { ClaimResult, ReplayStore } from "../replay/store.js";
import { DEFAULT_NONCE_DIGITS, nonceDigitsProblem, OTP_DIGITS, readTokenSignature } from "./format.js";
import { Keyring, OTP_STEP_SECONDS, type TokenKey } from "./keys.js";
import { DEFAULT_WINDOW, WINDOW_RULE, expiresAt, isValidWindow } from "./window.js";
import { systemClock } from "../clock.js";
import { SIGNATURE_BYTES, SIGNATURE_TEXT_LENGTH } from "../replay/signature-text.js";

export type RejectReason =
  | "malformed"
  | "invalid-jid"
  | "bad-signature"
  | "otp-out-of-window"
  | "replayed"
  | "replay-store-full"
  | "replay-store-error";

export const REJECT_REASONS: readonly RejectReason[] = [
  "malformed",
  "invalid-jid",
  "bad-signature",
  "otp-out-of-window",
  "replayed",
  "replay-store-full",
  "replay-store-error",
];

export interface Accepted {
  ok: true;
  /** The prepared bare JID the token was for. */
  jid: string;
  /** Which key of the list verified it (0 is the current one); a high index means an old key still in use. */
  keyIndex: number;
  /** The time step the token's OTP belongs to. */
  step: number;
  /** Unix time (seconds) after which no verifier with this window accepts the token. */
  expiresAt: number;
}

export interface Rejected {
  ok: false;
  reason: RejectReason;
}

export type VerifyResult = Accepted | Rejected;

export interface CheckOptions {
  /** The JID that claims the token; compared as its prepared bare form. */
  jid: string;
  /** The domain's keys, current first. */
  keys: TokenKey | readonly TokenKey[] | Keyring;
  /** Unix time in seconds; the current time by default. */
  now?: number;
  /** Time steps accepted either side of now (Prosody: 1). */
  window?: number;
  /** `jid` is already a prepared bare JID (`local@domain` from nodeprep/nameprep): not prepared again. */
  jidPrepared?: boolean;
  /**
   * The exact nonce length, 16..128 (default 32); any other length is `malformed`. One fixed
   * length per domain: with "any length", digits move between nonce and localpart (format.ts).
   */
  nonceDigits?: number;
}

export interface VerifyOptions extends CheckOptions {
  /** Where accepted tokens are remembered. Without one, replays are not detected. */
  replay?: ReplayStore | null;
}

export class VerifyOptionsError extends Error {
  override readonly name = "VerifyOptionsError";
}

const signatureScratch = Buffer.alloc(SIGNATURE_BYTES);
const otpScratch = Buffer.alloc(OTP_DIGITS);
const TIME_STEP = { step: OTP_STEP_SECONDS } as const;

function reject(reason: RejectReason): Rejected {
  return { ok: false, reason };
}

function checkWindow(window: number): number {
  if (!isValidWindow(window)) throw new VerifyOptionsError(`window must be ${WINDOW_RULE}, got ${window}`);
  return window;
}

function checkNonceDigits(digits: number): number {
  const problem = nonceDigitsProblem(digits);
  if (problem) throw new VerifyOptionsError(problem);
  return digits;
}

/**
 * Checks a token without touching any replay store: pure but for the clock.
 * Options that are the caller's mistake (no keys, a bad window) throw; the token never does.
 */
export function checkToken(token: unknown, options: CheckOptions): VerifyResult {
  const window = checkWindow(options.window ?? DEFAULT_WINDOW);
  const nonceDigits = checkNonceDigits(options.nonceDigits ?? DEFAULT_NONCE_DIGITS);
  const keyring = Keyring.from(options.keys);
  const now = options.now ?? systemClock();
  // Decoded into reusable buffers: this function is synchronous, so nothing else uses them
  // meanwhile, and a login allocates less.
  const space = readTokenSignature(token, signatureScratch);
  // The nonce is what lies between the otp and the space: exactly nonceDigits of it.
  if (space - OTP_DIGITS !== nonceDigits) return reject("malformed");
  const text = token as string;
  let bareJid: string;
  try {
    bareJid = options.jidPrepared ? options.jid : normaliseBareJid(options.jid);
  } catch (err) {
    if (err instanceof InvalidJidError) return reject("invalid-jid");
    throw err;
  }

  // The signed message is otp || nonce || bare JID.
  const message = text.slice(0, space) + bareJid;
  const keys = keyring.keys;
  let keyIndex = -1;
  for (let i = 0; i < keys.length; i++) {
    if (keys[i]!.signs(message, signatureScratch)) {
      keyIndex = i;
      break;
    }
  }
  if (keyIndex === -1) return reject("bad-signature");

  const key = keys[keyIndex]!;
  const current = timeStep(now, TIME_STEP);
  for (let i = 0; i < OTP_DIGITS; i++) otpScratch[i] = text.charCodeAt(i); // ASCII digits
  // Every step of the window is compared, so the time taken does not tell which one matched.
  let matched = -1;
  for (let step = Math.max(0, current - window); step <= current + window; step++) {
    if (timingSafeEqual(key.otpAt(step), otpScratch) && matched === -1) matched = step;
  }
  if (matched === -1) return reject("otp-out-of-window");
  return { ok: true, jid: bareJid, keyIndex, step: matched, expiresAt: expiresAt(matched, window) };
}

/**
 * The replay-store identity of an accepted token: its signature's text. The signature is an HMAC
 * over otp || nonce || bare JID, so no other token shares it, and its base64 is canonical
 * (readTokenSignature refuses a second spelling), so one accepted token has exactly one id.
 * Short and already in hand: cheaper to hash and keep than the signed message.
 */
export function replayId(token: string): string {
  return token.slice(token.length - SIGNATURE_TEXT_LENGTH);
}

/** What a store's answer means for an accepted token. Anything unexpected fails closed. */
function decideClaim(accepted: Accepted, claim: unknown): VerifyResult {
  if (claim === "claimed") return accepted;
  if (claim === "replayed") return reject("replayed");
  if (claim === "full") return reject("replay-store-full");
  // A store that answers something else must not let a token through twice.
  return reject("replay-store-error");
}

/** Checks a token and, if it is good, claims it in the replay store so it is accepted once. */
export function verifyToken(token: unknown, options: VerifyOptions): Promise<VerifyResult> {
  let result: VerifyResult;
  try {
    result = checkToken(token, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const replay = options.replay;
  if (!result.ok || !replay) return Promise.resolve(result);
  const accepted = result;
  let claim: ClaimResult | Promise<ClaimResult>;
  try {
    const now = options.now ?? systemClock();
    if (replay.claimSignature) {
      // signatureScratch holds this token's signature (checkToken decoded it just now) only
      // until the next verification: the store must answer before returning.
      const answer: unknown = replay.claimSignature(signatureScratch, accepted.expiresAt, now);
      if (typeof answer === "string") return Promise.resolve(decideClaim(accepted, answer));
      // A promise may still read the buffer after another token has overwritten it: fail
      // closed, and keep its rejection, if any, from going unhandled.
      if (answer instanceof Promise) answer.catch(() => {});
      return Promise.resolve(reject("replay-store-error"));
    }
    claim = replay.claim(replayId(token as string), accepted.expiresAt, now);
  } catch {
    // A store we cannot reach must not let a token through twice: fail closed.
    return Promise.resolve(reject("replay-store-error"));
  }
  // Synchronous stores (the in-memory one) skip a round through the microtask queue.
  if (typeof claim === "string") return Promise.resolve(decideClaim(accepted, claim));
  return Promise.resolve(claim).then(
    (answer) => decideClaim(accepted, answer),
    () => reject("replay-store-error"),
  );
}
