/**
 * Failure log lines, bounded per key: at most `linesPerMinute` lines for one key (an IP address
 * for failed logins and component handshakes, a requester's bare JID for the login-token
 * component's refusals) in each minute, then, when that minute is over, one summary line
 * (`… and 12345 more failures from 192.0.2.7 in the last minute`). A client hammering the server
 * (or one that reconnects to get around the per-connection cap) cannot flood the log, while
 * fail2ban still sees every address: its first lines each minute are written as usual.
 * At most `maxAddresses` keys are followed at once; failures from further keys in the same
 * minute are counted together in one summary line. Keys and lines are the caller's: prepared,
 * bounded values, never raw input (a key is printed in its summary line).
 * The server (src/server) and the login-token component (src/component) both write through it.
 */

/** Where the lines go (the server's Logger, the component's). */
export interface FailureLogSink {
  warn(message: string): void;
}

export interface FailureLogOptions {
  linesPerMinute?: number;
  maxAddresses?: number;
  /** Milliseconds, for tests. */
  now?: () => number;
}

interface Window {
  start: number;
  logged: number;
  suppressed: number;
}

const MINUTE = 60_000;

function count(n: number, noun: string, plural = "s"): string {
  return `${n} ${noun}${n === 1 ? "" : plural}`;
}

export class FailureLog {
  private readonly windows = new Map<string, Window>();
  /** Failures from addresses beyond maxAddresses, not logged one by one. */
  private overflow: { start: number; failures: number; addresses: Set<string> } | null = null;
  private readonly linesPerMinute: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: FailureLogSink,
    { linesPerMinute = 10, maxAddresses = 10_000, now = () => Date.now() }: FailureLogOptions = {},
  ) {
    this.linesPerMinute = linesPerMinute;
    this.maxAddresses = maxAddresses;
    this.now = now;
  }

  /** One failure from `ip` (the key), with its log line. */
  failure(ip: string, line: string): void {
    const now = this.now();
    let window = this.windows.get(ip);
    if (window && now - window.start >= MINUTE) {
      this.close(ip, window);
      window = undefined;
    }
    if (!window) {
      if (this.windows.size >= this.maxAddresses) this.sweep(now);
      if (this.windows.size >= this.maxAddresses) return this.overflowed(ip, now);
      window = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(ip, window);
    }
    if (window.logged < this.linesPerMinute) {
      window.logged++;
      this.log.warn(line);
      return;
    }
    window.suppressed++;
    this.startTimer();
  }

  /** Writes the summary of every minute that is over (the timer calls this; tests may too). */
  sweep(now = this.now()): void {
    for (const [ip, window] of this.windows) if (now - window.start >= MINUTE) this.close(ip, window);
    if (this.overflow && now - this.overflow.start >= MINUTE) this.closeOverflow();
    if (this.windows.size === 0 && !this.overflow && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Writes every pending summary now (server shutdown). */
  flush(): void {
    for (const [ip, window] of this.windows) this.close(ip, window);
    if (this.overflow) this.closeOverflow();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private close(ip: string, window: Window): void {
    this.windows.delete(ip);
    if (window.suppressed > 0) this.log.warn(`… and ${count(window.suppressed, "more failure")} from ${ip} in the last minute`);
  }

  private overflowed(ip: string, now: number): void {
    this.overflow ??= { start: now, failures: 0, addresses: new Set() };
    this.overflow.failures++;
    if (this.overflow.addresses.size < this.maxAddresses) this.overflow.addresses.add(ip);
    this.startTimer();
  }

  private closeOverflow(): void {
    const { failures, addresses } = this.overflow!;
    this.overflow = null;
    this.log.warn(`… and ${count(failures, "more failure")} from ${count(addresses.size, "more address", "es")} in the last minute (too many addresses to log each)`);
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), MINUTE / 4);
    this.timer.unref();
  }
}
