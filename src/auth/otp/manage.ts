/**
 * Managing one-time password credentials, as library calls (a web backend's enrolment screens)
 * and for `x-token otp`: enrol (a new secret, its otpauth:// URI), list, remove, resynchronise a
 * HOTP counter, import and export the users file of mod_authn_otp and pam_oath. Every error is an
 * OtpSetupError or OtpRecordsError whose message names accounts, credential names and line
 * numbers, never a secret, a PIN or a code.
 */
import { randomBytes } from "node:crypto";
import { InvalidJidError, nodeprep, prepareBareJid } from "../../core/jid/prep.js";
import type { OtpAlgorithm } from "../../core/otp/hotp.js";
import { base32Encode } from "../../core/otp/base32.js";
import { findHotpPair, hotpMatches, isCodeShape, totpMatches } from "../../core/otp/match.js";
import { systemClock } from "../../core/clock.js";
import { otpauthUri } from "../../core/otp/otpauth.js";
import { formatUsersFileLine, parseUsersFile, UsersFileError } from "../../core/otp/users-file.js";
import { timeStep } from "../../core/otp/totp.js";
import type { OtpCredential, OtpCredentialSpec, OtpCredentials, OtpKind } from "../../core/records/otp.js";
import { hashPin, isPinHash } from "./pin.js";
import { DEFAULT_MAX_OFFSET, TOTP_SKEW } from "./verifier.js";

/** A request that cannot be done as asked (a bad JID, a short secret, codes that match nowhere). */
export class OtpSetupError extends Error {
  override readonly name = "OtpSetupError";
}

/** Bytes of a new credential's secret: at least 16 (Keystone's rule); 20 (SHA-1's size) by default. */
export const MIN_SECRET_BYTES = 16;
export const DEFAULT_SECRET_BYTES = 20;
/** Imported secrets are taken as they are, with a warning below this. */
export const WEAK_SECRET_BYTES = 10;
export const MIN_PIN_LENGTH = 4;
export const MAX_PIN_LENGTH = 64;
/** Counter values a resynchronisation searches from the stored counter on. */
export const DEFAULT_RESYNC_WINDOW = 1000;

/** What is shown of a credential: everything but its secret and its PIN's hash. */
export interface OtpCredentialSummary {
  id: number;
  jid: string;
  name: string;
  kind: OtpKind;
  algorithm: OtpAlgorithm;
  digits: 6 | 8;
  period: 30 | 60 | null;
  hasPin: boolean;
  /** HOTP: the next counter value expected. */
  counter: number;
  /** TOTP: the last step used, or null. */
  lastStep: number | null;
  createdAt: number;
}

export function summary(c: OtpCredential): OtpCredentialSummary {
  return { id: c.id, jid: c.jid, name: c.name, kind: c.kind, algorithm: c.algorithm, digits: c.digits, period: c.period, hasPin: c.pinHash !== null, counter: c.counter, lastStep: c.lastStep, createdAt: c.createdAt };
}

/** The prepared bare JID, or OtpSetupError; a JID with a resource is refused. */
export function otpAccount(jid: string): string {
  try {
    if (jid.includes("/")) throw new InvalidJidError("a resource is not allowed");
    const { local, domain } = prepareBareJid(jid);
    return `${local}@${domain}`;
  } catch (err) {
    if (err instanceof InvalidJidError) throw new OtpSetupError(`not a bare JID: ${JSON.stringify(jid.slice(0, 96))} (${err.message})`);
    throw err;
  }
}

function checkName(name: string): string {
  if (!/^[\p{L}\p{N}._-]{1,32}$/u.test(name)) throw new OtpSetupError("a credential name is 1 to 32 letters, digits, '.', '_' or '-'");
  return name;
}

