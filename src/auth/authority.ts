/**
 * The server's view of tokens: which domains it hosts, their keys, windows and disabled
 * accounts, and one replay store shared by every stream (and every mechanism).
 */
import { nameprep } from "../core/jid/prep.js";
import { MemoryReplayStore } from "../core/replay/memory.js";
import type { ReplayStore } from "../core/replay/store.js";
import { DEFAULT_NONCE_DIGITS, nonceDigitsProblem, tokenSignatureStart } from "../core/token/format.js";
import { KeyError, Keyring, type TokenKey } from "../core/token/keys.js";
import { verifyToken, type Accepted, type RejectReason } from "../core/token/verify.js";
import { DEFAULT_WINDOW, WINDOW_RULE, isValidWindow } from "../core/token/window.js";
import { systemClock, type Clock } from "../core/clock.js";
import { mintedBefore } from "../core/token/not-before.js";
import type { RevocationRecords } from "../core/records/revocations.js";

/** One hosted domain as the authority needs it (the server's DomainConfig fits). */
export interface AuthorityDomain {
  /** Current key first; every key verifies (rotation). */
  keys: readonly TokenKey[];
  /** TOTP steps accepted either side of now; 1 by default. */
  window?: number;
  /** The tokens' exact nonce length in digits; 32 by default (see core/token/format.ts). */
  nonceDigits?: number;
  /** Prepared localparts whose logins are refused with `account-disabled`. */
  disabledUsers?: readonly string[];
}

export interface AuthorityOptions {
  domains: Record<string, AuthorityDomain>;
  replay?: ReplayStore;
  /** The clock (unix seconds); the system clock by default. */
  now?: Clock;
  /**
   * Revoked accounts (docs/revocation.md): a token minted before its account's not-before time is
   * refused with `revoked`. Read at every login; an engine that cannot answer refuses the login.
   */
  revocations?: Pick<RevocationRecords, "notBefore">;
}

interface HostedDomain {
  keyring: Keyring;
  window: number;
  nonceDigits: number;
  disabled: Set<string>;
}

/** Checks and prepares every domain; throws KeyError naming the first bad one. */
function hostedDomains(domains: Record<string, AuthorityDomain>): Map<string, HostedDomain> {
  const hosted = new Map<string, HostedDomain>();
  for (const [name, domain] of Object.entries(domains)) {
    const window = domain.window ?? DEFAULT_WINDOW;
    // A bad window would otherwise surface as an exception on the first login.
    if (!isValidWindow(window)) throw new KeyError(`${name}: window must be ${WINDOW_RULE}, got ${window}`);
    const nonceDigits = domain.nonceDigits ?? DEFAULT_NONCE_DIGITS;
    const nonceProblem = nonceDigitsProblem(nonceDigits);
    if (nonceProblem) throw new KeyError(`${name}: ${nonceProblem}`);
    hosted.set(nameprep(name), {
      keyring: new Keyring(domain.keys),
      window,
      nonceDigits,
      // Stryker disable next-line ArrayDeclaration: equivalent, the mutant's entry has spaces, which nodeprep forbids, so no prepared localpart equals it
      disabled: new Set(domain.disabledUsers ?? []),
    });
  }
  return hosted;
}

/**
 * The answer to one login check (the shape of a Prosody auth profile): ok, the account is
 * disabled, or the reason the token was refused.
 */
export type AuthorityVerdict = Accepted | { ok: false; reason: RejectReason | "unknown-domain" | "account-disabled" | "revoked" };

export class TokenAuthority {
  private hosted: ReadonlyMap<string, HostedDomain>;
  readonly replay: ReplayStore;
  private readonly now: Clock;
  private readonly revocations: Pick<RevocationRecords, "notBefore"> | null;

  constructor({ domains, replay = new MemoryReplayStore(), now = systemClock, revocations }: AuthorityOptions) {
    this.hosted = hostedDomains(domains);
    this.replay = replay;
    this.now = now;
    this.revocations = revocations ?? null;
  }

  /**
   * Replaces every hosted domain at once (a configuration reload): domains added are hosted from
   * now on, a domain removed refuses new logins with `unknown-domain`, and keys, windows, nonce
   * lengths and disabled accounts take their new values for the next check. The replay store
   * stays, so a token used before the swap is still used after it. Everything is checked before
   * anything changes: a bad domain throws KeyError and the authority keeps its domains. Logins
   * already accepted are not affected (the authority keeps no sessions).
   */
  replaceDomains(domains: Record<string, AuthorityDomain>): void {
    this.hosted = hostedDomains(domains);
  }

  hosts(domain: string): boolean {
    return this.hosted.has(domain);
  }

  get domains(): string[] {
    return [...this.hosted.keys()];
  }

  /** The keys that mint for `domain` (current first), for an endpoint or CLI on the same host. */
  keyring(domain: string): Keyring | undefined {
    return this.hosted.get(domain)?.keyring;
  }

  /**
   * Whether `password` has the shape of a token (digits, a space, a signature): a PLAIN password
   * of that shape is checked as a token, any other may be a one-time password account's.
   */
  isToken(password: string): boolean {
    // Stryker disable next-line EqualityOperator: equivalent, the signature's space follows 8 OTP digits, so it is never at 0
    return tokenSignatureStart(password) >= 0;
  }

  /**
   * What refuses every login of `localpart@domain` before any secret is looked at: the domain is
   * not hosted, or the account is disabled; null when neither. For the other checks of a login
   * (one-time password accounts, src/auth/otp), so they follow the same rules as tokens.
   */
  accountProblem(localpart: string, domain: string): "unknown-domain" | "account-disabled" | null {
    const hosted = this.hosted.get(domain);
    if (!hosted) return "unknown-domain";
    return hosted.disabled.has(localpart) ? "account-disabled" : null;
  }

  /**
   * The one check of a login: is `domain` hosted, is the account enabled, does `token` verify
   * for `localpart@domain` (claimed in the shared replay store when it does). `localpart` and
   * `domain` are already prepared (nodeprep, nameprep): they are not prepared again here.
   */
  check(localpart: string, domain: string, token: string): Promise<AuthorityVerdict> {
    const hosted = this.hosted.get(domain);
    if (!hosted) return Promise.resolve({ ok: false, reason: "unknown-domain" });
    if (hosted.disabled.has(localpart)) return Promise.resolve({ ok: false, reason: "account-disabled" });
    const verdict = verifyToken(token, {
      jid: `${localpart}@${domain}`,
      jidPrepared: true,
      keys: hosted.keyring,
      window: hosted.window,
      nonceDigits: hosted.nonceDigits,
      replay: this.replay,
      now: this.now(),
    });
    const revocations = this.revocations;
    if (!revocations) return verdict;
    // Last, after the replay claim: the not-before is read as late as possible, so a revocation
    // recorded while the token was being checked still counts. A token that verifies and was
    // minted before it is refused (and stays used).
    return verdict.then(async (result): Promise<AuthorityVerdict> => {
      if (!result.ok) return result;
      let notBefore: number | null;
      try {
        notBefore = await revocations.notBefore(result.jid);
      } catch {
        // The same shared store (or database) as the replay claim's: fail closed, as it does.
        return { ok: false, reason: "replay-store-error" };
      }
      return mintedBefore(result.step, notBefore) ? { ok: false, reason: "revoked" } : result;
    });
  }
}
