/** Connects an @xmpp/client client with an X-TOKEN token: the one-call path for apps. */
import { client as createClient, type Client } from "@xmpp/client";
import { assertTokenMaySend, useXToken } from "./x-token-mechanism.js";

/** A token, or a function that fetches a fresh one: tokens are single-use, reconnects need new ones. */
export type TokenSource = string | (() => string | Promise<string>);

export interface ConnectWithTokenOptions {
  /** `xmpp://host:5222` (STARTTLS), `xmpps://host:5223`, or `ws(s)://host/xmpp-websocket`. */
  service: string;
  domain: string;
  username: string;
  token: TokenSource;
  resource?: string;
  /** Optional authorization identity (your own bare JID, or nothing). */
  authzid?: string;
  /**
   * Keep xmpp.js's automatic reconnect on once online. Defaults to true when `token` is a
   * function (every reconnect calls it for a fresh token) and false for a string (a used
   * token cannot log in again, so retrying it would only fail).
   */
  reconnect?: boolean;
  /**
   * Send the token on a stream without TLS too: plain TCP when the server offers no STARTTLS
   * (or someone removed it), or ws://. Default false: such a login fails with
   * InsecureStreamError before the token is fetched or sent. Loopback is no exception.
   */
  allowInsecure?: boolean;
  /** Milliseconds each step (connect, stream open, each reply) may take; xmpp.js's default is 2000. */
  timeout?: number;
}

/** Builds a client that authenticates with X-TOKEN only, fetching a token for every attempt. */
export function xTokenClient({ service, domain, username, token, resource, authzid, allowInsecure = false, timeout }: ConnectWithTokenOptions): Client {
  const xmpp: Client = createClient({
    service,
    domain,
    resource,
    ...(timeout === undefined ? {} : { timeout }),
    credentials: async (authenticate: (credentials: object, mechanism: string) => Promise<void>, mechanisms: string[]) => {
      // Before the token function runs: on a stream without TLS no token is even fetched.
      assertTokenMaySend(xmpp, { allowInsecure });
      if (!mechanisms.includes("X-TOKEN")) throw new Error("the server does not offer X-TOKEN");
      const password = typeof token === "function" ? await token() : token;
      await authenticate({ username, password, authzid }, "X-TOKEN");
    },
  });
  useXToken(xmpp, { allowInsecure });
  return xmpp;
}

/** Node 20 has no global WebSocket, which @xmpp/websocket expects; `ws` stands in for it. */
async function ensureWebSocket(service: string): Promise<void> {
  if (!/^wss?:/.test(service) || typeof globalThis.WebSocket !== "undefined") return;
  const { WebSocket } = await import("ws");
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
}

/**
 * Connects and resolves once online (resource bound). Rejects with the SASLError on a refused
 * login (`err.condition`: "not-authorized", "invalid-authzid", ...), InsecureStreamError on a
 * stream without TLS (unless `allowInsecure`), or the connection error.
 */
export async function connectWithToken(options: ConnectWithTokenOptions): Promise<Client> {
  await ensureWebSocket(options.service);
  const xmpp = xTokenClient(options);
  // A failed first login is not retried: the caller gets the error instead of a retry loop.
  xmpp.reconnect.stop();
  // start() rejects with the error; the same error is also emitted, which must not crash the app.
  const swallow = () => {};
  xmpp.on("error", swallow);
  try {
    await xmpp.start();
  } catch (err) {
    await xmpp.stop().catch(() => {});
    throw err;
  } finally {
    xmpp.off("error", swallow);
  }
  if (options.reconnect ?? typeof options.token === "function") xmpp.reconnect.start();
  return xmpp;
}