function checkPin(pin: string): void {
  if ([...pin].length < MIN_PIN_LENGTH || [...pin].length > MAX_PIN_LENGTH) throw new OtpSetupError(`a PIN has ${MIN_PIN_LENGTH} to ${MAX_PIN_LENGTH} characters`);
  if (/\s/u.test(pin) || /[\p{Cc}]/u.test(pin)) throw new OtpSetupError("a PIN has no spaces or control characters");
}

export interface EnrolOptions {
  /** The account (a bare JID; prepared here). */
  jid: string;
  /** "totp" (authenticator apps; default) or "hotp" (counter tokens). */
  kind?: OtpKind;
  digits?: 6 | 8;
  /** SHA-1 by default; SHA-256 and SHA-512 for TOTP only (apps that support them). */
  algorithm?: OtpAlgorithm;
  /** TOTP step: 30 (default) or 60 seconds. */
  period?: 30 | 60;
  /** Unique per account; `kind` (then `kind-2`, ...) by default. */
  name?: string;
  /** The PIN in clear (typed by the user): only its hash is stored. */
  pin?: string;
  /** The secret; random by default. At least MIN_SECRET_BYTES. */
  secret?: Uint8Array;
  /** The issuer in the otpauth:// URI (what the app shows above the code); the JID's domain by default. */
  issuer?: string;
}

export interface Enrolment {
  credential: OtpCredentialSummary;
  /** The secret in base32, for typing into an app by hand. */
  secret: string;
  /** The otpauth:// URI for a QR code (holds the secret: show it once, to its owner only). */
  uri: string;
}

/** The otpauth:// URI of a stored credential. */
export function credentialUri(c: Pick<OtpCredentialSpec, "kind" | "jid" | "secret" | "algorithm" | "digits" | "period" | "counter">, issuer?: string): string {
  return otpauthUri({
    kind: c.kind,
    issuer: issuer ?? c.jid.slice(c.jid.lastIndexOf("@") + 1),
    account: c.jid,
    secret: c.secret,
    algorithm: c.algorithm,
    digits: c.digits,
    ...(c.kind === "totp" ? { period: c.period ?? 30 } : { counter: c.counter }),
  });
}

/** The credential `options` describe, checked (a PIN hashed), not stored yet. */
async function newCredential(credentials: OtpCredentials, options: EnrolOptions): Promise<OtpCredentialSpec> {
  const jid = otpAccount(options.jid);
  const kind = options.kind ?? "totp";
  const digits = options.digits ?? 6;
  const algorithm = options.algorithm ?? "sha1";
  if (kind !== "hotp" && kind !== "totp") throw new OtpSetupError("kind must be totp or hotp");
  if (digits !== 6 && digits !== 8) throw new OtpSetupError("digits must be 6 or 8");
  if (!["sha1", "sha256", "sha512"].includes(algorithm)) throw new OtpSetupError("algorithm must be sha1, sha256 or sha512");
  if (kind === "hotp" && algorithm !== "sha1") throw new OtpSetupError("HOTP credentials use SHA-1 (RFC 4226); SHA-256 and SHA-512 are for TOTP");
  const period = kind === "totp" ? (options.period ?? 30) : null;
  if (period !== null && period !== 30 && period !== 60) throw new OtpSetupError("period must be 30 or 60 seconds");
  if (kind === "hotp" && options.period !== undefined) throw new OtpSetupError("a period is for TOTP credentials");
  const secret = options.secret ? Uint8Array.from(options.secret) : randomBytes(DEFAULT_SECRET_BYTES);
  if (secret.length < MIN_SECRET_BYTES) throw new OtpSetupError(`a new credential's secret has at least ${MIN_SECRET_BYTES} bytes`);
  if (options.pin !== undefined) checkPin(options.pin);
  const taken = new Set(credentials.forAccount(jid).map((c) => c.name));
  let name = options.name;
  if (name === undefined) {
    name = kind;
    for (let n = 2; taken.has(name); n++) name = `${kind}-${n}`;
  }
  checkName(name);
  if (taken.has(name)) throw new OtpSetupError(`${jid} already has a credential named ${JSON.stringify(name)}`);
  if (options.issuer !== undefined) checkIssuer(options.issuer);
  const pinHash = options.pin === undefined ? null : await hashPin(options.pin);
  return { jid, name, kind, algorithm, digits, period, secret, pinHash, counter: 0, lastStep: null };
}

