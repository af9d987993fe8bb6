/**
 * Abuse policy for logins, pure but for the injected clock: which failures count, when an IP or
 * a JID has used up its failures for the minute (further attempts then get
 * `temporary-auth-failure`, even with a good token), and when one connection has failed too often.
 */
import type { SaslCondition } from "../sasl/types.js";
import { WindowCounter } from "./window-counter.js";

export interface LoginLimits {
  maxAuthFailuresPerConnection: number;
  maxAuthFailuresPerIpPerMinute: number;
  maxAuthFailuresPerJidPerMinute: number;
}

export interface LoginLimiterOptions {
  limits: LoginLimits;
  /** Unix seconds. */
  now?: () => number;
  /** Most IPs and JIDs remembered each (oldest forgotten first), so memory stays bounded. */
  maxKeys?: number;
}

export class LoginLimiter {
  private readonly byIp: WindowCounter;
  private readonly byJid: WindowCounter;
  private readonly perConnection: number;

  constructor({ limits, now, maxKeys }: LoginLimiterOptions) {
    const common = { windowSeconds: 60, ...(now ? { now } : {}), ...(maxKeys ? { maxKeys } : {}) };
    this.byIp = new WindowCounter({ limit: limits.maxAuthFailuresPerIpPerMinute, ...common });
    this.byJid = new WindowCounter({ limit: limits.maxAuthFailuresPerJidPerMinute, ...common });
    this.perConnection = limits.maxAuthFailuresPerConnection;
  }

  /** Whether a login attempt for `jid` from `ip` may be checked at all (the SASL gate). */
  allows(ip: string, jid: string): boolean {
    return !this.byIp.isOver(ip) && !this.byJid.isOver(jid);
  }

  /**
   * Records a failed attempt. A client's own `<abort/>` is not a failure; a held-back
   * (rate-limited) attempt is, so hammering keeps the window closed. Returns whether it counted.
   */
  recordFailure(condition: SaslCondition, ip: string, jid?: string): boolean {
    if (condition === "aborted") return false;
    this.byIp.record(ip);
    if (jid !== undefined) this.byJid.record(jid);
    return true;
  }

  /** Whether a connection with this many counted failures must be closed. */
  connectionExhausted(failuresOnConnection: number): boolean {
    return failuresOnConnection >= this.perConnection;
  }
}
