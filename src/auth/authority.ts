/**
 * The server's view of tokens: which domains it hosts, their keys, windows and disabled
 * accounts, and one replay store shared by every stream (and every mechanism).
 */
import { nameprep } from "../core/jid/prep.js";
import type { DomainConfig } from "../app/config/types.js";
import { MemoryReplayStore } from "../core/replay/memory.js";
import type { ReplayStore } from "../core/replay/store.js";
import { KeyError, Keyring } from "../core/token/keys.js";
import { verifyToken, type VerifyResult } from "../core/token/verify.js";

export interface AuthorityOptions {
  domains: Record<string, Pick<DomainConfig, "keys"> & Partial<DomainConfig>>;
  replay?: ReplayStore;
  /** Unix time in seconds; the system clock by default. */
  now?: () => number;
}

interface HostedDomain {
  keyring: Keyring;
  window: number;
  disabled: Set<string>;
}

export type AuthorityResult = VerifyResult | { ok: false; reason: "unknown-domain" };

export class TokenAuthority {
  private readonly hosted = new Map<string, HostedDomain>();
  readonly replay: ReplayStore;
  private readonly now: () => number;

  constructor({ domains, replay = new MemoryReplayStore(), now = () => Date.now() / 1000 }: AuthorityOptions) {
    for (const [name, domain] of Object.entries(domains)) {
      const window = domain.window ?? 1;
      // A bad window would otherwise surface as an exception on the first login.
      if (!Number.isInteger(window) || window < 0 || window > 10) {
        throw new KeyError(`${name}: window must be an integer from 0 to 10, got ${window}`);
      }
      this.hosted.set(nameprep(name), {
        keyring: new Keyring(domain.keys),
        window,
        disabled: new Set(domain.disabledUsers ?? []),
      });
    }
    this.replay = replay;
    this.now = now;
  }

  hosts(domain: string): boolean {
    return this.hosted.has(domain);
  }

  get domains(): string[] {
    return [...this.hosted.keys()];
  }

  isDisabled(domain: string, localpart: string): boolean {
    return this.hosted.get(domain)?.disabled.has(localpart) ?? false;
  }

  /** The keys that mint for `domain` (current first), for an endpoint or CLI on the same host. */
  keyring(domain: string): Keyring | undefined {
    return this.hosted.get(domain)?.keyring;
  }

  /** Verifies `token` for `localpart@domain` and claims it in the shared replay store. */
  verify(domain: string, localpart: string, token: string): Promise<AuthorityResult> {
    const hosted = this.hosted.get(domain);
    if (!hosted) return Promise.resolve({ ok: false, reason: "unknown-domain" });
    return verifyToken(token, {
      jid: `${localpart}@${domain}`,
      keys: hosted.keyring,
      window: hosted.window,
      replay: this.replay,
      now: this.now(),
    });
  }
}
