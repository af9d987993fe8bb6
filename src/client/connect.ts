/** Connects an @xmpp/client client with an X-TOKEN token: the one-call path for apps. */
import { client as createClient, type Client, type JID } from "@xmpp/client";
import { assertTokenMaySend, isDeadEndFeatures, isStreamEncrypted, LoginNotOfferedError, loginNotOfferedMessage, useXToken } from "./x-token-mechanism.js";

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

/** A client that is online: its `jid` is the bound full JID (`alice@example.com/<resource>`). */
export type OnlineClient = Client & { jid: JID };

/** Builds a client that authenticates with X-TOKEN only, fetching a token for every attempt. */
export function xTokenClient({ service, domain, username, token, resource, authzid, allowInsecure = false, timeout }: ConnectWithTokenOptions): Client {
  const xmpp: Client = createClient({
    service,
    domain,
    resource,
    ...(timeout === undefined ? {} : { timeout }),
    credentials: async (authenticate, mechanisms) => {
      // Before the token function runs: on a stream without TLS no token is even fetched.
      assertTokenMaySend(xmpp, { allowInsecure });
      if (!mechanisms.includes("X-TOKEN")) throw new Error("the server does not offer X-TOKEN");
      const password = typeof token === "function" ? await token() : token;
      await authenticate({ username, password, authzid }, "X-TOKEN");
    },
  });
  useXToken(xmpp, { allowInsecure });
  // Features that offer nothing (a server requiring TLS, on ws://): start() rejects now, not at the
  // server's authentication timeout; stop() (or disconnect()) then closes the stream.
  xmpp.middleware.use((ctx, next) => {
    if (!isDeadEndFeatures(ctx.stanza)) return next();
    xmpp.emit("error", new LoginNotOfferedError(loginNotOfferedMessage()));
    return undefined;
  });
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
export async function connectWithToken(options: ConnectWithTokenOptions): Promise<OnlineClient> {
  await ensureWebSocket(options.service);
  const xmpp = xTokenClient(options);
  // A failed first login is not retried: the caller gets the error instead of a retry loop.
  xmpp.reconnect.stop();
  // start() rejects with the error; the same error is also emitted, which must not crash the app.
  // Whether the stream was encrypted when an error came (the socket is gone once start() rejects).
  let encryptedAtError = true;
  const swallow = () => {
    encryptedAtError = isStreamEncrypted(xmpp);
  };
  xmpp.on("error", swallow);
  try {
    await xmpp.start();
  } catch (err) {
    // A server that offered nothing may not answer our closing of the stream either: wait for it
    // half a second, not a whole step (xmpp.js's Connection reads its `timeout` when closing).
    if (err instanceof LoginNotOfferedError) (xmpp as unknown as { timeout: number }).timeout = 500;
    await xmpp.stop().catch(() => {});
    // This server's answer on a stream it will not log in without TLS: say what to change.
    const { name, condition, text } = err as { name?: string; condition?: string; text?: string };
    if (name === "StreamError" && condition === "policy-violation" && !encryptedAtError) {
      throw new LoginNotOfferedError(loginNotOfferedMessage(text), { cause: err });
    }
    throw err;
  } finally {
    xmpp.off("error", swallow);
  }
  if (options.reconnect ?? typeof options.token === "function") xmpp.reconnect.start();
  return xmpp as OnlineClient; // online: resource bound, so jid is set
}
