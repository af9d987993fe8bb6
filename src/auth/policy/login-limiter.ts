/**
 * Abuse policy for logins: what counts, and what follows from the counts. The SASL exchange asks it before a
 * token is checked (`admit`: may this address try now?) and tells it every result afterwards
 * (`settle`). The rules:
 * - an address that used up its failures for the minute is refused before any check
 *   (`temporary-auth-failure`), and its refused attempts keep counting against it;
 * - a valid token is never refused because of failures that others caused: only a token the
 *   authority checked and refused counts against its JID (not a malformed attempt, not one the
 *   address limit already refused), and a JID over its limit only has further *failures*
 *   answered more slowly (and logged for fail2ban), never a token that verifies;
 * - one connection has a fixed budget of failed attempts (aborts included), then it is closed.
 */
import { memoryFailureCounter } from "./rate-limiter-counter.js";

export interface LoginLimits {
  maxAuthFailuresPerConnection: number;
  maxAuthFailuresPerIpPerMinute: number;
  maxAuthFailuresPerJidPerMinute: number;
}

/** The login limits when none are configured (config's `limits` starts from these). */
export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  maxAuthFailuresPerConnection: 5,
  maxAuthFailuresPerIpPerMinute: 20,
  maxAuthFailuresPerJidPerMinute: 10,
};

/**
 * Failures per key over a minute. Ours are rate-limiter-flexible counters
 * (rate-limiter-counter.ts): in memory by default, on Redis when shared (src/stores/redis);
 * hence the optional promises.
 */
export interface FailureCounter {
  record(key: string): void | Promise<void>;
  /** Whether `key` already used up its failures in the current window. */
  isOver(key: string): boolean | Promise<boolean>;
}

/** What one finished attempt was, as the policy sees it. */
export type AttemptResult =
  /** The token verified. */
  | "success"
  /** The authority checked a well-formed token for this JID and refused it. */
  | "refused"
  /** Any other failure: malformed, unknown mechanism, refused by the address limit, disabled... */
  | "failed";

export interface LoginAttempt {
  ip: string;
  /** The prepared bare JID that tried, when the attempt got that far. */
  jid?: string;
  result: AttemptResult;
}

export interface Settlement {
  /** The JID has used up its failures for the minute: log it, answer this failure late. */
  jidOverLimit: boolean;
  /** Seconds to wait before answering this failure (0 for a success). */
  holdBackSeconds: number;
}

/** The hook the SASL exchange calls; LoginLimiter is ours. */
export interface LoginPolicy {
  /** Failed attempts (aborts included) one connection may make before it is closed. */
  readonly maxFailuresPerConnection: number;
  /** Before a token is checked: may an attempt from `ip` be checked now? */
  admit(ip: string): boolean | Promise<boolean>;
  /** After an attempt: counts it and says how to answer it. */
  settle(attempt: LoginAttempt): Settlement | Promise<Settlement>;
}

export interface LoginLimiterOptions {
  limits: LoginLimits;
  /** Most IPs and JIDs the in-memory counters remember each (oldest forgotten first), so memory stays bounded. */
  maxKeys?: number;
  /** Other counters (a shared store, see loginFailureCounters in src/stores/redis); by default in memory, over 60 s. */
  counters?: { byIp: FailureCounter; byJid: FailureCounter };
  /** How long a failure for a JID over its limit waits before it is answered; 1 s by default. */
  holdBackSeconds?: number;
}

/** The window the per-address and per-JID limits count over ("per minute"). */
export const LOGIN_WINDOW_SECONDS = 60;

const ANSWER_NOW: Settlement = { jidOverLimit: false, holdBackSeconds: 0 };

export class LoginLimiter implements LoginPolicy {
  private readonly byIp: FailureCounter;
  private readonly byJid: FailureCounter;
  private readonly holdBackSeconds: number;
  readonly maxFailuresPerConnection: number;

  constructor({ limits, maxKeys, counters, holdBackSeconds = 1 }: LoginLimiterOptions) {
    const common = { windowSeconds: LOGIN_WINDOW_SECONDS, ...(maxKeys ? { maxKeys } : {}) };
    this.byIp = counters?.byIp ?? memoryFailureCounter({ limit: limits.maxAuthFailuresPerIpPerMinute, ...common });
    this.byJid = counters?.byJid ?? memoryFailureCounter({ limit: limits.maxAuthFailuresPerJidPerMinute, ...common });
    this.maxFailuresPerConnection = limits.maxAuthFailuresPerConnection;
    this.holdBackSeconds = holdBackSeconds;
  }

  async admit(ip: string): Promise<boolean> {
    return !(await this.byIp.isOver(ip));
  }

  async settle({ ip, jid, result }: LoginAttempt): Promise<Settlement> {
    if (result === "success") return ANSWER_NOW;
    // Every failure from an address counts against it, refused ones too (hammering keeps it shut).
    await this.byIp.record(ip);
    if (result !== "refused" || jid === undefined) return ANSWER_NOW;
    await this.byJid.record(jid);
    if (!(await this.byJid.isOver(jid))) return ANSWER_NOW;
    return { jidOverLimit: true, holdBackSeconds: this.holdBackSeconds };
  }
}
