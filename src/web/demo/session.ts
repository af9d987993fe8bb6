/**
 * Demo sign-in sessions: a random id in an HttpOnly, SameSite=Strict cookie, signed with
 * HMAC-SHA256 so a forged or altered cookie is refused before any lookup, and kept server-side
 * (with its expiry) so sign-out really ends it. Memory is bounded: the oldest session goes first.
 *
 * With `records` (the storage's WebSessionRecords) sessions survive a restart: only the SHA-256
 * of an id is stored (and kept in memory), so whoever reads the store or this process's memory
 * cannot sign in with what they read. A session is written before its cookie is handed out, and
 * its row goes when it is signed out, evicted or found expired.
 *
 * With `idleSeconds` a session also ends after that long without a request (Caddy's
 * session_inactivity_timeout). A request renews it only once less than half of that is left, so
 * a busy user costs one store write per half-timeout, not one per request; it never outlives its
 * creation plus `lifetimeSeconds`.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { systemClock, type Clock } from "../../core/clock.js";
import type { WebSessionRecord, WebSessionRecords } from "../../core/records/web-sessions.js";

export const SESSION_COOKIE = "xtoken_demo";
/** With `secure`, the `__Host-` prefix makes browsers refuse the cookie unless Secure, Path=/ and host-only. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export interface SessionStoreOptions {
  /** HMAC key for the cookie signature (>= 32 characters of random text). */
  secret: string;
  /** Session lifetime; default 8 hours. */
  lifetimeSeconds?: number;
  /** Inactivity timeout (renewed past half of it); none by default: the lifetime alone. */
  idleSeconds?: number;
  /**
   * The cookie's name (`__Host-` is put before it with `secure`); SESSION_COOKIE by default. A
   * store with another name signs its cookies apart: a cookie of one is never one of another.
   */
  cookieName?: string;
  /** Most sessions kept; default 10,000. */
  maxSessions?: number;
  /**
   * Most sessions one user keeps; default 10. A user's new session ends that user's oldest, so
   * signing in again and again only ever evicts one's own sessions, never other users'.
   */
  maxSessionsPerUser?: number;
  /** Mark the cookie Secure (the site is served over https, e.g. behind a TLS proxy). */
  secure?: boolean;
  /**
   * Where sessions outlive the process (hashes of their ids only). Read once here, at
   * construction; absent: sessions live in memory and a restart signs everybody out.
   */
  records?: WebSessionRecords;
  /** Unix seconds. */
  now?: Clock;
}

/**
 * The session could not be stored or ended in `records` (a disk full, a database gone
 * read-only): the sign-in or sign-out it was for did not happen. Its message names no secret.
 */
export class SessionStorageError extends Error {
  override readonly name = "SessionStorageError";
}

interface Session {
  username: string;
  expiresAt: number;
  /** Unix milliseconds. */
  createdAt: number;
  /** Failed steps taken in this session (countFailure); memory only. */
  failures: number;
}

