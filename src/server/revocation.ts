/**
 * Revoking an account (docs/revocation.md): what a backend does when its web app signs a user out
 * or bans them. One revocation
 * 1. records the account's not-before time in the storage (SQLite, or Redis when nodes share
 *    one), before anything else: from then on every node refuses the account's X-TOKENs minted
 *    before it (TokenAuthority reads it at each login);
 * 2. ends the account's streams on this node, every resource, TCP and WebSocket, with the stream
 *    error `not-authorized` and a text, and forgets its FAST tokens here;
 * 3. announces it on the bus (Redis pub/sub) so every other node does 2 too. Without a bus,
 *    servers sharing a SQLite file read the revocations another process recorded every second
 *    (`x-token revoke` while `x-token serve` runs).
 * A login that was being checked while the revocation arrived may finish after its streams were
 * ended: a stream that was not yet authenticated when the revocation arrived and then
 * authenticates as that account is ended too (its login may have read the time before it was
 * written), and a FAST token handed out with that login is removed.
 */
import { InvalidJidError, normaliseBareJid } from "../core/jid/prep.js";
import { acceptedFrom } from "../core/token/not-before.js";
import { checkNotBefore, RevocationError, type Revocation, type RevocationBus, type RevocationRecords } from "../core/records/revocations.js";
import type { FastTokenRecords } from "../core/records/fast-tokens.js";
import type { Clock } from "../core/clock.js";
import type { Logger } from "./log.js";
import { randomHex } from "./random-id.js";
import type { StreamErrorCondition } from "./session.js";

export { RevocationError };

/** Who asked, for the log line and the metrics label (a fixed set, never caller text). */
export type RevocationSource = "library" | "http" | "cli" | "bus";

export interface RevokeOptions {
  /** Unix seconds: X-TOKENs minted before it are refused; now by default. At most a day ahead. */
  notBefore?: number;
  /** Who asked (log line, metrics); "library" by default. */
  source?: RevocationSource;
  /** Where the request came from, for the log line (the HTTP endpoint's peer address). */
  from?: string;
}

export interface RevokeReport {
  /** The prepared bare JID. */
  jid: string;
  /** The not-before time in force (a later one recorded before stays). */
  notBefore: number;
  /** The first unix second at which a newly minted token is accepted (notBefore rounded up to a time step). */
  acceptedFrom: number;
  /** Streams of the account this node ended. */
  streamsEnded: number;
  /** FAST tokens of the account this node forgot. */
  fastTokensRevoked: number;
  /** Whether the other nodes were told (always true without a bus: there are none to tell). */
  announced: boolean;
}

/** What the revoker needs of a stream (XmppSession has it). */
export interface RevocableStream {
  readonly bareJid: string;
  readonly state: "unauthenticated" | "authenticated" | "bound";
  streamError(condition: StreamErrorCondition, text?: string): void;
}

/** Where revocation figures go (src/metrics' Prometheus adapter implements it). */
export interface RevocationMetrics {
  /** A revocation applied on this node, with the streams it ended here. */
  accountRevoked(event: { source: RevocationSource; streamsEnded: number }): void;
  /** A stream ended later because its login raced its account's revocation (checkAuthenticated). */
  revokedStreamEnded(): void;
}

export interface RevokerOptions {
  records: RevocationRecords;
  /** Forgotten at each revocation; the server's storage.fast. */
  fast?: Pick<FastTokenRecords, "revokeAccount"> | null;
  bus?: RevocationBus | null;
  /** Every open stream of this node. */
  streams: () => Iterable<RevocableStream>;
  /** Whether this server hosts the domain (a JID of another domain is a caller's mistake). */
  hosts: (domain: string) => boolean;
  log: Logger;
  metrics?: Partial<RevocationMetrics> | undefined;
  now: Clock;
  /** How often revocations recorded by other processes sharing the database are read (ms; default 1000). */
  pollMs?: number;
}

