/**
 * The demo web app served on the server's HTTP port: sign-in for the configured demo users,
 * a session cookie, the token endpoint for the signed-in user, and a chat page that logs in to
 * XMPP over WebSocket with X-TOKEN.
 *
 * Routes: GET / (sign-in page), POST /signin, POST /signout, GET /chat, GET /strophe (a one-shot
 * Strophe.js X-TOKEN login, used by the browser test), GET|POST /api/token, GET /assets/*.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import type { TokenKey } from "../../core/token/keys.js";
import { createTokenEndpoint, type MintFunction, type NodeHandler } from "../endpoint/token-endpoint.js";
import { WindowCounter } from "../../auth/policy/window-counter.js";
import { clientAddress, TrustedProxies, TrustedProxiesError } from "../../auth/policy/trusted-proxies.js";
import { hashPassword, verifyPassword } from "../../auth/password/scrypt-hash.js";
import { SessionStorageError, SessionStore } from "./session.js";
import { chatPage, messagePage, signInPage, stropheCheckPage } from "./pages.js";
import { systemClock, type Clock } from "../../core/clock.js";
import type { WebSessionRecords } from "../../core/records/web-sessions.js";

/** The demo web app's sign-in users; absent in production configs. */
export interface DemoConfig {
  /** Users who may sign in to the demo; `passwordHash` from src/auth/password/scrypt-hash.ts (`x-token hash-password`). */
  users: { username: string; passwordHash: string }[];
  /** Key that signs the session cookie (>= 32 bytes of randomness, base64 or hex text). */
  sessionSecret: string;
  /** The XMPP domain the demo users belong to (one of `domains`). */
  domain: string;
  /**
   * The site is served over https (behind a TLS proxy): the session cookie is `__Host-` and
   * `Secure`. The `secureCookie` option, when given, wins.
   */
  secureCookie?: boolean;
}

export interface DemoAppOptions {
  demo: DemoConfig;
  /** The demo domain's keys (current first); or `mint`. */
  keys?: readonly TokenKey[];
  /** The demo domain's nonce length (`nonceDigits`), for tokens minted from `keys`; default 32. */
  nonceDigits?: number;
  /** Mints a token for a bare JID of the demo domain, instead of `keys`. */
  mint?: MintFunction;
  /** The WebSocket endpoint's path on this same host (default "/xmpp-websocket"). */
  websocketPath?: string;
  /**
   * The WebSocket endpoint's full URL when it is not on this host and port, e.g.
   * "wss://chat.example.com/xmpp-websocket"; it is also added to the CSP's connect-src.
   */
  websocketUrl?: string;
  /** Where the browser bundle is (`npm run build` writes dist/browser). */
  assetsDir?: string;
  /** Sign-in session lifetime; default 8 hours. */
  sessionSeconds?: number;
  /** The site is served over https (behind a TLS proxy): Secure `__Host-` cookie. */
  secureCookie?: boolean;
  /**
   * Sign-in attempts (failed or not) per client address per minute; default 10. Each attempt
   * is counted before its password is hashed, so concurrent requests cannot exceed it.
   */
  maxSignInAttemptsPerMinute?: number;
  /** Sessions one user keeps at once; default 10 (a new one ends that user's oldest). */
  maxSessionsPerUser?: number;
  /**
   * Where sign-ins outlive a restart (`x-token serve` passes its storage's `webSessions`): only
   * a hash of each session id is stored. Absent: in memory, and a restart signs everyone out.
   * A sign-in (or sign-out) it cannot store is refused with 503.
   */
  sessionRecords?: WebSessionRecords;
  /** Where a sign-in or sign-out that could not be stored is reported (the server's log); default nowhere. */
  log?: { warn(message: string): void };
  /**
   * Reverse proxies whose X-Forwarded-For is believed for the sign-in limit's client address
   * (the server's `trustedProxies`); default none: the socket's peer address is the client.
   */
  trustedProxies?: TrustedProxies | readonly string[];
  /** Tokens per user; default 30 per 60 seconds. */
  tokenRateLimit?: { max: number; perSeconds: number };
  /** Unix seconds. */
  now?: Clock;
}

/** A Node request handler, also reachable as `.handler`. */
export type DemoApp = NodeHandler & { readonly handler: NodeHandler };

export class DemoAppOptionsError extends Error {
  override readonly name = "DemoAppOptionsError";
}

/** dist/browser, whether this module runs from src/ (tests) or dist/src/ (the binary). */
function defaultAssetsDir(): string {
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  return root.endsWith("/dist/") ? `${root}browser` : `${root}dist/browser`;
}

/** The only files served from assetsDir: a fixed list, so no path ever reaches the file system. */
const ASSET_TYPES: Record<string, string> = {
  "demo.js": "text/javascript; charset=utf-8",
  "demo.css": "text/css; charset=utf-8",
  "strophe-check.js": "text/javascript; charset=utf-8",
};