/** What an authenticator app shows above the code: non-empty, no ':' (the URI's label separator), at most 64 characters. */
export function checkIssuer(issuer: string): string {
  if (issuer === "" || issuer.includes(":") || [...issuer].length > 64 || /\p{Cc}/u.test(issuer)) {
    throw new OtpSetupError("the issuer must be 1 to 64 characters, with no ':' and no control characters");
  }
  return issuer;
}

/** Creates a credential for an account (which may have others) and stores it. */
export async function enrolOtpCredential(credentials: OtpCredentials, options: EnrolOptions): Promise<Enrolment> {
  const stored = credentials.add(await newCredential(credentials, options));
  return { credential: summary(stored), secret: base32Encode(stored.secret), uri: credentialUri(stored, options.issuer) };
}

/**
 * An enrolment the user has not confirmed yet (startOtpEnrolment): the secret to show, kept by
 * the caller (in memory, with the user's session) until a code confirms it. Nothing is stored.
 */
export interface PendingOtpEnrolment extends Omit<Enrolment, "credential"> {
  /** The credential to store once confirmed (holds the secret: never log or persist it). */
  readonly spec: OtpCredentialSpec;
}

/**
 * Keystone's and Caddy's enrolment screens, in two steps: a new credential is made and shown
 * (`uri` as a QR code, `secret` for typing by hand), and is stored only when the user types a
 * code from the app (confirmOtpEnrolment). A user who never scans it is not locked out by a
 * credential their app does not have.
 */
export async function startOtpEnrolment(credentials: OtpCredentials, options: EnrolOptions): Promise<PendingOtpEnrolment> {
  const spec = await newCredential(credentials, options);
  return { spec, secret: base32Encode(spec.secret), uri: credentialUri(spec, options.issuer) };
}

/**
 * Stores a pending enrolment when `code` is a code of it (the code alone, never a PIN: this
 * proves the app has the secret); null when it is not. The confirming code is used up with it: a
 * TOTP credential is stored with that step as its last used one, a HOTP credential with its
 * counter past it, so the same code cannot log in afterwards. A code is looked for as a login
 * looks (TOTP: the current step and one either side; HOTP: the first `maxOffset` + 1 values).
 * Throws OtpRecordsError when the account got a credential of that name (or the most) meanwhile.
 */
export function confirmOtpEnrolment(
  credentials: OtpCredentials,
  pending: PendingOtpEnrolment,
  code: string,
  { now = systemClock(), maxOffset = DEFAULT_MAX_OFFSET }: { now?: number; maxOffset?: number } = {},
): OtpCredentialSummary | null {
  const { spec } = pending;
  if (!isCodeShape(code, spec.digits)) return null;
  const options = { algorithm: spec.algorithm, digits: spec.digits };
  if (spec.kind === "hotp") {
    const matches = hotpMatches(spec.secret, code, spec.counter, spec.counter + maxOffset, options);
    if (matches.length === 0) return null;
    return summary(credentials.add({ ...spec, counter: matches[matches.length - 1]! + 1 }));
  }
  const steps = totpMatches(spec.secret, code, now, { ...options, period: spec.period ?? 30, skew: TOTP_SKEW });
  if (steps.length === 0) return null;
  return summary(credentials.add({ ...spec, lastStep: Math.max(...steps) }));
}

/** Every credential (of one account when `jid` is given), without secrets. */
export function listOtpCredentials(credentials: OtpCredentials, jid?: string): OtpCredentialSummary[] {
  return (jid === undefined ? credentials.all() : credentials.forAccount(otpAccount(jid))).map(summary);
}

