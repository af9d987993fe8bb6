/**
 * Demo sign-in sessions: a random id in an HttpOnly, SameSite=Strict cookie, signed with
 * HMAC-SHA256 so a forged or altered cookie is refused before any lookup, and kept server-side
 * (with its expiry) so sign-out really ends it. Memory is bounded: the oldest session goes first.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { systemClock, type Clock } from "../../core/clock.js";

export const SESSION_COOKIE = "xtoken_demo";
/** With `secure`, the `__Host-` prefix makes browsers refuse the cookie unless Secure, Path=/ and host-only. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export interface SessionStoreOptions {
  /** HMAC key for the cookie signature (>= 32 characters of random text). */
  secret: string;
  /** Session lifetime; default 8 hours. */
  lifetimeSeconds?: number;
  /** Most sessions kept; default 10,000. */
  maxSessions?: number;
  /**
   * Most sessions one user keeps; default 10. A user's new session ends that user's oldest, so
   * signing in again and again only ever evicts one's own sessions, never other users'.
   */
  maxSessionsPerUser?: number;
  /** Mark the cookie Secure (the site is served over https, e.g. behind a TLS proxy). */
  secure?: boolean;
  /** Unix seconds. */
  now?: Clock;
}

interface Session {
  username: string;
  expiresAt: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly secret: string;
  private readonly lifetimeSeconds: number;
  private readonly maxSessions: number;
  private readonly maxSessionsPerUser: number;
  private readonly now: Clock;
  private readonly cookieName: string;
  private readonly attributes: string;

  constructor({ secret, lifetimeSeconds = 8 * 3600, maxSessions = 10_000, maxSessionsPerUser = 10, secure = false, now = systemClock }: SessionStoreOptions) {
    if (typeof secret !== "string" || secret.length < 32) throw new RangeError("the session secret must be at least 32 characters");
    if (!(Number.isInteger(lifetimeSeconds) && lifetimeSeconds > 0)) throw new RangeError("lifetimeSeconds must be a positive integer");
    this.secret = secret;
    this.lifetimeSeconds = lifetimeSeconds;
    this.maxSessions = maxSessions;
    if (!(Number.isInteger(maxSessionsPerUser) && maxSessionsPerUser > 0)) throw new RangeError("maxSessionsPerUser must be a positive integer");
    this.maxSessionsPerUser = maxSessionsPerUser;
    this.now = now;
    this.cookieName = secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
    this.attributes = `HttpOnly; SameSite=Strict; Path=/${secure ? "; Secure" : ""}`;
  }

  private sign(id: string): Buffer {
    return createHmac("sha256", this.secret).update(`demo-session:${id}`).digest();
  }

  /** Starts a session; returns the Set-Cookie header value. */
  create(username: string): string {
    const id = randomBytes(18).toString("base64url");
    const now = this.now();
    let mine = 0;
    for (const [key, session] of this.sessions) {
      if (session.expiresAt <= now) this.sessions.delete(key);
      else if (session.username === username) mine++;
    }
    // Map order is creation order: the first of the user's sessions found is their oldest.
    for (const [key, session] of this.sessions) {
      if (mine < this.maxSessionsPerUser) break;
      if (session.username === username) this.sessions.delete(key), mine--;
    }
    // Reached only with more than maxSessions / maxSessionsPerUser users signed in.
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, { username, expiresAt: now + this.lifetimeSeconds });
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

  /** The signed-in username, or null (no cookie, a forged one, an expired or ended session). */
  user(req: IncomingMessage): string | null {
    const id = this.idFrom(req);
    const session = id ? this.sessions.get(id) : undefined;
    if (!session) return null;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id!);
      return null;
    }
    return session.username;
  }

  /** Ends the request's session; returns the Set-Cookie header value that clears the cookie. */
  destroy(req: IncomingMessage): string {
    const id = this.idFrom(req);
    if (id) this.sessions.delete(id);
    return `${this.cookieName}=; ${this.attributes}; Max-Age=0`;
  }

  /** Sessions kept right now (expired ones are dropped when the next one starts). */
  get size(): number {
    return this.sessions.size;
  }
}
