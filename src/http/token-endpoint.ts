/**
 * The token endpoint a web backend mounts: it answers its signed-in user with a fresh X-TOKEN
 * token, in the shape Converse.js' `credentials_url` expects: `{ "jid": ..., "password": ... }`.
 * A plain Node `(req, res)` handler, so node:http, Express and Fastify (via `reply.raw`) all use it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { mintToken } from "../token/mint.js";
import { checkToken } from "../token/verify.js";
import { Keyring, type TokenKey } from "../token/keys.js";
import { normaliseBareJid } from "../jid/prep.js";
import { WindowCounter } from "../policy/window-counter.js";

export interface TokenEndpointOptions {
  /** Who is signed in: their bare JID, or null. The app's own session logic. */
  authenticate: (req: IncomingMessage) => string | null | undefined | Promise<string | null | undefined>;
  /** The keys of the users' domain (current first), or a Keyring. */
  keys: readonly TokenKey[] | Keyring;
  /** Tokens per user per window; default 30 per 60 seconds. */
  rateLimit?: { max: number; perSeconds: number };
  /** Browser origins allowed to call the endpoint from another origin. */
  cors?: { origins: readonly string[]; credentials?: boolean };
  /** Unix seconds. */
  now?: () => number;
}

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

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

export function createTokenEndpoint({ authenticate, keys, rateLimit = { max: 30, perSeconds: 60 }, cors, now = () => Date.now() / 1000 }: TokenEndpointOptions): NodeHandler {
  const keyring = Keyring.from(keys as TokenKey[] | Keyring);
  const issued = new WindowCounter({ limit: rateLimit.max, windowSeconds: rateLimit.perSeconds, now });
  const allowedOrigins = new Set(cors?.origins ?? []);

  function corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin || !allowedOrigins.has(origin)) return cors ? { Vary: "Origin" } : {};
    return {
      "Access-Control-Allow-Origin": origin,
      Vary: "Origin",
      ...(cors?.credentials ? { "Access-Control-Allow-Credentials": "true" } : {}),
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = corsHeaders(req);
    if (req.method === "OPTIONS" && cors) {
      res.writeHead(204, { ...headers, "Access-Control-Allow-Methods": "GET, POST", "Access-Control-Max-Age": "600" }).end();
      return;
    }
    if (req.method !== "GET" && req.method !== "POST") {
      return send(res, 405, { error: "method-not-allowed" }, { ...headers, Allow: cors ? "GET, POST, OPTIONS" : "GET, POST" });
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
    if (issued.isOver(jid)) {
      return send(res, 429, { error: "rate-limited" }, { ...headers, "Retry-After": String(rateLimit.perSeconds) });
    }
    issued.record(jid);
    const at = now();
    const token = mintToken({ jid, key: keyring, now: at });
    const checked = checkToken(token, { jid, keys: keyring, now: at });
    send(res, 200, { jid, password: token, token, expiresAt: checked.ok ? checked.expiresAt : undefined }, headers);
  }

  return (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: "internal-error" });
      else res.destroy();
    });
  };
}
