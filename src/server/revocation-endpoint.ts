/**
 * The revocation endpoint on the server's HTTP listener (docs/revocation.md): a backend's trusted
 * call `POST <path>` with `{"jid": "alice@example.com", "notBefore": 1760000000}` (notBefore
 * optional: now) revokes the account (AccountRevoker). Who may call it is configuration, never a
 * header or loopback by itself: a shared secret (`Authorization: Bearer <secret>`), an allow-list
 * of peer addresses (the TCP peer, never X-Forwarded-For), or both (then both must hold).
 * Answers: 200 with the report (JSON), 400 a body that is no revocation, 401 no or a wrong secret,
 * 403 a peer not allowed, 405 a method other than POST, 413 a body over the bound, 415 not JSON,
 * 503 the storage could not record it (nothing done) or the other nodes could not be told.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { TrustedProxies } from "../auth/policy/trusted-proxies.js";
import { RevocationError, type AccountRevoker } from "./revocation.js";

export interface RevocationEndpointConfig {
  /** Where it answers; default "/x-token/revoke". */
  path?: string | null;
  /** The shared secret callers send as `Authorization: Bearer <secret>` (at least 16 bytes). */
  secret?: string | null;
  /** Peer addresses and CIDR ranges allowed to call (matched on the TCP peer). */
  allowFrom?: readonly string[] | null;
}

export const DEFAULT_REVOCATION_PATH = "/x-token/revoke";
/** The longest body read: a JID is at most 3071 bytes, and the rest is a few dozen. */
export const MAX_REVOCATION_BODY_BYTES = 4096;
/** A body not received within this long is refused (408): a slow caller holds nothing for long. */
const BODY_TIMEOUT_MS = 10_000;

export class RevocationEndpointError extends Error {
  override readonly name = "RevocationEndpointError";
}

const digest = (text: string | Buffer) => createHash("sha256").update(text).digest();

function answer(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res
    .writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", ...headers })
    .end(`${JSON.stringify(body)}\n`);
}

/**
 * The endpoint as a handler that answers its own path and returns false for any other (the
 * caller hands the request on). Throws RevocationEndpointError for a configuration with neither
 * a secret nor an allow-list (nobody would be trusted, or everybody).
 */
export function createRevocationEndpoint(
  config: RevocationEndpointConfig,
  revoker: () => AccountRevoker,
  /** Told of every refused caller (403, 401), for one log line each, bounded per address (the server's FailureLog). */
  refused: (peer: string, why: string) => void = () => {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const path = config.path ?? DEFAULT_REVOCATION_PATH;
  if (!path.startsWith("/")) throw new RevocationEndpointError("the revocation endpoint's path must start with /");
  const secret = config.secret ?? null;
  if (secret !== null && Buffer.byteLength(secret) < 16) throw new RevocationEndpointError("the revocation endpoint's secret must be at least 16 bytes");
  const allowed = config.allowFrom && config.allowFrom.length > 0 ? TrustedProxies.parse(config.allowFrom) : null;
  if (secret === null && allowed === null) {
    throw new RevocationEndpointError("the revocation endpoint needs a secret or an allowFrom list (or both): it never trusts a caller by default");
  }
  // Compared as SHA-256 digests: equal lengths whatever was sent, so timingSafeEqual's time says
  // nothing about the secret's length or its bytes.
  const expected = secret === null ? null : digest(secret);

  const authorized = (req: IncomingMessage): boolean => {
    if (expected === null) return true;
    const header = req.headers.authorization ?? "";
    const match = /^Bearer ([\x21-\x7e]{1,1024})$/.exec(header);
    const given = digest(match ? match[1]! : "");
    // Always one comparison, a missing header included.
    return timingSafeEqual(given, expected) && match !== null;
  };

  return (req, res) => {
    if ((req.url ?? "").split("?")[0] !== path) return false;
    const peer = req.socket.remoteAddress ?? "";
    if (allowed !== null && !allowed.has(peer)) {
      refused(peer, "not in allowFrom");
      answer(res, 403, { error: "forbidden", message: "this address may not revoke accounts (allowFrom)" });
      return true;
    }
    if (!authorized(req)) {
      refused(peer, req.headers.authorization === undefined ? "no secret" : "wrong secret");
      answer(res, 401, { error: "unauthorized", message: "send the shared secret as Authorization: Bearer <secret>" }, { "WWW-Authenticate": 'Bearer realm="x-token revocation"' });
      return true;
    }
    if (req.method !== "POST") {
      answer(res, 405, { error: "method-not-allowed", message: "use POST" }, { Allow: "POST" });
      return true;
    }
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      answer(res, 415, { error: "unsupported-media-type", message: "send application/json" });
      return true;
    }
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > MAX_REVOCATION_BODY_BYTES) {
      answer(res, 413, { error: "payload-too-large", message: `at most ${MAX_REVOCATION_BODY_BYTES} bytes` }, { Connection: "close" });
      req.destroy();
      return true;
    }
    readBody(req, res).then(
      (body) => {
        if (body === null) return;
        handle(body, peer, res, revoker());
      },
      () => answer(res, 400, { error: "bad-request", message: "the body could not be read" }),
    );
    return true;
  };
}

/** The body, or null once the request was answered (too large, too slow, cut). */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Buffer | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      answer(res, 408, { error: "request-timeout", message: "the body did not arrive in time" }, { Connection: "close" });
      req.destroy();
      finish(null);
    }, BODY_TIMEOUT_MS);
    timer.unref();
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_REVOCATION_BODY_BYTES) {
        answer(res, 413, { error: "payload-too-large", message: `at most ${MAX_REVOCATION_BODY_BYTES} bytes` }, { Connection: "close" });
        // Stop reading: the rest of a huge body is never taken in.
        req.pause();
        res.once("finish", () => req.destroy());
        finish(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => finish(Buffer.concat(chunks)));
    req.on("error", () => finish(null));
    req.on("close", () => finish(null));
  });
}

function handle(body: Buffer, peer: string, res: ServerResponse, revoker: AccountRevoker): void {
  let request: unknown;
  try {
    request = JSON.parse(body.toString("utf8"));
  } catch {
    return answer(res, 400, { error: "bad-request", message: "the body is not JSON" });
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) return answer(res, 400, { error: "bad-request", message: 'expected {"jid": "...", "notBefore": unix seconds (optional)}' });
  const { jid, notBefore, ...rest } = request as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) return answer(res, 400, { error: "bad-request", message: "only jid and notBefore are known" });
  if (typeof jid !== "string") return answer(res, 400, { error: "bad-request", message: "jid must be a string" });
  if (notBefore !== undefined && typeof notBefore !== "number") return answer(res, 400, { error: "bad-request", message: "notBefore must be unix seconds" });
  revoker.revoke(jid, { ...(notBefore === undefined ? {} : { notBefore }), source: "http", from: peer }).then(
    (report) => answer(res, report.announced ? 200 : 503, { ...report, ...(report.announced ? {} : { error: "not-announced", message: "recorded and applied here, but the other nodes were not told: call again" }) }),
    (err: unknown) => {
      if (err instanceof RevocationError) return answer(res, 400, { error: "bad-request", message: err.message });
      answer(res, 503, { error: "unavailable", message: "the revocation could not be recorded; nothing was done: call again" });
    },
  );
}
