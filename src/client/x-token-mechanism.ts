/**
 * X-TOKEN for @xmpp/client (xmpp.js) and any `saslmechanisms`-style factory: a client-first
 * mechanism whose one message is `authzid NUL username NUL token`. No Node-only imports, so
 * it runs in browser bundles too.
 *
 * A token is a bearer credential: it is only sent on an encrypted stream (TLS: xmpps://, after
 * STARTTLS, wss://), unless the caller says `allowInsecure: true`. A man-in-the-middle who strips
 * `<starttls/>` from the server's features then gets nothing. There is no loopback exemption
 * (xmpp.js calls ws://localhost "secure"; we do not): development over ws:// or without TLS
 * says so explicitly.
 */

export interface XTokenCredentials {
  username: string;
  /** The token; xmpp.js passes it as `password`. Empty or absent when `fetchToken` gives it. */
  password?: string;
  /** Optional authorization identity: empty, or the user's own bare JID. */
  authzid?: string;
  /**
   * Fetches the token when `password` is empty, only once the mechanism runs (after the stream
   * check): a SASL2 login tries FAST first and needs a fresh token only when FAST is refused.
   */
  fetchToken?: () => string | Promise<string>;
}

export interface XTokenClientOptions {
  /**
   * Send the token on a stream without TLS too (development over ws:// or plain TCP). Default
   * false: on such a stream the login fails with InsecureStreamError and the token stays here.
   */
  allowInsecure?: boolean;
}

/** The login was stopped before the token was sent, because the stream is not encrypted. */
export class InsecureStreamError extends Error {
  override readonly name = "InsecureStreamError";
  /** Like a SASL error's condition, for code that reads `err.condition`. */
  readonly condition = "encryption-required";
}

/**
 * The server offers no way to log in on this stream: no STARTTLS, no SASL mechanism (or it closed
 * the stream with `policy-violation` instead). What a server that requires TLS answers on a stream
 * without it, such as ws:// to a server that does not count it as TLS-protected.
 */
export class LoginNotOfferedError extends Error {
  override readonly name = "LoginNotOfferedError";
  readonly condition = "encryption-required";
}

/** The message of a LoginNotOfferedError, with the server's own words when it sent some. */
export function loginNotOfferedMessage(serverText?: string): string {
  return (
    "the server offers no way to log in on this stream (no STARTTLS, no SASL mechanism)" +
    (serverText ? `: "${serverText}"` : "") +
    ". It requires TLS and this stream has none: use wss:// or xmpp:// (STARTTLS) or xmpps://. For development over ws:// " +
    "on loopback, the server must count it as secure (loopbackWebSocketIsSecure; x-token serve --dev sets it) and this " +
    "client must pass allowInsecure: true"
  );
}

const NS_STREAMS = "http://etherx.jabber.org/streams";
/** Features that lead somewhere: STARTTLS, SASL, SASL2, resource binding. */
const WAYS_ON = [
  ["starttls", "urn:ietf:params:xml:ns:xmpp-tls"],
  ["mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"],
  ["authentication", "urn:xmpp:sasl:2"],
  ["bind", "urn:ietf:params:xml:ns:xmpp-bind"],
] as const;

/** What this module reads of an element (`@xmpp/xml`'s Element). */
export interface ElementLike {
  is(name: string, xmlns?: string): boolean;
  getChild(name: string, xmlns?: string): unknown;
}

/** Stream features that offer nothing a client can go on with: it would wait for the server's timeout. */
export function isDeadEndFeatures(element: ElementLike): boolean {
  return element.is("features", NS_STREAMS) && WAYS_ON.every(([name, xmlns]) => !element.getChild(name, xmlns));
}

/** What this module reads of an xmpp.js entity (`Connection`): its current socket. */
export interface StreamEntityLike {
  socket?: { secure?: unknown; url?: unknown } | null;
}

/**
 * Whether an xmpp.js entity's stream is encrypted: a TLS socket (xmpps://, or TCP after STARTTLS,
 * which swaps in @xmpp/tls's socket) or a wss:// WebSocket. @xmpp/websocket marks ws:// to
 * localhost as `secure` too, so for WebSockets the URL decides, not that flag.
 */
export function isStreamEncrypted(entity: StreamEntityLike | null | undefined): boolean {
  const socket = entity?.socket;
  if (!socket || socket.secure !== true) return false;
  if (typeof socket.url === "string") return /^wss:/i.test(socket.url);
  return true;
}

/** Throws InsecureStreamError unless the stream is encrypted or the caller allowed otherwise. */
export function assertTokenMaySend(entity: StreamEntityLike | null | undefined, { allowInsecure = false }: XTokenClientOptions = {}): void {
  if (allowInsecure === true || isStreamEncrypted(entity)) return;
  throw new InsecureStreamError(
    "X-TOKEN: the stream is not encrypted (STARTTLS missing or removed on the way, or ws://), so the token was not sent; " +
      "use TLS (xmpps://, STARTTLS, wss://) or pass allowInsecure: true for development",
  );
}

/**
 * The mechanism itself. Its stream check is bound to a client by `useXToken(client)` (or
 * `xTokenMechanismFor`); the bare class has no stream to look at, so it refuses to send a token.
 */
export class XTokenMechanism {
  // saslmechanisms reads `name` from the prototype, so these are prototype properties (below).
  declare readonly name: "X-TOKEN";
  declare readonly clientFirst: true;

  /** Throws unless the token may be sent now; bound to a client's stream by xTokenMechanismFor. */
  protected checkStream(): void {
    throw new InsecureStreamError("X-TOKEN: register the mechanism with useXToken(client), so it can check that the stream is encrypted");
  }

  /** The message; a promise of it when the token is fetched (`fetchToken` and no `password`). */
  response(credentials: XTokenCredentials & { password: string }): string;
  response(credentials: XTokenCredentials): string | Promise<string>;
  response(credentials: XTokenCredentials): string | Promise<string> {
    this.checkStream();
    if (!credentials.username) throw new Error("X-TOKEN: username is required");
    const { fetchToken } = credentials;
    if (!credentials.password && fetchToken) return (async () => message({ ...credentials, password: await fetchToken() }))();
    return message(credentials);
  }

  challenge(): void {
    // X-TOKEN has no server challenges beyond the empty one for a missing initial response.
  }
}
/** The mechanism's one message: `authzid NUL username NUL token`. */
function message({ authzid, username, password }: XTokenCredentials): string {
  if (!password) throw new Error("X-TOKEN: a token is required (pass it as password)");
  return `${authzid ?? ""}\0${username}\0${password}`;
}
Object.defineProperty(XTokenMechanism.prototype, "name", { value: "X-TOKEN" });
Object.defineProperty(XTokenMechanism.prototype, "clientFirst", { value: true });

/** The mechanism class for one client: it sends the token only on that client's encrypted stream. */
export function xTokenMechanismFor(entity: StreamEntityLike | null, options: XTokenClientOptions = {}): typeof XTokenMechanism {
  const allowInsecure = options.allowInsecure === true;
  return class ClientXTokenMechanism extends XTokenMechanism {
    protected override checkStream(): void {
      assertTokenMaySend(entity, { allowInsecure });
    }
  };
}

/** Registers X-TOKEN on an @xmpp/client client: `useXToken(client)`, or `useXToken(client, { allowInsecure: true })`. */
export function useXToken(client: StreamEntityLike & { saslFactory: { use(mechanism: unknown): unknown } }, options: XTokenClientOptions = {}): void {
  client.saslFactory.use(xTokenMechanismFor(client, options));
}
