/**
 * The token endpoint a web backend mounts: it answers its signed-in user with a fresh X-TOKEN
 * token, in the shape Converse.js' `credentials_url` expects: `{ "jid": ..., "password": ... }`.
 * A plain Node `(req, res)` handler, so node:http, Express and Fastify (via `reply.raw`) all use it.
 *
 * It never logs: a token is a credential, and the app's logger is the app's business.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { issueToken } from "../../core/token/mint.js";
import { DEFAULT_WINDOW, WINDOW_RULE, isValidWindow } from "../../core/token/window.js";
import { systemClock, type Clock } from "../../core/clock.js";
import { Keyring, KeyError, type TokenKey } from "../../core/token/keys.js";
import { DEFAULT_NONCE_DIGITS, nonceDigitsProblem } from "../../core/token/format.js";
import { normaliseBareJid } from "../../core/jid/prep.js";
import { WindowCounter } from "../../auth/policy/window-counter.js";
import type { FailureCounter } from "../../auth/policy/login-limiter.js";

/** Mints the token for a prepared bare JID at unix time `now` (seconds): the app's own minting. */
export type MintFunction = (jid: string, now: number) => string | Promise<string>;

/** Where the endpoint's tokens come from: exactly one of these. */
export type TokenEndpointSource =
  | { /** The domain's key. */ key: TokenKey; keys?: never; mint?: never }
  | { /** The domain's keys, current first (the first one mints), or a Keyring. */ keys: readonly TokenKey[] | Keyring; key?: never; mint?: never }
  | { /** A mint function (another domain per user, a remote signer...). */ mint: MintFunction; key?: never; keys?: never };

export type TokenEndpointOptions = TokenEndpointSource & {
  /**
   * Who is signed in: their bare JID, or null/undefined. The app's own session logic. A throw (or
   * a rejected promise, or something that is not a JID) is answered with 500 and no details.
   */
  authenticate: (req: IncomingMessage) => string | null | undefined | Promise<string | null | undefined>;
  /** Tokens per user per window; default 30 per 60 seconds. Memory is bounded (`maxUsers`). */
  rateLimit?: { max: number; perSeconds: number; maxUsers?: number };
  /**
   * Counts issued tokens per user somewhere shared instead of this process's memory, so the limit
   * holds across every node (a RedisFailureCounter from src/stores/redis, with its own limit and
   * window; `rateLimit.perSeconds` still gives Retry-After).
   */
  issuedCounter?: FailureCounter;
  /** Browser origins (scheme://host[:port]) allowed to call the endpoint from another origin. */
  cors?: { origins: readonly string[]; credentials?: boolean; headers?: readonly string[] };
  /**
   * The server's window in time steps either side of now (default 1, Prosody's), only used to
   * compute `expiresAt` for tokens minted from keys.
   */
  window?: number;
  /** The nonce length the server accepts (its domain's `nonceDigits`), for tokens minted from keys; default 32. */
  nonceDigits?: number;
  /** Unix seconds. */
  now?: Clock;
};

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The 200 body. `password` and `token` are the same string. */
export interface TokenResponse {
  jid: string;
  password: string;
  token: string;
  /** Unix seconds after which the server refuses the token (absent with a custom mint function). */
  expiresAt?: number;
}

export class TokenEndpointOptionsError extends Error {
  override readonly name = "TokenEndpointOptionsError";
}

const METHODS = "GET, POST";

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(text)),
    // A token is a credential: no cache, no proxy may keep it.
    "Cache-Control": "no-store",
    Pragma: "no-cache",
    "X-Content-Type-Options": "nosniff",
    ...headers,
  });
  res.end(text);
}

function checkOptions(options: TokenEndpointOptions): void {
  const sources = [options.key, options.keys, options.mint].filter((s) => s !== undefined).length;
  if (sources !== 1) throw new TokenEndpointOptionsError("give exactly one of key, keys or mint");
  if (typeof options.authenticate !== "function") throw new TokenEndpointOptionsError("authenticate must be a function");
  if (options.mint !== undefined && typeof options.mint !== "function") throw new TokenEndpointOptionsError("mint must be a function");
  const nonceProblem = options.nonceDigits === undefined ? null : nonceDigitsProblem(options.nonceDigits);
  if (nonceProblem) throw new TokenEndpointOptionsError(nonceProblem);
  if (options.window !== undefined && !isValidWindow(options.window)) throw new TokenEndpointOptionsError(`window must be ${WINDOW_RULE}`);
  const limit = options.rateLimit;
  if (limit && !(Number.isInteger(limit.max) && limit.max > 0 && Number.isFinite(limit.perSeconds) && limit.perSeconds > 0)) {
    throw new TokenEndpointOptionsError("rateLimit needs a positive integer max and a positive perSeconds");
  }
  for (const origin of options.cors?.origins ?? []) {
    // Browsers send the serialised origin: scheme, host and a non-default port, nothing else.
    let serialised: string | null = null;
    try {
      serialised = new URL(origin).origin;
    } catch {}
    if (serialised !== origin) throw new TokenEndpointOptionsError(`cors origin ${JSON.stringify(origin)} is not of the form https://host[:port]`);
  }
}

