/**
 * One-time password credentials of accounts ("one-time password accounts", docs/otp.md; not the
 * TOTP inside X-TOKEN tokens): an account logs in with PLAIN, the password being its PIN followed
 * by the code its authenticator app or hardware token shows. What is kept per credential, and
 * the two moves a login makes on it, each atomic wherever the records are shared (several
 * processes on one SQLite file): a code is accepted once.
 */
import type { OtpAlgorithm } from "../otp/hotp.js";

export type OtpKind = "hotp" | "totp";

/** A credential as it is stored (what `add` and `importAll` take). */
export interface OtpCredentialSpec {
  /** The prepared bare JID of the account. */
  jid: string;
  /** Unique per account: "phone", "yubikey". */
  name: string;
  kind: OtpKind;
  algorithm: OtpAlgorithm;
  digits: 6 | 8;
  /** TOTP: the step in seconds (30 or 60); null for HOTP. */
  period: 30 | 60 | null;
  /** The shared secret (kept as it is: the HMAC needs it). */
  secret: Uint8Array;
  /** The PIN's scrypt hash (`scrypt$N$r$p$salt$hash`), or null when the credential has none. */
  pinHash: string | null;
  /** HOTP: the next counter value expected (as in mod_authn_otp and pam_oath); 0 for TOTP. */
  counter: number;
  /** TOTP: the last time step a code was accepted for, or null; null for HOTP. */
  lastStep: number | null;
}

export interface OtpCredential extends OtpCredentialSpec {
  /** The store's id of the credential. */
  id: number;
  /** Unix milliseconds. */
  createdAt: number;
}

/** The most credentials one account may have (each login tries every one of them). */
export const MAX_OTP_CREDENTIALS_PER_ACCOUNT = 8;

/**
 * A change the records refuse (a name taken, too many credentials, an import over existing
 * credentials). The message names accounts and credential names, never a secret.
 */
export class OtpRecordsError extends Error {
  override readonly name = "OtpRecordsError";
}

export interface OtpCredentials {
  /** An account's credentials, oldest first (read at every login: changes take effect at the next one). */
  forAccount(jid: string): OtpCredential[];
  /** Every credential, by account then age (export, listing). */
  all(): OtpCredential[];
  /** Stores a new credential; OtpRecordsError when its name is taken or the account has the most. */
  add(spec: OtpCredentialSpec): OtpCredential;
  /** Removes one credential of the account (by name), or all of them (no name); returns how many. */
  remove(jid: string, name?: string): number;
  /**
   * Stores every credential in one unit, or none: when an account in `specs` already has
   * credentials, OtpRecordsError naming them, unless `replace` (their credentials are removed
   * first, in the same unit).
   */
  importAll(specs: readonly OtpCredentialSpec[], options: { replace: boolean }): { added: number; replacedAccounts: number };
  /**
   * HOTP: a code of counter value `used` was accepted: the counter becomes `used + 1`, if it is
   * still at or below `used`. True for the one caller that moved it; false when another login
   * (here or in another process) got there first, or the credential is gone.
   */
  advanceCounter(id: number, used: number): boolean;
  /** TOTP: records `step` as used if no step at or after it was; true for the one caller that did. */
  claimStep(id: number, step: number): boolean;
  /** Sets a HOTP counter (resynchronisation); false when the credential is gone. */
  setCounter(id: number, counter: number): boolean;
}

const copy = (c: OtpCredential): OtpCredential => ({ ...c, secret: Uint8Array.from(c.secret) });

/** The memory engine: a map, for tests and embedding (nothing survives the process). */
export class MemoryOtpCredentials implements OtpCredentials {
  private readonly byId = new Map<number, OtpCredential>();
  private nextId = 1;

  forAccount(jid: string): OtpCredential[] {
    return [...this.byId.values()].filter((c) => c.jid === jid).map(copy);
  }

  all(): OtpCredential[] {
    return [...this.byId.values()].sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : a.id - b.id)).map(copy);
  }

  add(spec: OtpCredentialSpec): OtpCredential {
    const mine = this.forAccount(spec.jid);
    if (mine.some((c) => c.name === spec.name)) throw new OtpRecordsError(`${spec.jid} already has a credential named ${JSON.stringify(spec.name)}`);
    if (mine.length >= MAX_OTP_CREDENTIALS_PER_ACCOUNT) throw new OtpRecordsError(`${spec.jid} already has ${MAX_OTP_CREDENTIALS_PER_ACCOUNT} credentials, the most an account may have`);
    const credential: OtpCredential = { ...spec, secret: Uint8Array.from(spec.secret), id: this.nextId++, createdAt: Date.now() };
    this.byId.set(credential.id, credential);
    return copy(credential);
  }

  remove(jid: string, name?: string): number {
    let removed = 0;
    for (const [id, c] of this.byId) {
      if (c.jid === jid && (name === undefined || c.name === name)) {
        this.byId.delete(id);
        removed++;
      }
    }
    return removed;
  }

  importAll(specs: readonly OtpCredentialSpec[], { replace }: { replace: boolean }): { added: number; replacedAccounts: number } {
    const accounts = [...new Set(specs.map((s) => s.jid))];
    const taken = accounts.filter((jid) => this.forAccount(jid).length > 0);
    if (taken.length > 0 && !replace) throw new OtpRecordsError(`already have credentials (give --replace to replace them): ${taken.join(", ")}`);
    // Checked whole before anything changes: all or nothing.
    const seen = new Map<string, Set<string>>();
    for (const spec of specs) {
      const names = seen.get(spec.jid) ?? new Set<string>();
      if (names.has(spec.name)) throw new OtpRecordsError(`${spec.jid} would have two credentials named ${JSON.stringify(spec.name)}`);
      if (names.size >= MAX_OTP_CREDENTIALS_PER_ACCOUNT) throw new OtpRecordsError(`${spec.jid} would have more than ${MAX_OTP_CREDENTIALS_PER_ACCOUNT} credentials`);
      names.add(spec.name);
      seen.set(spec.jid, names);
    }
    for (const jid of taken) this.remove(jid);
    for (const spec of specs) this.add(spec);
    return { added: specs.length, replacedAccounts: taken.length };
  }

  advanceCounter(id: number, used: number): boolean {
    const c = this.byId.get(id);
    if (!c || c.counter > used) return false;
    c.counter = used + 1;
    return true;
  }

  claimStep(id: number, step: number): boolean {
    const c = this.byId.get(id);
    if (!c || (c.lastStep !== null && c.lastStep >= step)) return false;
    c.lastStep = step;
    return true;
  }

  setCounter(id: number, counter: number): boolean {
    const c = this.byId.get(id);
    if (!c) return false;
    c.counter = counter;
    return true;
  }
}
