/**
 * A queue shared by many senders, with a fair share for each (max-min fairness by bytes):
 * - bounded: what it holds (plus what its owner holds elsewhere, e.g. a socket's write buffer)
 *   stays under `bound`, give or take one item;
 * - when it is full, a newcomer is not refused because someone else filled it: the sender holding
 *   the most gives up its newest items, as long as it would still hold more than the newcomer's
 *   sender once the newcomer is in. So a sender can fill the whole queue while nobody else needs
 *   it, and every other sender still gets in; a sender is only ever refused when it already holds
 *   at least as much as anyone;
 * - items leave round-robin across senders, so one sender's backlog never delays another's next
 *   item by more than one item per sender waiting.
 * No I/O and no timers: the owner decides when items leave (take) and what a dropped item means.
 */
export interface Sized {
  /** What the item counts against the bound. */
  readonly bytes: number;
}

class SenderItems<T> {
  private items: T[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T & Sized): void {
    this.items.push(item);
    this.bytes += item.bytes;
  }

  shift(): T & Sized {
    const item = this.items[this.head++] as T & Sized;
    this.bytes -= item.bytes;
    // Compacted once the taken half is the larger: amortised O(1) per item.
    if (this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  pop(): T & Sized {
    const item = this.items.pop() as T & Sized;
    this.bytes -= item.bytes;
    return item;
  }

  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return rest;
  }
}

export interface Offered<T> {
  /** The item was queued; false: it was dropped (its sender already holds at least as much as anyone). */
  accepted: boolean;
  /** Items of the sender holding the most, dropped to make room (newest first). */
  evicted: T[];
}

export class FairQueue<T extends Sized> {
  /** Senders with items, in round-robin order (Map order: the next to be served first). */
  private readonly senders = new Map<string, SenderItems<T>>();
  private total = 0;

  constructor(private readonly bound: number) {}

  /** Bytes queued. */
  get bytes(): number {
    return this.total;
  }

  get isEmpty(): boolean {
    return this.total === 0 && this.senders.size === 0;
  }

  /** Bytes queued for `sender`. */
  bytesOf(sender: string): number {
    return this.senders.get(sender)?.bytes ?? 0;
  }

  /**
   * Queues `item` from `sender`. `heldElsewhere` is what the owner holds beyond this queue (items
   * already taken but not gone yet) and counts against the bound: it cannot be given back.
   */
  offer(sender: string, item: T, heldElsewhere = 0): Offered<T> {
    const evicted: T[] = [];
    // Full: room is made at the expense of whoever holds the most, never of someone holding less
    // than this sender will once the item is in. (The item itself may go past the bound: as with
    // any stanza queue here, a queue under its bound takes one more item whatever its size.)
    while (this.total + heldElsewhere >= this.bound) {
      const largest = this.largestSender();
      if (largest === null || largest === sender || this.bytesOf(largest) <= this.bytesOf(sender) + item.bytes) {
        return { accepted: false, evicted };
      }
      evicted.push(this.popNewest(largest));
    }
    let items = this.senders.get(sender);
    if (!items) this.senders.set(sender, (items = new SenderItems<T>()));
    items.push(item);
    this.total += item.bytes;
    return { accepted: true, evicted };
  }

  /** The next item, round-robin across senders; undefined when empty. */
  take(): T | undefined {
    const next = this.senders.entries().next();
    if (next.done) return undefined;
    const [sender, items] = next.value;
    const item = items.shift();
    this.total -= item.bytes;
    // To the back of the round (or out of it).
    this.senders.delete(sender);
    if (items.length > 0) this.senders.set(sender, items);
    return item;
  }

  /** Empties the queue, handing back what it held. */
  clear(): T[] {
    const all = [...this.senders.values()].flatMap((items) => items.drain());
    this.senders.clear();
    this.total = 0;
    return all;
  }

  /**
   * The sender holding the most bytes (ties: the first in round order). A scan of the senders
   * with items: it runs only when the queue is full, and they are at most one per queued item.
   */
  private largestSender(): string | null {
    let largest: string | null = null;
    let most = -1;
    for (const [sender, items] of this.senders) {
      if (items.bytes > most) {
        most = items.bytes;
        largest = sender;
      }
    }
    return largest;
  }

  private popNewest(sender: string): T {
    const items = this.senders.get(sender)!;
    const item = items.pop();
    this.total -= item.bytes;
    if (items.length === 0) this.senders.delete(sender);
    return item;
  }
}
