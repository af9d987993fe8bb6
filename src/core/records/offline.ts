/**
 * Offline messages (XEP-0160): `chat` and `normal` messages to an account with no available
 * session wait here, oldest first, until its next initial presence. Each account has a bound in
 * count and bytes; past it a message is refused (the sender gets the RFC 6121 error) and nothing
 * stored is dropped to make room.
 */

export interface OfflineLimits {
  /** Messages waiting for one account. */
  maxMessagesPerAccount: number;
  /** UTF-8 bytes of the serialized stanzas waiting for one account. */
  maxBytesPerAccount: number;
}

export const DEFAULT_OFFLINE_LIMITS: OfflineLimits = { maxMessagesPerAccount: 1000, maxBytesPerAccount: 10 * 1024 * 1024 };

export interface StoredMessage {
  /** The serialized stanza, as the server would send it (`from` stamped, `to` the bare JID). */
  stanza: string;
  /** When it was stored: unix milliseconds (for the XEP-0203 delay stamp). */
  storedAt: number;
}

export type OfflineAddResult = "stored" | "full";

export interface OfflineMessages {
  readonly limits: OfflineLimits;
  /** Stores one message for `owner`, or answers "full" (over a bound); throws when it cannot write. */
  add(owner: string, message: StoredMessage): OfflineAddResult;
  /**
   * Removes and returns every message waiting for `owner`, oldest first, in one unit: a second
   * caller racing with the first gets none of them. Throws (and removes nothing) when it cannot.
   */
  take(owner: string): StoredMessage[];
  /** Messages waiting for `owner` (disco and tests). */
  count(owner: string): number;
}

const utf8Bytes = (text: string) => Buffer.byteLength(text, "utf8");

/** The memory engine: a list per account, bounded like any other engine. */
export class MemoryOfflineMessages implements OfflineMessages {
  private readonly queues = new Map<string, { messages: StoredMessage[]; bytes: number }>();

  constructor(readonly limits: OfflineLimits = DEFAULT_OFFLINE_LIMITS) {}

  add(owner: string, message: StoredMessage): OfflineAddResult {
    const queue = this.queues.get(owner) ?? { messages: [], bytes: 0 };
    const bytes = utf8Bytes(message.stanza);
    if (queue.messages.length >= this.limits.maxMessagesPerAccount || queue.bytes + bytes > this.limits.maxBytesPerAccount) return "full";
    queue.messages.push({ ...message });
    queue.bytes += bytes;
    this.queues.set(owner, queue);
    return "stored";
  }

  take(owner: string): StoredMessage[] {
    const queue = this.queues.get(owner);
    this.queues.delete(owner);
    return queue?.messages ?? [];
  }

  count(owner: string): number {
    return this.queues.get(owner)?.messages.length ?? 0;
  }
}