/** The stream error a revoked account's streams get. */
export const REVOKED_CONDITION: StreamErrorCondition = "not-authorized";
export const REVOKED_TEXT = "this account's sign-in was revoked: log in again with a new token";

/** Streams that were still unauthenticated when revocations arrived: the accounts they must not become (bounded). */
const MAX_MARKS_PER_STREAM = 16;
const ANY_ACCOUNT = "";

/** The most revocations read from the database per poll. */
const POLL_BATCH = 1000;

export class AccountRevoker {
  /** Identifies this node's announcements, so it does not act on its own twice. */
  readonly origin = randomHex(12);
  private readonly marks = new WeakMap<RevocableStream, Set<string>>();
  /** Sequence numbers of this node's own writes, skipped when the poll reads them back. */
  private readonly ownSeqs = new Set<number>();
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(private readonly options: RevokerOptions) {}

  /** Starts listening to the bus and, for a shared database, reading what other processes record. */
  async start(): Promise<void> {
    const { records, bus } = this.options;
    if (bus) {
      this.unsubscribe = await bus.subscribe((announced) => {
        if (announced.origin === this.origin) return;
        this.arrived(announced, "bus");
      });
    }
    if (records.since && records.latest) {
      this.cursor = records.latest();
      this.timer = setInterval(() => this.readRecorded(), this.options.pollMs ?? 1000);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /**
   * Revokes `jid`: records the not-before, ends its streams here, forgets its FAST tokens here,
   * and tells the other nodes. Throws RevocationError for a caller's mistake (a JID that is not a
   * bare JID of a hosted domain, a bad time), the storage's error when it cannot record it (then
   * nothing else is done). `announced` is false when the bus could not be reached.
   */
  async revoke(jid: string, { notBefore, source = "library", from }: RevokeOptions = {}): Promise<RevokeReport> {
    const clock = this.options.now();
    const now = Math.floor(clock);
    if (typeof jid !== "string") throw new RevocationError("the JID must be a string");
    if (jid.includes("/")) throw new RevocationError("give a bare JID (without a resource): an account is revoked, not a resource");
    let account: string;
    try {
      account = normaliseBareJid(jid);
    } catch (err) {
      if (err instanceof InvalidJidError) throw new RevocationError(`not a valid JID: ${err.message}`);
      throw err;
    }
    if (!account.includes("@")) throw new RevocationError("give an account's JID (localpart@domain)");
    const domain = account.slice(account.lastIndexOf("@") + 1);
    if (!this.options.hosts(domain)) throw new RevocationError(`${domain} is not a domain of this server`);
    // Rounded up: a token minted earlier in the same second as the revocation is refused too.
    const wanted = checkNotBefore(notBefore ?? Math.ceil(clock), now);
    const recorded = await this.options.records.revoke(account, wanted);
    if (recorded.seq !== undefined) this.remember(recorded.seq);
    const { streamsEnded, fastTokensRevoked } = this.apply(account);
    let announced = true;
    if (this.options.bus) {
      try {
        await this.options.bus.publish({ jid: account, notBefore: recorded.notBefore, origin: this.origin });
      } catch {
        announced = false;
      }
    }
    this.report(account, recorded.notBefore, source, from, streamsEnded, fastTokensRevoked, announced);
    return { jid: account, notBefore: recorded.notBefore, acceptedFrom: acceptedFrom(recorded.notBefore), streamsEnded, fastTokensRevoked, announced };
  }

  /**
   * A stream has just authenticated: one that was not yet authenticated when its account was
   * revoked here is ended, in case its login read the not-before before the revocation was
   * written. After what the login does at once (its success answer, a FAST token handed out with
   * it, an inline bind): then the stream ends and the account's FAST tokens are removed again, the
   * one just handed out included.
   */
  checkAuthenticated(stream: RevocableStream): void {
    const marked = this.marks.get(stream);
    if (!marked) return;
    this.marks.delete(stream);
    if (!(marked.has(stream.bareJid) || marked.has(ANY_ACCOUNT))) return;
    const account = stream.bareJid;
    queueMicrotask(() => {
      stream.streamError(REVOKED_CONDITION, REVOKED_TEXT);
      let fastTokensRevoked = 0;
      try {
        fastTokensRevoked = this.options.fast?.revokeAccount(account) ?? 0;
      } catch (err) {
        this.options.log.warn(`revocation of ${account}: its FAST tokens could not be removed here: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.options.log.info(`ended a stream of ${account} that logged in while the account was being revoked; removed ${fastTokensRevoked} FAST token(s) here`);
      this.options.metrics?.revokedStreamEnded?.();
    });
  }

  private remember(seq: number): void {
    this.ownSeqs.add(seq);
    // Bounded: a poll reads every number back within a second; this only guards a stopped poll.
    if (this.ownSeqs.size > 10_000) this.ownSeqs.delete(this.ownSeqs.values().next().value!);
  }

  /**
   * Reads the revocations other processes recorded in the shared database since the last read
   * and applies them here (every second once started; this node's own are skipped).
   */
  readRecorded(): void {
    const { records } = this.options;
    try {
      for (;;) {
        const batch = records.since!(this.cursor, POLL_BATCH);
        this.cursor = batch.cursor;
        for (const revocation of batch.revocations) if (!this.isOwn(revocation.seq)) this.arrived(revocation, "cli");
        if (batch.revocations.length < POLL_BATCH) return;
      }
    } catch (err) {
      // The next poll tries again; the logins read the database themselves meanwhile.
      this.options.log.warn(`could not read revocations from the database: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A revocation another node or process made: end the streams here, forget FAST tokens here. */
  private arrived(revocation: Revocation, source: RevocationSource): void {
    let account: string;
    try {
      account = normaliseBareJid(revocation.jid);
    } catch {
      return;
    }
    const { streamsEnded, fastTokensRevoked } = this.apply(account);
    this.report(account, revocation.notBefore, source === "cli" ? "cli" : "bus", undefined, streamsEnded, fastTokensRevoked, true);
  }

  /** Skips this node's own writes, which it applied when it made them. */
  private isOwn(seq: number): boolean {
    return this.ownSeqs.delete(seq);
  }

  private apply(account: string): { streamsEnded: number; fastTokensRevoked: number } {
    const ended: RevocableStream[] = [];
    for (const stream of this.options.streams()) {
      if (stream.state === "unauthenticated") {
        let marked = this.marks.get(stream);
        if (!marked) this.marks.set(stream, (marked = new Set()));
        marked.add(marked.size < MAX_MARKS_PER_STREAM ? account : ANY_ACCOUNT);
      } else if (stream.bareJid === account) {
        ended.push(stream);
      }
    }
    for (const stream of ended) stream.streamError(REVOKED_CONDITION, REVOKED_TEXT);
    let fastTokensRevoked = 0;
    try {
      fastTokensRevoked = this.options.fast?.revokeAccount(account) ?? 0;
    } catch (err) {
      this.options.log.warn(`revocation of ${account}: its FAST tokens could not be removed here: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { streamsEnded: ended.length, fastTokensRevoked };
  }

  private report(account: string, notBefore: number, source: RevocationSource, from: string | undefined, streamsEnded: number, fastTokensRevoked: number, announced: boolean): void {
    const by = source === "http" ? `the HTTP endpoint${from ? ` (from ${from})` : ""}` : source === "cli" ? "another process on the database (x-token revoke)" : source === "bus" ? "another node" : "the library";
    const others = this.options.bus ? (announced ? "; announced to the other nodes" : "; NOT announced to the other nodes (Redis did not answer): their streams stay until it is revoked again") : "";
    this.options.log.info(
      `revoked ${account} (by ${by}): tokens minted before ${new Date(notBefore * 1000).toISOString()} refused; ended ${streamsEnded} stream(s), removed ${fastTokensRevoked} FAST token(s) here${others}`,
    );
    this.options.metrics?.accountRevoked?.({ source, streamsEnded });
  }
}