/** SHA-256 of a session id, hex: the only form an id is kept in. */
export function sessionIdHash(id: string): string {
  return createHash("sha256").update(id).digest("hex");
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class SessionStore {
  /** By the hash of the session id; in creation order (oldest first). */
  private readonly sessions = new Map<string, Session>();
  private readonly secret: string;
  private readonly lifetimeSeconds: number;
  private readonly idleSeconds: number | null;
  private readonly maxSessions: number;
  private readonly maxSessionsPerUser: number;
  private readonly records: WebSessionRecords | null;
  private readonly now: Clock;
  private readonly cookieName: string;
  /** What the cookie signature is for: stores with different cookie names never accept each other's. */
  private readonly purpose: string;
  private readonly attributes: string;

  constructor({ secret, lifetimeSeconds = 8 * 3600, idleSeconds, cookieName = SESSION_COOKIE, maxSessions = 10_000, maxSessionsPerUser = 10, secure = false, records, now = systemClock }: SessionStoreOptions) {
    if (typeof secret !== "string" || secret.length < 32) throw new RangeError("the session secret must be at least 32 characters");
    if (!(Number.isInteger(lifetimeSeconds) && lifetimeSeconds > 0)) throw new RangeError("lifetimeSeconds must be a positive integer");
    if (idleSeconds !== undefined && !(Number.isInteger(idleSeconds) && idleSeconds > 0)) throw new RangeError("idleSeconds must be a positive integer");
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(cookieName)) throw new RangeError("cookieName must be 1 to 64 letters, digits, '_' or '-'");
    if (!(Number.isInteger(maxSessions) && maxSessions > 0)) throw new RangeError("maxSessions must be a positive integer");
    if (!(Number.isInteger(maxSessionsPerUser) && maxSessionsPerUser > 0)) throw new RangeError("maxSessionsPerUser must be a positive integer");
    this.secret = secret;
    this.lifetimeSeconds = lifetimeSeconds;
    this.idleSeconds = idleSeconds ?? null;
    this.maxSessions = maxSessions;
    this.maxSessionsPerUser = maxSessionsPerUser;
    this.records = records ?? null;
    this.now = now;
    this.cookieName = secure ? `__Host-${cookieName}` : cookieName;
    // The demo's session cookie keeps the signature it always had (stored sessions stay valid).
    this.purpose = cookieName === SESSION_COOKIE ? "demo-session" : cookieName;
    this.attributes = `HttpOnly; SameSite=Strict; Path=/${secure ? "; Secure" : ""}`;
    if (this.records) this.load(this.records);
  }

  /**
   * The stored sessions that are still valid, within the bounds: the newest `maxSessions`, at
   * most `maxSessionsPerUser` of each user (what signing in one by one would have left). A
   * session never outlives its creation plus the lifetime configured now, however it was stored.
   * The rest is removed from the store.
   */
  private load(records: WebSessionRecords): void {
    const now = this.now();
    try {
      records.removeExpired(now); // one statement for what expired while the server was down
    } catch {
      // Filtered below all the same.
    }
    const kept: [string, Session][] = [];
    const dropped: string[] = [];
    const perUser = new Map<string, number>();
    let stored: WebSessionRecord[];
    try {
      stored = records.all();
    } catch (err) {
      throw new SessionStorageError(`the stored sign-ins could not be read: ${reason(err)}`, { cause: err });
    }
    for (let i = stored.length - 1; i >= 0; i--) {
      const { idHash, username, createdAt, expiresAt: storedExpiry } = stored[i]!;
      const expiresAt = Math.min(storedExpiry, createdAt / 1000 + this.lifetimeSeconds);
      const mine = perUser.get(username) ?? 0;
      if (expiresAt <= now || mine >= this.maxSessionsPerUser || kept.length >= this.maxSessions) {
        dropped.push(idHash);
        continue;
      }
      perUser.set(username, mine + 1);
      kept.push([idHash, { username, expiresAt, createdAt, failures: 0 }]);
    }
    for (const [idHash, session] of kept.reverse()) this.sessions.set(idHash, session);
    this.forget(dropped);
  }

  /**
   * Removes rows of sessions that already ended in memory (evicted, expired). Best effort: a row
   * left behind by a failing store is dropped again by the same rules when it is next loaded.
   */
  private forget(idHashes: Iterable<string>): void {
    if (!this.records) return;
    for (const idHash of idHashes) {
      try {
        this.records.remove(idHash);
      } catch {
        // See above: expiry and the bounds apply again at load.
      }
    }
  }

  private sign(id: string): Buffer {
    return createHmac("sha256", this.secret).update(`${this.purpose}:${id}`).digest();
  }

  /**
   * Starts a session; returns the Set-Cookie header value. With `records`, the session is stored
   * first: when that fails it throws SessionStorageError and nothing changes.
   */
  create(username: string): string {
    const id = randomBytes(18).toString("base64url");
    const idHash = sessionIdHash(id);
    const now = this.now();
    const ended: string[] = [];
    let mine = 0;
    for (const [key, session] of this.sessions) {
      if (session.expiresAt <= now) this.sessions.delete(key), ended.push(key);
      else if (session.username === username) mine++;
    }
    this.forget(ended);
    // Chosen now, ended only once the new session is stored: a failed sign-in ends nobody's session.
    const evicted: string[] = [];
    // Map order is creation order: the first of the user's sessions found is their oldest.
    for (const [key, session] of this.sessions) {
      if (mine < this.maxSessionsPerUser) break;
      if (session.username === username) evicted.push(key), mine--;
    }
    // Reached only with more than maxSessions / maxSessionsPerUser users signed in.
    if (this.sessions.size - evicted.length >= this.maxSessions) {
      for (const key of this.sessions.keys()) {
        if (!evicted.includes(key)) {
          evicted.push(key);
          break;
        }
      }
    }
    const session: Session = { username, expiresAt: now + Math.min(this.lifetimeSeconds, this.idleSeconds ?? Infinity), createdAt: Math.round(now * 1000), failures: 0 };
    if (this.records) {
      const record: WebSessionRecord = { idHash, username, expiresAt: session.expiresAt, createdAt: session.createdAt };
      try {
        this.records.add(record);
      } catch (err) {
        throw new SessionStorageError(`the sign-in could not be stored: ${reason(err)}`, { cause: err });
      }
    }
    for (const key of evicted) this.sessions.delete(key);
    this.forget(evicted);
    this.sessions.set(idHash, session);
    return `${this.cookieName}=${id}.${this.sign(id).toString("base64url")}; ${this.attributes}; Max-Age=${this.lifetimeSeconds}`;
  }

  /** The session id of a well-signed cookie, or null. */
  private idFrom(req: IncomingMessage): string | null {
    const prefix = `${this.cookieName}=`;
    const cookie = (req.headers.cookie ?? "").split(/;\s*/).find((c) => c.startsWith(prefix));
    if (!cookie) return null;
    const value = cookie.slice(prefix.length);
    const dot = value.indexOf(".");
    if (dot <= 0) return null;
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), "base64url");
    const expected = this.sign(id);
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
  }

  /** The request's live session and its key, or null (no cookie, a forged one, an expired or ended session). */
  private live(req: IncomingMessage): { idHash: string; session: Session } | null {
    const id = this.idFrom(req);
    if (!id) return null;
    const idHash = sessionIdHash(id);
    const session = this.sessions.get(idHash);
    if (!session) return null;
    const now = this.now();
    if (session.expiresAt <= now) {
      this.sessions.delete(idHash);
      this.forget([idHash]);
      return null;
    }
    if (this.idleSeconds !== null && session.expiresAt - now < this.idleSeconds / 2) this.renew(idHash, session, now);
    return { idHash, session };
  }

  /**
   * Moves an active session's end to `idleSeconds` from now (never past its lifetime). The stored
   * row follows when the records can (renew); when they cannot, the row keeps its earlier end,
   * so after a restart the session ends sooner, never later.
   */
  private renew(idHash: string, session: Session, now: number): void {
    const expiresAt = Math.min(now + this.idleSeconds!, session.createdAt / 1000 + this.lifetimeSeconds);
    if (expiresAt <= session.expiresAt) return;
    session.expiresAt = expiresAt;
    try {
      this.records?.renew?.(idHash, expiresAt);
    } catch {
      // See above: the stored end is the earlier one.
    }
  }

  /** The signed-in username, or null (no cookie, a forged one, an expired or ended session). */
  user(req: IncomingMessage): string | null {
    return this.live(req)?.session.username ?? null;
  }

  /**
   * Counts a failed step taken in the request's session (a wrong code); returns how many it has
   * had, or 0 when there is no session. Kept in memory only.
   */
  countFailure(req: IncomingMessage): number {
    const live = this.live(req);
    if (!live) return 0;
    return ++live.session.failures;
  }

  /**
   * Ends the request's session; returns the Set-Cookie header value that clears the cookie. With
   * `records`, the row goes first: when that fails it throws SessionStorageError and the session
   * stays (in memory and stored), so it cannot come back after a restart unnoticed; try again.
   */
  destroy(req: IncomingMessage): string {
    const id = this.idFrom(req);
    if (id) {
      const idHash = sessionIdHash(id);
      if (this.records) {
        try {
          this.records.remove(idHash);
        } catch (err) {
          throw new SessionStorageError(`the sign-out could not be stored: ${reason(err)}`, { cause: err });
        }
      }
      this.sessions.delete(idHash);
    }
    return `${this.cookieName}=; ${this.attributes}; Max-Age=0`;
  }

  /** Sessions kept right now (expired ones are dropped when the next one starts). */
  get size(): number {
    return this.sessions.size;
  }
}
