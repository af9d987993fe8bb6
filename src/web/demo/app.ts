/**
 * The demo web app served on the server's HTTP port: sign-in for the configured demo users,
 * a session cookie, the token endpoint for the signed-in user, and a chat page that logs in to
 * XMPP over WebSocket with X-TOKEN.
 *
 * Two-factor sign-in (Caddy's basicauth-totp, docs/otp.md): a user whose account has one-time
 * password credentials (the storage's `otp` records, the ones XMPP logins check) gets, after the
 * password, a short-lived half session (its own cookie, in memory only) and the code page; only
 * a right code turns it into a session, and only sessions reach the chat and the token endpoint.
 * Both steps follow the server's one login policy (admit, settle: failures slowed per account
 * and refused per address), report to the same login metrics and write the same failure log
 * lines, bounded per address; a code is checked by the same OtpVerifier, so it is used once
 * across the web and XMPP. A signed-in user without a credential may enrol one: the QR code is
 * shown during the set-up only, and the credential is stored when a code from the app confirms it.
 *
 * Routes: GET / (sign-in page), POST /signin, GET|POST /code (the second step), POST /signout,
 * GET /chat, GET /two-factor, POST /two-factor/start, POST /two-factor/confirm, GET /strophe (a
 * one-shot Strophe.js X-TOKEN login, used by the browser test), GET|POST /api/token, GET /assets/*.
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
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, type LoginPolicy } from "../../auth/policy/login-limiter.js";
import { FailureLog } from "../../auth/policy/failure-log.js";
import { OtpVerifier } from "../../auth/otp/verifier.js";
import { checkIssuer, listOtpCredentials } from "../../auth/otp/manage.js";
import { MemoryOtpCredentials, type OtpCredentials } from "../../core/records/otp.js";
import { DemoEnrolments, type EnrolmentAnswer } from "./enrolment.js";
import { SessionStorageError, SessionStore } from "./session.js";
import { chatPage, codePage, MAX_CODE_FIELD, messagePage, signInPage, stropheCheckPage, twoFactorPage } from "./pages.js";
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
  /** Inactivity timeout of sessions (DEFAULT_SESSION_IDLE_SECONDS); the `sessionIdleSeconds` option, when given, wins. */
  sessionIdleSeconds?: number;
}

/** A session ends after this long without a request (Caddy's session_inactivity_timeout, 60 minutes). */
export const DEFAULT_SESSION_IDLE_SECONDS = 3600;

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
  /**
   * The server's log: failed sign-ins (bounded per address), sign-ins or sign-outs that could not
   * be stored, and (info) two-factor sign-in turned on; default nowhere.
   */
  log?: { warn(message: string): void; info?(message: string): void };
  /**
   * Reverse proxies whose X-Forwarded-For is believed for the sign-in limit's client address
   * (the server's `trustedProxies`); default none: the socket's peer address is the client.
   */
  trustedProxies?: TrustedProxies | readonly string[];
  /** Tokens per user; default 30 per 60 seconds. */
  tokenRateLimit?: { max: number; perSeconds: number };
  /**
   * A session ends after this long without a request (renewed once less than half is left);
   * `demo.sessionIdleSeconds`, else DEFAULT_SESSION_IDLE_SECONDS. It never outlives `sessionSeconds`.
   */
  sessionIdleSeconds?: number;
  /**
   * One-time password accounts: `credentials` are the storage's `otp` records (`x-token serve`
   * passes the ones its XMPP logins check, so a code is used once across both); in memory by
   * default. `maxOffset` is the HOTP look-ahead, `issuer` what an app shows above a code enrolled
   * here (the demo domain by default), `accounts` the rules every login of the domain follows
   * (the TokenAuthority: disabled accounts).
   */
  otp?: {
    credentials: OtpCredentials;
    maxOffset?: number | (() => number);
    issuer?: string;
    accounts?: { accountProblem(localpart: string, domain: string): string | null };
  };
  /**
   * The server's login policy (a function: the one in force now, as a reload may replace it);
   * by default a LoginLimiter of the default limits of its own.
   */
  loginPolicy?: LoginPolicy | (() => LoginPolicy);
  /** Where login figures go: the server's (src/metrics' PrometheusMetrics), with mechanisms `web-password` and `web-otp`. */
  metrics?: { loginFinished(event: { mechanism: string; result: "success" | "failure"; reason: string; seconds: number }): void };
  /** Failed sign-in log lines per client address per minute (`limits.maxFailureLinesPerIpPerMinute`); default 10. */
  failureLinesPerMinute?: number;
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
const RESTARTS = new Set(["expired", "too-many-codes"]);
/** How long the code page waits for the code after the password. */
const SECOND_FACTOR_SECONDS = 300;
/** Wrong codes one half session may send; then the password again (a stolen password buys few guesses per scrypt). */
const MAX_CODES_PER_SIGN_IN = 5;