const MAX_FORM_BYTES = 4096;
/** A username typed into a failed sign-in comes back to the form, up to this length. */
const MAX_USERNAME_SHOWN = 64;

/** The urlencoded form body, "too-large", or null when it is not a form. */
function readForm(req: IncomingMessage): Promise<URLSearchParams | "too-large" | null> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return Promise.resolve(null);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        req.removeAllListeners("data");
        req.resume(); // drain, so the 413 reaches the client
        resolve("too-large");
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(new URLSearchParams(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", () => resolve(null));
  });
}

function trustedProxiesOf(value: DemoAppOptions["trustedProxies"]): TrustedProxies {
  if (value === undefined) return TrustedProxies.none;
  if (value instanceof TrustedProxies) return value;
  try {
    return TrustedProxies.parse(value);
  } catch (err) {
    if (err instanceof TrustedProxiesError) throw new DemoAppOptionsError(`trustedProxies: ${err.message}`);
    throw err;
  }
}

function checkOptions(options: DemoAppOptions): void {
  const { demo } = options;
  if (!demo || !Array.isArray(demo.users) || demo.users.length === 0) throw new DemoAppOptionsError("demo.users must list at least one user");
  if ((options.keys === undefined) === (options.mint === undefined)) throw new DemoAppOptionsError("give exactly one of keys or mint");
  if (options.websocketUrl !== undefined && !/^wss?:\/\/[^/]+\//.test(options.websocketUrl)) {
    throw new DemoAppOptionsError("websocketUrl must be a ws:// or wss:// URL with a path");
  }
  if (options.websocketPath !== undefined && !options.websocketPath.startsWith("/")) throw new DemoAppOptionsError("websocketPath must start with /");
}

