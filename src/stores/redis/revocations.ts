/**
 * Account revocations on Redis (docs/revocation.md), for nodes that share a Redis: the not-before
 * time of each revoked account (RevocationRecords), read at every token login on every node, and
 * a pub/sub channel (RevocationBus) on which a revocation is announced so that every node ends the
 * account's streams and forgets its FAST tokens at once. Keys hold a hash of the JID, as the other
 * keys do; the announcement carries the JID itself (it is not stored). Like the replay store it
 * fails closed: a not-before Redis does not give in time refuses the login.
 */
import { createHash } from "node:crypto";
import type { RedisClientType } from "redis";
import type { Revocation, RevocationBus, RevocationRecords, RevokeResult } from "../../core/records/revocations.js";
import type { OutageReporter } from "./outage.js";
import type { RedisCommandClient } from "./replay-store.js";
import { withinTime } from "./within-time.js";

export interface RedisRevocationsOptions {
  client: RedisCommandClient;
  /** The deployment's prefix (`x-token:`): keys are `<prefix>revoked:<hash>`. */
  keyPrefix: string;
  /** Answer time allowed, in ms. */
  timeoutMs: number;
  /** The connection's reporter, so a Redis outage is one log line whatever noticed it. */
  outage?: OutageReporter;
}

/** Keeps the later of the stored time and ARGV[1]; answers the time in force. Kept without expiry, as the SQLite row. */
const KEEP_LATEST = `local current = tonumber(redis.call('GET', KEYS[1]))
local wanted = tonumber(ARGV[1])
if current == nil or current < wanted then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return tostring(current)`;

export class RedisRevocations implements RevocationRecords {
  constructor(private readonly options: RedisRevocationsOptions) {}

  keyFor(jid: string): string {
    return `${this.options.keyPrefix}revoked:${createHash("sha256").update(jid).digest("base64url")}`;
  }

  private async command(args: string[]): Promise<unknown> {
    try {
      const reply = await withinTime(this.options.client.sendCommand(args), this.options.timeoutMs);
      this.options.outage?.answered();
      return reply;
    } catch (err) {
      this.options.outage?.failed(err);
      this.options.outage?.refused();
      throw err;
    }
  }

  async revoke(jid: string, notBefore: number): Promise<RevokeResult> {
    const reply = await this.command(["EVAL", KEEP_LATEST, "1", this.keyFor(jid), String(Math.floor(notBefore))]);
    return { notBefore: Number(reply) };
  }

  async notBefore(jid: string): Promise<number | null> {
    const reply = await this.command(["GET", this.keyFor(jid)]);
    if (reply === null) return null;
    const value = Number(reply);
    // Not what revoke() writes: never let a token through on it.
    if (typeof reply !== "string" || !Number.isSafeInteger(value)) throw new Error("unexpected revocation value in Redis");
    return value;
  }
}

export interface RedisRevocationBusOptions {
  /** The connection from connectRedis: publishes on it, and subscribes on a duplicate of it (pub/sub needs a connection of its own). */
  client: RedisClientType;
  /** The channel is `<prefix>revocations`. */
  keyPrefix: string;
  timeoutMs: number;
  outage?: OutageReporter;
  /** Where a message that is not a revocation is reported (one line each, bounded by who can publish: Redis's clients). */
  warn?: (message: string) => void;
}

/** The most bytes of one announcement read (a JID is at most 3071 bytes). */
const MAX_MESSAGE_BYTES = 4096;

function parseAnnouncement(text: string): (Revocation & { origin: string }) | null {
  if (text.length > MAX_MESSAGE_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const v = value as Record<string, unknown>;
  if (typeof value !== "object" || value === null || typeof v.jid !== "string" || typeof v.origin !== "string" || typeof v.notBefore !== "number" || !Number.isSafeInteger(v.notBefore)) return null;
  return { jid: v.jid, notBefore: v.notBefore, origin: v.origin };
}

export class RedisRevocationBus implements RevocationBus {
  readonly channel: string;

  constructor(private readonly options: RedisRevocationBusOptions) {
    this.channel = `${options.keyPrefix}revocations`;
  }

  async publish(revocation: Revocation & { origin: string }): Promise<void> {
    const message = JSON.stringify({ jid: revocation.jid, notBefore: revocation.notBefore, origin: revocation.origin });
    try {
      await withinTime(this.options.client.sendCommand(["PUBLISH", this.channel, message]), this.options.timeoutMs);
      this.options.outage?.answered();
    } catch (err) {
      this.options.outage?.failed(err);
      throw err;
    }
  }

  /**
   * Subscribes on a connection of its own, which node-redis re-subscribes after every reconnect.
   * Resolves once subscribed, or at once when Redis is down now (it subscribes when it comes back).
   */
  async subscribe(listener: (revocation: Revocation & { origin: string }) => void): Promise<() => Promise<void>> {
    const subscriber = this.options.client.duplicate();
    subscriber.on("error", (err: unknown) => this.options.outage?.failed(err));
    const onMessage = (message: string) => {
      const revocation = parseAnnouncement(message);
      if (revocation) listener(revocation);
      else this.options.warn?.(`ignored a message on ${this.channel} that is not a revocation`);
    };
    const subscribed = subscriber.connect().then(
      () => subscriber.subscribe(this.channel, onMessage),
      () => undefined, // closed before it ever connected
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([subscribed.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, this.options.timeoutMs * 4)))]);
    clearTimeout(timer);
    return async () => {
      subscriber.destroy();
    };
  }
}
