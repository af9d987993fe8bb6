/**
 * Demo sign-in sessions: a random id in an HttpOnly, SameSite=Strict cookie, signed with
 * HMAC-SHA256 so a forged or altered cookie is refused before any lookup, and kept server-side
 * so sign-out really ends it.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const SESSION_COOKIE = "xtoken_demo";

interface Session {
  username: string;
  expiresAt: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly secret: string,
    private readonly lifetimeSeconds = 8 * 3600,
    private readonly maxSessions = 10_000,
  ) {}

  private sign(id: string): string {
    return createHmac("sha256", this.secret).update(id).digest("base64url");
  }

  /** Starts a session; returns the Set-Cookie header value. */
  create(username: string): string {
    const id = randomBytes(18).toString("base64url");
    const now = Date.now() / 1000;
    for (const [key, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(key);
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, { username, expiresAt: now + this.lifetimeSeconds });
    return `${SESSION_COOKIE}=${id}.${this.sign(id)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${this.lifetimeSeconds}`;
  }

  private idFrom(req: IncomingMessage): string | null {
    const cookie = (req.headers.cookie ?? "").split(/;\s*/).find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    if (!cookie) return null;
    const [id, signature] = cookie.slice(SESSION_COOKIE.length + 1).split(".");
    if (!id || !signature) return null;
    const expected = Buffer.from(this.sign(id));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given) ? id : null;
  }

  /** The signed-in username, or null. */
  user(req: IncomingMessage): string | null {
    const id = this.idFrom(req);
    const session = id ? this.sessions.get(id) : undefined;
    if (!session || session.expiresAt <= Date.now() / 1000) return null;
    return session.username;
  }

  /** Ends the request's session; returns the Set-Cookie header value that clears the cookie. */
  destroy(req: IncomingMessage): string {
    const id = this.idFrom(req);
    if (id) this.sessions.delete(id);
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }
}
