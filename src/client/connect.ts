/** Connects an @xmpp/client client with an X-TOKEN token: the one-call path for apps. */
import { client as createClient, type Client, type JID } from "@xmpp/client";
import { fastXTokenLogin, type FastXTokenLogin, type TokenSource } from "./fast-login.js";
import { FastStoreError, type FastStore } from "./fast-store.js";
import { isDeadEndFeatures, isStreamEncrypted, LoginNotOfferedError, loginNotOfferedMessage } from "./x-token-mechanism.js";

export type { TokenSource };

export interface ConnectWithTokenOptions {
  /** `xmpp://host:5222` (STARTTLS), `xmpps://host:5223`, or `ws(s)://host/xmpp-websocket`. */
  service: string;
  domain: string;
  username: string;
  /**
   * The X-TOKEN token, or a function fetching a fresh one. Where the server offers FAST, it is
   * called only when there is no stored FAST token or the server refuses it.
   */
  token: TokenSource;
  /**
   * Where the user-agent id and the FAST token are kept between logins: `memoryFastStore()`,
   * `fileFastStore(path)` (Node), `webStorageFastStore(localStorage, key)`, or your own. Default:
   * a new memory store, so the reconnects of this client use FAST, and the next process does not.
   */
  store?: FastStore;
  /** Names sent in `<user-agent>` (SASL2): the software and the device, e.g. "my-bot 1.2", "build server". */
  software?: string;
  device?: string;
  resource?: string;
  /** Optional authorization identity (your own bare JID, or nothing). */
  authzid?: string;
  /**
   * Keep xmpp.js's automatic reconnect on once online. Defaults to true when `token` is a
   * function (a reconnect calls it for a fresh token when FAST cannot log in) or when the server
   * gave a FAST token; false for a string token without FAST (a used token cannot log in again,
   * so retrying it would only fail).
   */
  reconnect?: boolean;
  /**
   * Send the token (and FAST logins) on a stream without TLS too: plain TCP when the server offers no STARTTLS
   * (or someone removed it), or ws://. Default false: such a login fails with
   * InsecureStreamError before the token is fetched or sent. Loopback is no exception.
   */
  allowInsecure?: boolean;
  /** Milliseconds each step (connect, stream open, each reply) may take; xmpp.js's default is 2000. */
  timeout?: number;
}

/** A client that is online: its `jid` is the bound full JID (`alice@example.com/<resource>`). */
export type OnlineClient = Client & { jid: JID };

/** The login (and its FAST state) of each client xTokenClient built. */
const loginOf = new WeakMap<Client, FastXTokenLogin>();

/**
 * Builds a client that logs in with X-TOKEN, or with FAST where the server offers it and a FAST
 * token is stored (fetching an X-TOKEN only when there is none or it is refused).
 */
export function xTokenClient({ service, domain, username, token, resource, authzid, allowInsecure = false, timeout, store, software, device }: ConnectWithTokenOptions): Client {
  /** Whether this connection got as far as a login attempt (the credentials function ran). */
  let triedLogin = false;
  const login = fastXTokenLogin({ username, domain, token, authzid, allowInsecure, store, software, device });
  const xmpp: Client = createClient({
    service,
    domain,
    resource,
    // Known before login, so xmpp.js sends it as the stream's `from` on a secure stream: some
    // servers (ejabberd) offer SASL2 and FAST only to a client that says who it is.
    username,
    ...(timeout === undefined ? {} : { timeout }),
    credentials: (...args) => {
      triedLogin = true;
      return login.credentials(...args);
    },
  });
  login.attach(xmpp);
  loginOf.set(xmpp, login);
  // stop() ends the automatic reconnect too: xmpp.js 0.14's stop() leaves the reconnect plugin
  // listening for "disconnect", and on the loaded test machine stopped clients with reconnect on
  // were seen connecting again (then failing with an unhandled TimeoutError). A stopped client
  // stays stopped; `xmpp.reconnect.start()` turns it on again before another start().
  const stop = xmpp.stop.bind(xmpp);
  xmpp.stop = () => {
    xmpp.reconnect.stop();
    return stop();
  };
  // Features that offer nothing (a server requiring TLS, on ws://): start() rejects now, not at the
  // server's authentication timeout; stop() (or disconnect()) then closes the stream.
  // Only before any login on this connection: after a SASL2 login with Bind 2 the features are
  // rightly empty (and may come before xmpp.js has finished reading the <success> that bound us).
  xmpp.on("status", (status: string) => {
    if (status === "connecting") triedLogin = false;
  });
  xmpp.middleware.use((ctx, next) => {
    if (triedLogin || !isDeadEndFeatures(ctx.stanza)) return next();
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
 * stream without TLS (unless `allowInsecure`), FastStoreError when the store cannot be read or
 * written (before any token is fetched when it cannot be read), or the connection error.
 */
export async function connectWithToken(options: ConnectWithTokenOptions): Promise<OnlineClient> {
  await ensureWebSocket(options.service);
  const xmpp = xTokenClient(options);
  // A failed first login is not retried: the caller gets the error instead of a retry loop.
  xmpp.reconnect.stop();
  // start() rejects with the error; the same error is also emitted, which must not crash the app.
  // Whether the stream was encrypted when an error came (the socket is gone once start() rejects).
  let encryptedAtError = true;
  // A FAST token the server sent but the store could not keep: reported once the login is over.
  let storeError: FastStoreError | undefined;
  const swallow = (err: unknown) => {
    encryptedAtError = isStreamEncrypted(xmpp);
    if (err instanceof FastStoreError) storeError ??= err;
  };
  xmpp.on("error", swallow);
  try {
    await xmpp.start();
    await loginOf.get(xmpp)?.saved(); // the FAST token is kept before the caller may stop
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
  if (storeError) {
    // Online, but the next login could not use FAST: say so now rather than at the next reconnect.
    await xmpp.stop().catch(() => {});
    throw storeError;
  }
  const hasFastToken = loginOf.get(xmpp)?.state?.token !== undefined;
  if (options.reconnect ?? (typeof options.token === "function" || hasFastToken)) xmpp.reconnect.start();
  return xmpp as OnlineClient; // online: resource bound, so jid is set
}