/** A username typed into a failed sign-in comes back to the form, up to this length. */
const MAX_USERNAME_SHOWN = 64;

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000).unref());
}

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
  if (options.otp?.issuer !== undefined) {
    try {
      checkIssuer(options.otp.issuer);
    } catch (err) {
      throw new DemoAppOptionsError(`otp.issuer: ${(err as Error).message}`);
    }
  }
}

export function createDemoApp(options: DemoAppOptions): DemoApp {
  checkOptions(options);
  const { demo, websocketPath = "/xmpp-websocket", websocketUrl, assetsDir = defaultAssetsDir(), now = systemClock } = options;
  const secure = options.secureCookie ?? demo.secureCookie ?? false;
  const sessions = new SessionStore({
    secret: demo.sessionSecret,
    lifetimeSeconds: options.sessionSeconds,
    idleSeconds: options.sessionIdleSeconds ?? demo.sessionIdleSeconds ?? DEFAULT_SESSION_IDLE_SECONDS,
    secure,
    ...(options.maxSessionsPerUser === undefined ? {} : { maxSessionsPerUser: options.maxSessionsPerUser }),
    ...(options.sessionRecords ? { records: options.sessionRecords } : {}),
    now,
  });
  // Password passed, code not yet: in memory only (a restart asks for the password again), short-lived.
  const halfSessions = new SessionStore({ secret: demo.sessionSecret, cookieName: "xtoken_demo_2fa", lifetimeSeconds: SECOND_FACTOR_SECONDS, maxSessionsPerUser: 3, secure, now });
  const otpCredentials = options.otp?.credentials ?? new MemoryOtpCredentials();
  const otpVerifier = new OtpVerifier({
    credentials: otpCredentials,
    now,
    ...(options.otp?.maxOffset !== undefined ? { maxOffset: options.otp.maxOffset } : {}),
    ...(options.otp?.accounts ? { accounts: options.otp.accounts } : {}),
  });
  const maxOffset = () => (typeof options.otp?.maxOffset === "function" ? options.otp.maxOffset() : options.otp?.maxOffset);
  const issuer = options.otp?.issuer ?? demo.domain;
  const ownPolicy = options.loginPolicy ? null : new LoginLimiter({ limits: DEFAULT_LOGIN_LIMITS });
  const policy = (): LoginPolicy => (typeof options.loginPolicy === "function" ? options.loginPolicy() : (options.loginPolicy ?? ownPolicy!));
  const failureLog = new FailureLog(options.log ?? { warn() {} }, { linesPerMinute: options.failureLinesPerMinute ?? 10 });
  const enrolments = new DemoEnrolments({ credentials: otpCredentials, issuer, jidOf: (username) => `${username}@${demo.domain}`, maxOffset, now, log: options.log });
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

  function redirect(res: ServerResponse, location: string, extra: Record<string, string | string[]> = {}): void {
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

  /** The login figures of one finished step, as the XMPP logins report theirs. */
  function report(mechanism: "web-password" | "web-otp", started: bigint, reason: string | null): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.metrics?.loginFinished(reason === null ? { mechanism, result: "success", reason: "ok", seconds } : { mechanism, result: "failure", reason, seconds });
  }

  /**
   * A failed step, as the SASL exchange settles one: counted by the policy (against the account
   * only when it was one of ours and really checked), one line in the failure log (the server's
   * format, so one fail2ban filter reads both), answered late when the account is over its limit.
   */
  async function failed(mechanism: "web-password" | "web-otp", started: bigint, client: string, jid: string | null, reason: string, checked: boolean): Promise<void> {
    const settled = await policy().settle({ ip: client, ...(jid === null ? {} : { jid }), result: checked ? "refused" : "failed" });
    failureLog.failure(client, `authentication failed for ${jid ?? "(unknown)"} from ${client}: ${reason} (${mechanism})${settled.jidOverLimit ? " (the JID is over its failure limit)" : ""}`);
    report(mechanism, started, reason);
    if (settled.holdBackSeconds > 0) await sleep(settled.holdBackSeconds);
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const client = clientAddress(req.socket.remoteAddress, req.headers, trustedProxies);
    if (signInAttempts.isOver(client)) return html(req, res, 429, messagePage("Too many attempts", "Too many sign-ins from here: wait a minute."), { "Retry-After": "60" });
    // Reserved now, before any await: requests that arrive together each see the ones before
    // them, so no more than the limit ever reach the scrypt below. Successes count too.
    signInAttempts.record(client);
    const form = await readForm(req);
    if (form === "too-large") return html(req, res, 413, messagePage("Too large", "That form is too large."));
    if (!(await policy().admit(client))) {
      // The server's per-address failure limit: this address failed too often, here or over XMPP.
      await failed("web-password", started, client, null, "rate-limited", false);
      return html(req, res, 429, messagePage("Too many attempts", "Too many failed sign-ins from here: wait a minute."), { "Retry-After": "60" });
    }
    const username = form?.get("username") ?? "";
    const password = form?.get("password") ?? "";
    const hash = users.get(username);
    const ok = await verifyPassword(password, hash ?? (await decoyHash));
    if (!hash || !ok) {
      // The page says only that it failed (not which). The username comes back to the form (not
      // the password), so only the password is typed again; the log names only users of ours.
      await failed("web-password", started, client, hash ? jidOf(username) : null, "password-invalid", hash !== undefined);
      const typed = username.slice(0, MAX_USERNAME_SHOWN);
      return redirect(res, typed ? `/?failed=1&user=${encodeURIComponent(typed)}` : "/?failed=1");
    }
    let secondFactor: boolean;
    try {
      secondFactor = otpCredentials.forAccount(jidOf(username)).length > 0;
    } catch (err) {
      options.log?.warn(`demo: sign-in of ${username} refused: its one-time password credentials could not be read: ${err instanceof Error ? err.message : String(err)}`);
      return storageTrouble(req, res, "Sign-in failed", "The server could not read your sign-in settings: its storage is failing. Try again in a moment.");
    }
    if (secondFactor) {
      // Not signed in yet: a half session that only the code page takes. Any session this
      // browser had ends (a new sign-in is a new start); the policy settles at the code.
      let ended: string[];
      try {
        ended = endSession(req);
      } catch (err) {
        if (!(err instanceof SessionStorageError)) throw err;
        options.log?.warn(`demo: sign-in of ${username} refused: ${err.message}`);
        return storageTrouble(req, res, "Sign-in failed", "The server could not end your earlier sign-in: its storage is failing. Try again in a moment.");
      }
      return redirect(res, "/code", { "Set-Cookie": [halfSessions.create(username), ...ended] });
    }
    await policy().settle({ ip: client, jid: jidOf(username), result: "success" });
    report("web-password", started, null);
    return startSession(req, res, username);
  }

  /** Clears a session cookie the browser holds, if any (the session itself ends too). */
  function endSession(req: IncomingMessage): string[] {
    return sessions.user(req) === null ? [] : [sessions.destroy(req)];
  }

  /** A fresh session id on every sign-in (no fixation); the old one, if any, ends. Then the chat. */
  function startSession(req: IncomingMessage, res: ServerResponse, username: string, extraCookies: string[] = []): void {
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
    return redirect(res, "/chat", { "Set-Cookie": [cookie, ...extraCookies] });
  }

  /** Whether the account's credentials have a PIN (the code page then asks for PIN and code). */
  function pinOf(username: string): boolean {
    try {
      return otpCredentials.forAccount(jidOf(username)).some((c) => c.pinHash !== null);
    } catch {
      return false;
    }
  }

  /** The second step: PIN and/or code, checked as an XMPP login checks it (and used up with it). */
  async function secondStep(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const username = halfSessions.user(req);
    if (username === null) return redirect(res, "/?restart=expired");
    const client = clientAddress(req.socket.remoteAddress, req.headers, trustedProxies);
    const form = await readForm(req);
    if (form === "too-large") return html(req, res, 413, messagePage("Too large", "That form is too large."));
    const jid = jidOf(username);
    if (!(await policy().admit(client))) {
      await failed("web-otp", started, client, jid, "rate-limited", false);
      return html(req, res, 429, messagePage("Too many attempts", "Too many failed sign-ins from here: wait a minute, then type the code your app shows then.", { href: "/code", label: "Back to the code" }), { "Retry-After": "60" });
    }
    // Spaces are how apps show a code ("123 456"); nothing else is taken out.
    const code = (form?.get("code") ?? "").slice(0, MAX_CODE_FIELD).replace(/ /g, "");
    const verdict = await otpVerifier.check(username, demo.domain, code);
    if (verdict === null) {
      // The credentials were removed since the password step: start again (the password alone now).
      return redirect(res, "/?restart=expired", { "Set-Cookie": halfSessions.destroy(req) });
    }
    if (verdict.ok) {
      await policy().settle({ ip: client, jid, result: "success" });
      report("web-otp", started, null);
      return startSession(req, res, username, [halfSessions.destroy(req)]);
    }
    if (verdict.reason === "otp-store-error") {
      report("web-otp", started, verdict.reason);
      options.log?.warn(`demo: code of ${jid} not checked: the one-time password store is failing`);
      return storageTrouble(req, res, "Sign-in failed", "The server could not check your code: its storage is failing. Try again in a moment.");
    }
    await failed("web-otp", started, client, jid, verdict.reason, true);
    if (halfSessions.countFailure(req) >= MAX_CODES_PER_SIGN_IN) return redirect(res, "/?restart=too-many-codes", { "Set-Cookie": halfSessions.destroy(req) });
    return redirect(res, "/code?failed=1");
  }

  function answer(req: IncomingMessage, res: ServerResponse, step: EnrolmentAnswer): void {
    if (step.kind === "page") return html(req, res, 200, step.html);
    if (step.kind === "redirect") return redirect(res, step.location);
    return storageTrouble(req, res, step.title, step.text);
  }

  /** POST /two-factor/start and /two-factor/confirm, for a signed-in user. */
  async function enrolment(req: IncomingMessage, res: ServerResponse, username: string, step: "start" | "confirm"): Promise<void> {
    if (step === "start") return answer(req, res, await enrolments.start(username));
    const form = await readForm(req);
    if (form === "too-large") return html(req, res, 413, messagePage("Too large", "That form is too large."));
    return answer(req, res, enrolments.confirm(username, (form?.get("code") ?? "").slice(0, MAX_CODE_FIELD).replace(/ /g, "")));
  }

  function signOut(req: IncomingMessage, res: ServerResponse): void {
    let cookie: string;
    try {
      cookie = sessions.destroy(req);
      // A sign-in waiting for its code ends too ("Cancel" on the code page).
      if (halfSessions.user(req) !== null) return redirect(res, "/?signed-out=1", { "Set-Cookie": [cookie, halfSessions.destroy(req)] });
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
    if (path === "/code" && method === "POST") {
      if (!sameOrigin(req)) return html(req, res, 403, messagePage("Forbidden", "The code must come from this site's own page."));
      return secondStep(req, res);
    }
    if ((path === "/two-factor/start" || path === "/two-factor/confirm") && method === "POST") {
      if (!sameOrigin(req)) return html(req, res, 403, messagePage("Forbidden", "The set-up must come from this site's own page."));
      const user = sessions.user(req);
      if (!user) return redirect(res, "/");
      return enrolment(req, res, user, path === "/two-factor/start" ? "start" : "confirm");
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
            ...(RESTARTS.has(url.searchParams.get("restart") ?? "") ? { restart: url.searchParams.get("restart") as "expired" | "too-many-codes" } : {}),
          }),
        );
      case "/code": {
        const waiting = halfSessions.user(req);
        if (waiting === null) return redirect(res, user ? "/chat" : "/");
        return html(req, res, 200, codePage({ jid: jidOf(waiting), failed: url.searchParams.has("failed"), pin: pinOf(waiting) }));
      }
      case "/two-factor": {
        if (!user) return redirect(res, "/");
        let mine;
        try {
          mine = listOtpCredentials(otpCredentials, jidOf(user));
        } catch {
          return storageTrouble(req, res, "Not available", "The server could not read your sign-in settings: its storage is failing. Try again in a moment.");
        }
        return html(req, res, 200, twoFactorPage(jidOf(user), mine, { expired: url.searchParams.has("expired") }));
      }
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