export function createDemoApp(options: DemoAppOptions): DemoApp {
  checkOptions(options);
  const { demo, websocketPath = "/xmpp-websocket", websocketUrl, assetsDir = defaultAssetsDir(), now = systemClock } = options;
  const sessions = new SessionStore({
    secret: demo.sessionSecret,
    lifetimeSeconds: options.sessionSeconds,
    secure: options.secureCookie ?? demo.secureCookie ?? false,
    ...(options.maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser: options.maxSessionsPerUser }),
    ...(options.sessionRecords ? { records: options.sessionRecords } : {}),
    now,
  });
  const users = new Map(demo.users.map((u) => [u.username, u.passwordHash]));
  const signInAttempts = new WindowCounter({ limit: options.maxSignInAttemptsPerMinute ?? 10, windowSeconds: 60, maxKeys: 10_000, now });
  const trustedProxies = trustedProxiesOf(options.trustedProxies);
  // Unknown usernames are checked against this, so they cost a scrypt too: timing does not tell which users exist.
  const decoyHash = hashPassword(randomBytes(16).toString("base64"));
  decoyHash.catch(() => {}); // a failure surfaces (as a 500) where it is awaited, not as an unhandled rejection
  const jidOf = (username: string) => `${username}@${demo.domain}`;
  const authenticate = (req: IncomingMessage) => {
    const user = sessions.user(req);
    return user ? jidOf(user) : null;
  };
  const tokenEndpoint = createTokenEndpoint(
    options.mint
      ? { authenticate, mint: options.mint, rateLimit: options.tokenRateLimit, now }
      : { authenticate, keys: [...options.keys!], nonceDigits: options.nonceDigits, rateLimit: options.tokenRateLimit, now },
  );
  const websocketOrigin = websocketUrl ? new URL(websocketUrl).origin.replace(/^http/, "ws") : null;

  function headers(req: IncomingMessage, type: string): Record<string, string> {
    const host = req.headers.host ?? "localhost";
    const connect = [`'self'`, `ws://${host}`, `wss://${host}`, ...(websocketOrigin ? [websocketOrigin] : [])].join(" ");
    return {
      "Content-Type": type,
      "Content-Security-Policy": `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src ${connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      // Not "no-referrer": with it, browsers send `Origin: null` on form posts and the CSRF check fails.
      "Referrer-Policy": "same-origin",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cache-Control": "no-store",
    };
  }

  function html(req: IncomingMessage, res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { ...headers(req, "text/html; charset=utf-8"), ...extra }).end(text);
  }

  function redirect(res: ServerResponse, location: string, extra: Record<string, string> = {}): void {
    res.writeHead(303, { Location: location, "Cache-Control": "no-store", ...extra }).end();
  }

  /**
   * CSRF: POSTs must come from our own pages. Browsers send Origin on every cross-origin POST and
   * on same-origin form posts (with our Referrer-Policy), so a missing Origin is refused too.
   */
  function sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    const host = req.headers.host;
    return origin !== undefined && host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = clientAddress(req.socket.remoteAddress, req.headers, trustedProxies);
    if (signInAttempts.isOver(client)) return html(req, res, 429, messagePage("Too many attempts", "Too many sign-ins from here: wait a minute."), { "Retry-After": "60" });
    // Reserved now, before any await: requests that arrive together each see the ones before
    // them, so no more than the limit ever reach the scrypt below. Successes count too.
    signInAttempts.record(client);
    const form = await readForm(req);
    if (form === "too-large") return html(req, res, 413, messagePage("Too large", "That form is too large."));
    const username = form?.get("username") ?? "";
    const password = form?.get("password") ?? "";
    const hash = users.get(username);
    const ok = await verifyPassword(password, hash ?? (await decoyHash));
    if (!hash || !ok) {
      // The reason stays here: the page says only that it failed, and nothing is logged. The
      // username comes back to the form (not the password), so only the password is typed again.
      const typed = username.slice(0, MAX_USERNAME_SHOWN);
      return redirect(res, typed ? `/?failed=1&user=${encodeURIComponent(typed)}` : "/?failed=1");
    }
    // A fresh session id on every sign-in (no fixation); the old one, if any, ends.
    let cookie: string;
    try {
      sessions.destroy(req);
      cookie = sessions.create(username);
    } catch (err) {
      if (err instanceof SessionStorageError) {
        options.log?.warn(`demo: sign-in of ${username} refused: ${err.message}`);
        return storageTrouble(req, res, "Sign-in failed", "The server could not save your sign-in: its storage is failing. Nothing was changed; try again in a moment.");
      }
      throw err;
    }
    return redirect(res, "/chat", { "Set-Cookie": cookie });
  }

  function signOut(req: IncomingMessage, res: ServerResponse): void {
    let cookie: string;
    try {
      cookie = sessions.destroy(req);
    } catch (err) {
      // The session stays, in memory and stored: saying "signed out" would let it come back after a restart.
      if (err instanceof SessionStorageError) {
        options.log?.warn(`demo: sign-out refused: ${err.message}`);
        return storageTrouble(req, res, "Sign-out failed", "The server could not record your sign-out: its storage is failing. You are still signed in; try again in a moment.");
      }
      throw err;
    }
    // The sign-in page then says so: the chat's stream is already closed (the page stops it first).
    return redirect(res, "/?signed-out=1", { "Set-Cookie": cookie });
  }

  /** 503 with a page that says what did not happen; the reason stays in the server (no details leak). */
  function storageTrouble(req: IncomingMessage, res: ServerResponse, title: string, text: string): void {
    html(req, res, 503, messagePage(title, text), { "Retry-After": "30" });
  }

  async function asset(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const type = Object.hasOwn(ASSET_TYPES, name) ? ASSET_TYPES[name] : undefined;
    if (!type) return html(req, res, 404, messagePage("Not found", "No such page."));
    try {
      const body = await readFile(`${assetsDir}/${name}`);
      res.writeHead(200, { ...headers(req, type), "Cache-Control": "no-cache" }).end(body);
    } catch {
      html(req, res, 404, messagePage("Not built", "The browser bundle is missing: run npm run build."));
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://demo.invalid");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (path === "/api/token") return tokenEndpoint(req, res);
    if (path === "/favicon.ico") return void res.writeHead(204).end();
    if (path.startsWith("/assets/") && method === "GET") return asset(req, res, path.slice("/assets/".length));
    if (path === "/signin" && method === "POST") {
      if (!sameOrigin(req)) return html(req, res, 403, messagePage("Forbidden", "Sign-in must come from this site's own page."));
      return signIn(req, res);
    }
    if (path === "/signout" && method === "POST") {
      if (!sameOrigin(req)) return html(req, res, 403, messagePage("Forbidden", "Sign-out must come from this site's own page."));
      return signOut(req, res);
    }
    if (method !== "GET") return html(req, res, 405, messagePage("Method not allowed", "Not here."), { Allow: "GET" });
    const user = sessions.user(req);
    const websocket = websocketUrl ?? websocketPath;
    switch (path) {
      case "/":
        if (user) return redirect(res, "/chat");
        return html(
          req,
          res,
          200,
          signInPage([...users.keys()], {
            failed: url.searchParams.has("failed"),
            username: (url.searchParams.get("user") ?? "").slice(0, MAX_USERNAME_SHOWN),
            signedOut: url.searchParams.has("signed-out"),
          }),
        );
      case "/chat":
        return user ? html(req, res, 200, chatPage(jidOf(user), websocket)) : redirect(res, "/");
      case "/strophe":
        return user ? html(req, res, 200, stropheCheckPage(jidOf(user), websocket)) : redirect(res, "/");
      default:
        return html(req, res, 404, messagePage("Not found", "No such page."));
    }
  }

  const handler: NodeHandler = (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" }).end("internal error");
      else res.destroy();
    });
  };
  return Object.assign(handler, { handler });
}