/** The keys as a Keyring; a missing or bad key is a bad option like the others (e.g. an unset environment variable). */
function endpointKeyring(keys: TokenKey | readonly TokenKey[] | Keyring): Keyring {
  try {
    return Keyring.from(keys);
  } catch (err) {
    if (err instanceof KeyError) throw new TokenEndpointOptionsError(`keys: ${err.message}`, { cause: err });
    throw err;
  }
}

export function createTokenEndpoint(options: TokenEndpointOptions): NodeHandler {
  checkOptions(options);
  const { authenticate, rateLimit = { max: 30, perSeconds: 60 }, cors, window = DEFAULT_WINDOW, nonceDigits = DEFAULT_NONCE_DIGITS, now = systemClock } = options;
  const keyring = options.mint ? null : endpointKeyring((options.keys ?? options.key)!);
  const issued: FailureCounter =
    options.issuedCounter ?? new WindowCounter({ limit: rateLimit.max, windowSeconds: rateLimit.perSeconds, maxKeys: rateLimit.maxUsers ?? 100_000, now });
  // Stryker disable next-line ArrayDeclaration: equivalent, without cors corsHeaders() answers before it reads the set
  const allowedOrigins = new Set(cors?.origins ?? []);
  const allowMethods = cors ? `${METHODS}, OPTIONS` : METHODS;

  async function mint(jid: string, at: number): Promise<TokenResponse> {
    if (!keyring) {
      const token = await options.mint!(jid, at);
      if (typeof token !== "string" || token === "") throw new TypeError("mint returned no token");
      return { jid, password: token, token };
    }
    const { token, expiresAt } = issueToken({ jid, key: keyring, now: at, nonceDigits, window });
    return { jid, password: token, token, expiresAt };
  }

  function corsHeaders(req: IncomingMessage): Record<string, string> {
    if (!cors) return {};
    const origin = req.headers.origin;
    // Vary on every answer: a cache must not hand one origin's answer to another.
    if (!origin || !allowedOrigins.has(origin)) return { Vary: "Origin" };
    return {
      "Access-Control-Allow-Origin": origin,
      Vary: "Origin",
      ...(cors.credentials ? { "Access-Control-Allow-Credentials": "true" } : {}),
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = corsHeaders(req);
    if (req.method === "OPTIONS" && cors) {
      // A preflight: the allow headers only for listed origins; others get nothing to go on.
      const allowed = Object.hasOwn(headers, "Access-Control-Allow-Origin");
      res
        .writeHead(204, {
          ...headers,
          ...(allowed
            ? {
                "Access-Control-Allow-Methods": METHODS,
                ...(cors.headers?.length ? { "Access-Control-Allow-Headers": cors.headers.join(", ") } : {}),
                "Access-Control-Max-Age": "600",
              }
            : {}),
          "Cache-Control": "no-store",
        })
        .end();
      return;
    }
    if (req.method !== "GET" && req.method !== "POST") {
      return send(res, 405, { error: "method-not-allowed" }, { ...headers, Allow: allowMethods });
    }
    let jid: string;
    try {
      const who = await authenticate(req);
      if (!who) return send(res, 401, { error: "not-signed-in" }, headers);
      jid = normaliseBareJid(who);
    } catch {
      // The app's session code failed, or gave something that is not a JID: no details out.
      return send(res, 500, { error: "internal-error" }, headers);
    }
    if (await issued.isOver(jid)) {
      // Retry-After is an upper bound: the oldest token in the window may leave it sooner.
      return send(res, 429, { error: "rate-limited" }, { ...headers, "Retry-After": String(Math.ceil(rateLimit.perSeconds)) });
    }
    await issued.record(jid);
    send(res, 200, await mint(jid, now()), headers);
  }

  return (req, res) => {
    handle(req, res).catch(() => {
      // A mint function that failed, or a write after the client went away: no details out.
      if (!res.headersSent) send(res, 500, { error: "internal-error" }, corsHeaders(req));
      else res.destroy();
    });
  };
}