/** Removes one credential (by name) or all of an account's; OtpSetupError when there was none. */
export function removeOtpCredentials(credentials: OtpCredentials, jid: string, name?: string): number {
  const account = otpAccount(jid);
  const removed = credentials.remove(account, name);
  if (removed === 0) throw new OtpSetupError(name === undefined ? `${account} has no credentials` : `${account} has no credential named ${JSON.stringify(name)}`);
  return removed;
}

/** The one credential `name` picks, or the account's only HOTP credential. */
function pickHotp(credentials: OtpCredentials, jid: string, name?: string): OtpCredential {
  const mine = credentials.forAccount(jid);
  const candidates = mine.filter((c) => (name === undefined ? c.kind === "hotp" : c.name === name));
  if (candidates.length === 0) throw new OtpSetupError(name === undefined ? `${jid} has no HOTP credential` : `${jid} has no credential named ${JSON.stringify(name)}`);
  if (candidates.length > 1) throw new OtpSetupError(`${jid} has several HOTP credentials: name one (${candidates.map((c) => c.name).join(", ")})`);
  const credential = candidates[0]!;
  if (credential.kind !== "hotp") throw new OtpSetupError(`${JSON.stringify(credential.name)} is a TOTP credential: only HOTP counters drift (a TOTP app needs its phone's clock set right)`);
  return credential;
}

/**
 * Finds a HOTP token's counter from two consecutive codes the user read off it (tokens drift
 * when pressed away from the server), searching `window` values from the stored counter on, and
 * sets the counter past them (both codes are then used up). Returns the new counter.
 */
export function resyncHotpCredential(
  credentials: OtpCredentials,
  { jid, name, first, second, window = DEFAULT_RESYNC_WINDOW }: { jid: string; name?: string; first: string; second: string; window?: number },
): { name: string; counter: number } {
  const account = otpAccount(jid);
  const credential = pickHotp(credentials, account, name);
  if (!isCodeShape(first, credential.digits) || !isCodeShape(second, credential.digits)) throw new OtpSetupError(`the codes must be ${credential.digits} digits each`);
  if (!Number.isInteger(window) || window < 1 || window > 100_000) throw new OtpSetupError("the window must be an integer from 1 to 100000");
  const found = findHotpPair(credential.secret, first, second, credential.counter, window, { digits: credential.digits });
  if (found === null) throw new OtpSetupError(`the two codes are not consecutive codes of ${JSON.stringify(credential.name)} within ${window} values of its counter; read two new ones`);
  const counter = found + 2;
  if (!credentials.setCounter(credential.id, counter)) throw new OtpSetupError(`${JSON.stringify(credential.name)} was removed meanwhile`);
  return { name: credential.name, counter };
}

export interface ImportOptions {
  /** The domain a USER without `@` belongs to. */
  domain?: string;
  /** Replace the credentials of accounts that have some (otherwise such an import is refused whole). */
  replace?: boolean;
  /** Domains hosted here: a user of another domain is refused (all domains when absent). */
  hostedDomains?: readonly string[];
}

export interface ImportResult {
  added: number;
  replacedAccounts: number;
  /** One line per concern (a short key), naming the line and the account, never the key. */
  warnings: string[];
}

/**
 * Imports a users file (TYPE USER PIN KEY [COUNTER [LASTOTP [LASTTIME]]]) all or nothing: the
 * first bad line throws UsersFileError (`line N: ...`) and nothing is written; so does an
 * account that already has credentials, unless `replace`. PINs are hashed; a PIN that is already
 * one of our hashes (our export) is kept as it is. Credentials are named `imported`,
 * `imported-2`, ... per account.
 */
