/**
 * Whether to read from a connection: reading stops while any reason holds, and starts again when
 * none does. Reasons: too many parsed elements wait for the session (`input`), or more than
 * `maxOutboundBytes` wait to be sent to the peer (`output`: a peer that does not read its replies
 * stops being read from, so what the server queues for it stays bounded).
 *
 * While `output` holds, the session handles none of the input already read either (it waits in
 * `whenFree("output")`), and a peer that takes no byte of its output for `StallWatch.seconds`
 * is given up on (`watchStall`): a client that never reads is cut off after a bounded time.
 */
export type PauseReason = "input" | "output";

export interface StallWatch {
  /** Seconds the peer may take nothing while `output` holds; 0 or less: never given up on. */
  seconds: number;
  /** Bytes the peer has taken so far (any count that grows when, and only when, it takes some). */
  taken(): number;
  /** It took nothing for `seconds`: close the connection. */
  stalled(): void;
}

export class ReadGate {
  private readonly reasons = new Set<PauseReason>();
  private waiters: { reason: PauseReason; wake: () => void }[] = [];
  private stall: StallWatch | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private takenAtCheck = 0;
  private lastProgressAt = 0;
  private closed = false;

  constructor(private readonly io: { pause(): void; resume(): void }) {}

  get paused(): boolean {
    return this.reasons.size > 0;
  }

  holds(reason: PauseReason): boolean {
    return this.reasons.has(reason);
  }

  hold(reason: PauseReason): void {
    if (this.closed || this.reasons.has(reason)) return;
    this.reasons.add(reason);
    if (reason === "output") this.startStallTimer();
    if (this.reasons.size === 1) this.io.pause();
  }

  release(reason: PauseReason): void {
    if (!this.reasons.delete(reason)) return;
    if (reason === "output") this.stopStallTimer();
    if (this.reasons.size === 0) this.io.resume();
    this.wake((w) => w.reason === reason);
  }

  /** Resolves once `reason` no longer holds (at once when it does not), or the connection is gone (close()). */
  whenFree(reason: PauseReason): Promise<void> {
    if (this.closed || !this.reasons.has(reason)) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ reason, wake }));
  }

  /** Gives up on a peer that takes nothing of its output for `watch.seconds` while `output` holds. */
  watchStall(watch: StallWatch): void {
    this.stall = watch;
    if (this.reasons.has("output")) this.startStallTimer();
  }

  /** The connection is gone: nothing waits any more, no timer runs. */
  close(): void {
    this.closed = true;
    this.stopStallTimer();
    this.wake(() => true);
  }

  private wake(which: (w: { reason: PauseReason }) => boolean): void {
    if (this.waiters.length === 0) return;
    const woken = this.waiters.filter(which);
    this.waiters = this.waiters.filter((w) => !which(w));
    for (const w of woken) w.wake();
  }

  /**
   * Checks four times a period whether the peer took anything: once it has taken nothing for a
   * whole `seconds`, it is given up on (between `seconds` and 1.25 × `seconds` after it stopped
   * reading). A peer that reads, however slowly (or however much others send it: they are refused
   * while `output` holds), always takes something.
   */
  private startStallTimer(): void {
    const stall = this.stall;
    if (!stall || !(stall.seconds > 0) || this.stallTimer) return;
    const periodMs = stall.seconds * 1000;
    this.takenAtCheck = stall.taken();
    this.lastProgressAt = Date.now();
    this.stallTimer = setInterval(() => {
      const taken = stall.taken();
      const progress = taken > this.takenAtCheck;
      this.takenAtCheck = taken;
      if (progress) this.lastProgressAt = Date.now();
      else if (Date.now() - this.lastProgressAt >= periodMs) {
        this.stopStallTimer();
        stall.stalled();
      }
    }, periodMs / 4);
    this.stallTimer.unref();
  }

  private stopStallTimer(): void {
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = null;
  }
}
