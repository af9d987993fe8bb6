/**
 * Turns a stream of Redis answers and failures into log lines: one warning when an outage
 * starts and one line when Redis answers again, however many logins fail in between.
 */

/** The log the Redis adapters write to (the server's Logger has this shape). */
export interface StoreLog {
  info(message: string): void;
  warn(message: string): void;
}

const MAX_CAUSE_CHARS = 200;

/** An error's message kept to one short line (it goes into a log line). */
export function describeCause(err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  const line = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, " ");
  return line.length > MAX_CAUSE_CHARS ? `${line.slice(0, MAX_CAUSE_CHARS)}...` : line;
}

export class OutageReporter {
  private downSince: number | null = null;
  private refusedDuringOutage = 0;

  /**
   * @param what names the store in the lines, e.g. "replay store (Redis at redis://10.0.0.5:6379)";
   *   never a URL with its password.
   */
  constructor(
    private readonly what: string,
    private readonly log: StoreLog,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether the last thing heard from Redis was a failure. */
  get down(): boolean {
    return this.downSince !== null;
  }

  /** Redis failed (error, timeout, connection lost). Logs only when this starts an outage. */
  failed(cause: unknown): void {
    if (this.downSince !== null) return;
    this.downSince = this.clock();
    this.refusedDuringOutage = 0;
    this.log.warn(`${this.what} unavailable (${describeCause(cause)}): logins are refused until it answers again`);
  }

  /** A request was refused because of the outage (counted for the recovery line). */
  refused(): void {
    if (this.downSince !== null) this.refusedDuringOutage++;
  }

  /** Redis answered. Logs only when this ends an outage. */
  answered(): void {
    if (this.downSince === null) return;
    const seconds = ((this.clock() - this.downSince) / 1000).toFixed(1);
    this.downSince = null;
    this.log.info(`${this.what} answers again after ${seconds} s; ${this.refusedDuringOutage} login(s) were refused meanwhile`);
  }
}
