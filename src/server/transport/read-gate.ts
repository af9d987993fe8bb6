/**
 * Whether to read from a connection: reading stops while any reason holds, and starts again when
 * none does. Reasons: too many parsed elements wait for the session (`input`), or more than
 * `maxOutboundBytes` wait to be sent to the peer (`output`: a peer that does not read its replies
 * stops being read from, so what the server queues for it stays bounded).
 */
export type PauseReason = "input" | "output";

export class ReadGate {
  private readonly reasons = new Set<PauseReason>();

  constructor(private readonly io: { pause(): void; resume(): void }) {}

  get paused(): boolean {
    return this.reasons.size > 0;
  }

  holds(reason: PauseReason): boolean {
    return this.reasons.has(reason);
  }

  hold(reason: PauseReason): void {
    if (this.reasons.has(reason)) return;
    this.reasons.add(reason);
    if (this.reasons.size === 1) this.io.pause();
  }

  release(reason: PauseReason): void {
    if (!this.reasons.delete(reason)) return;
    if (this.reasons.size === 0) this.io.resume();
  }
}
