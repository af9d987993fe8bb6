/**
 * The open sessions of a multi-step ad-hoc command (XEP-0050): a form handed to one requester,
 * which only that requester may submit, once, before it expires. Bounded: expired sessions go
 * first, then the oldest, so a requester opening forms without end cannot grow the table.
 * Shared by the login-token component's admin form and the server's client certificates command.
 */
import { randomBytes } from "node:crypto";
import { systemClock, type Clock } from "../clock.js";

export interface CommandSessionOptions {
  /** Sessions kept at most (oldest dropped first); default 1000. */
  max?: number;
  /** How long a form may be submitted after it was handed out; default 600. */
  seconds?: number;
  now?: Clock;
}

export class CommandSessions {
  /** sessionid -> who may submit it (a full JID), and until when (unix seconds). */
  private readonly open = new Map<string, { requester: string; expires: number }>();
  private readonly max: number;
  private readonly seconds: number;
  private readonly now: Clock;

  constructor({ max = 1000, seconds = 600, now = systemClock }: CommandSessionOptions = {}) {
    this.max = max;
    this.seconds = seconds;
    this.now = now;
  }

  /** A new session for `requester`; its id is unguessable (128 bits). */
  begin(requester: string): string {
    const now = this.now();
    for (const [id, session] of this.open) if (session.expires <= now) this.open.delete(id);
    while (this.open.size >= this.max) this.open.delete(this.open.keys().next().value!);
    const sessionid = randomBytes(16).toString("hex");
    this.open.set(sessionid, { requester, expires: now + this.seconds });
    return sessionid;
  }

  /**
   * Whether `sessionid` is `requester`'s own live session; it is removed when it is theirs (one
   * submission per form), and left alone when it is someone else's.
   */
  take(sessionid: string, requester: string): boolean {
    const session = this.open.get(sessionid);
    if (!session || session.requester !== requester) return false;
    this.open.delete(sessionid);
    return session.expires > this.now();
  }

  get size(): number {
    return this.open.size;
  }
}
