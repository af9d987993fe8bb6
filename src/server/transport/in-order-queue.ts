/**
 * Hands a stream's parsed input to its session one item at a time, in arrival order, waiting for
 * each (a SASL check is asynchronous). Reading pauses while too much waits (back-pressure), and
 * an exception from the handler ends that stream, never the server.
 */
export interface InOrderQueueHooks<T> {
  handle(item: T): Promise<void>;
  /** The session has ended: what is left is dropped. */
  stopped(): boolean;
  /** The handler threw: a bug, reported on the stream. */
  failed(err: unknown): void;
  pause(): void;
  resume(): void;
}

export class InOrderQueue<T> {
  private items: T[] = [];
  private draining = false;

  constructor(
    private readonly hooks: InOrderQueueHooks<T>,
    /** Reading pauses while more than this many items wait. */
    private readonly highWater = 64,
  ) {}

  push(...items: T[]): void {
    this.items.push(...items);
    if (this.items.length > this.highWater) this.hooks.pause();
    void this.drain();
  }

  /** Drops what waits (stream restart, close, a framing error). */
  clear(): void {
    this.items.length = 0;
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.items.length > 0 && !this.hooks.stopped()) {
        const item = this.items.shift()!;
        try {
          await this.hooks.handle(item);
        } catch (err) {
          this.hooks.failed(err);
        }
      }
    } finally {
      this.draining = false;
      this.hooks.resume();
    }
  }
}