export async function importOtpUsersFile(credentials: OtpCredentials, text: string, { domain, replace = false, hostedDomains }: ImportOptions = {}): Promise<ImportResult> {
  const entries = parseUsersFile(text);
  const hosted = hostedDomains ? new Set(hostedDomains) : null;
  const warnings: string[] = [];
  const perAccount = new Map<string, number>();
  const specs: OtpCredentialSpec[] = [];
  for (const entry of entries) {
    let jid: string;
    try {
      if (entry.user.includes("@")) jid = otpAccount(entry.user);
      else {
        if (domain === undefined) throw new UsersFileError(entry.line, "USER has no domain: give --domain, or write USER as a bare JID");
        jid = `${nodeprep(entry.user)}@${otpAccount(`x@${domain}`).slice(2)}`;
      }
    } catch (err) {
      if (err instanceof UsersFileError) throw err;
      throw new UsersFileError(entry.line, "USER is not a valid localpart or bare JID");
    }
    const jidDomain = jid.slice(jid.lastIndexOf("@") + 1);
    if (hosted && !hosted.has(jidDomain)) throw new UsersFileError(entry.line, `${jidDomain} is not a domain hosted here`);
    if (entry.key.length === 0) throw new UsersFileError(entry.line, "KEY is empty");
    if (entry.key.length < WEAK_SECRET_BYTES) warnings.push(`line ${entry.line}: ${jid}'s key has only ${entry.key.length} bytes (imported as it is; give the user a new credential of ${DEFAULT_SECRET_BYTES} bytes)`);
    let pinHash: string | null = null;
    if (entry.pin !== null) {
      if (entry.pin === "+") throw new UsersFileError(entry.line, "PIN '+' (checked by another module) is not supported: give the PIN, or '-'");
      if (isPinHash(entry.pin)) pinHash = entry.pin;
      else {
        try {
          checkPin(entry.pin);
        } catch (err) {
          throw new UsersFileError(entry.line, (err as Error).message);
        }
        pinHash = await hashPin(entry.pin);
      }
    }
    const n = (perAccount.get(jid) ?? 0) + 1;
    perAccount.set(jid, n);
    specs.push({
      jid,
      name: n === 1 ? "imported" : `imported-${n}`,
      kind: entry.kind,
      algorithm: "sha1",
      digits: entry.digits,
      period: entry.period,
      secret: entry.key,
      pinHash,
      counter: entry.kind === "hotp" ? entry.counter : 0,
      lastStep: entry.kind === "totp" && entry.lastTime !== null ? timeStep(entry.lastTime, { step: entry.period! }) : null,
    });
  }
  const { added, replacedAccounts } = credentials.importAll(specs, { replace });
  return { added, replacedAccounts, warnings };
}

export interface ExportResult {
  text: string;
  /** Credentials the format cannot hold (SHA-256/512), by account and name. */
  skipped: string[];
}

/**
 * The users file of every credential, with current counters and last used steps. Keys and PIN
 * hashes only `withSecrets` (only such a file can be imported again); otherwise `-` for the key
 * and `*` for a PIN that is set. PINs are only ever written as their hashes (we never have them in
 * clear): for mod_authn_otp or pam_oath, set them anew.
 */
export function exportOtpUsersFile(credentials: OtpCredentials, { withSecrets = false }: { withSecrets?: boolean } = {}): ExportResult {
  const lines = ["# x-token otp export: TYPE USER PIN KEY COUNTER [LASTOTP [LASTTIME]] (docs/otp.md)"];
  if (!withSecrets) lines.push("# without --with-secrets: no keys (-) and no PIN hashes (*); this file cannot be imported");
  const skipped: string[] = [];
  for (const c of credentials.all()) {
    if (c.algorithm !== "sha1") {
      skipped.push(`${c.jid} ${JSON.stringify(c.name)} (${c.algorithm.toUpperCase()})`);
      continue;
    }
    const pin = c.pinHash === null ? "-" : withSecrets ? c.pinHash : "*";
    lines.push(formatUsersFileLine({ kind: c.kind, digits: c.digits, period: c.period, user: c.jid, pin, key: withSecrets ? c.secret : null, counter: c.counter, lastStep: c.lastStep }));
  }
  return { text: `${lines.join("\n")}\n`, skipped };
}
