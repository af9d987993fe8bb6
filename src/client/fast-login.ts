/**
 * Log in once with X-TOKEN, then stay logged in with FAST (XEP-0484) where the server offers it:
 * the credentials function and token storage for an @xmpp/client 0.14 client. Used by
 * connectWithToken and by the demo chat page; no Node-only imports, so it runs in browsers too.
 *
 * How xmpp.js 0.14 drives it, on a SASL2 stream that offers FAST: it tries `credentials.token`
 * (our stored FAST token) with HT-SHA-256-NONE; when there is none, or the server refuses it
 * (not-authorized, credentials-expired), it deletes it, adds `<request-token>` and goes on with
 * the mechanism we named (X-TOKEN) on the same stream. The X-TOKEN token is fetched only then
 * (`fetchToken` in the credentials, called by the mechanism), so a FAST login never asks the
 * backend. The token the server sends in `<success>` (a first one, or a rotation) is saved.
 */
import { xml, type Authenticate, type Client, type CredentialsCallback, type FastTokenData } from "@xmpp/client";
import { FastStoreError, memoryFastStore, type FastState, type FastStore } from "./fast-store.js";
import { assertTokenMaySend, useXToken, type StreamEntityLike } from "./x-token-mechanism.js";

/** A token, or a function that fetches a fresh one: tokens are single-use, reconnects need new ones. */
export type TokenSource = string | (() => string | Promise<string>);

export interface FastXTokenOptions {
  /** The account's localpart (`alice`) and domain (`example.com`). */
  username: string;
  domain: string;
  /** Where a fresh X-TOKEN comes from, fetched only when FAST cannot log in. */
  token: TokenSource;
  /** Optional authorization identity (your own bare JID, or nothing). */
  authzid?: string;
  /** Where the user-agent id and the FAST token are kept; a new memory store by default. */
  store?: FastStore;
  /** Send secrets (the X-TOKEN, a FAST login) on a stream without TLS too. Default false. */
  allowInsecure?: boolean;
  /** Sent in `<user-agent>` (XEP-0388): the server may show them in a list of the user's clients. */
  software?: string;
  device?: string;
}

/** The parts of an @xmpp/client client this module drives. */
export type FastCapableClient = StreamEntityLike & Pick<Client, "saslFactory" | "fast" | "emit">;

/** Thrown from the credentials function: the server offers neither X-TOKEN nor a usable FAST login. */
function noXToken(): Error {
  return new Error("the server does not offer X-TOKEN");
}

/** A random UUID (v4), also where crypto.randomUUID is missing (pages served over plain http to another host). */
function randomUuid(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** What hearStreamHeaderEarly changes of an xmpp.js entity (`Connection#open`). */
interface OpeningEntity {
  open(options: unknown): Promise<unknown>;
  on(event: "open", listener: (header: unknown) => void): unknown;
  off(event: "open", listener: (header: unknown) => void): unknown;
}

/**
 * xmpp.js 0.14's `open()` writes the stream header and only then listens for the server's: over
 * TLS the answer can come first. Legacy SASL hid that (the stream restart after the login opens
 * again, which the stale listener takes); with SASL2 there is no restart, so the open waits its
 * whole timeout and fails: start() rejects with TimeoutError after the client went online (direct
 * TLS), or a TimeoutError is emitted two seconds after STARTTLS (and crashes a process that has no
 * "error" listener). This listens from before the header is written.
 */
export function hearStreamHeaderEarly(entity: OpeningEntity): void {
  const open = entity.open.bind(entity);
  entity.open = (options) =>
    new Promise((resolve, reject) => {
      const heard = (header: unknown) => {
        entity.off("open", heard);
        resolve(header);
      };
      entity.on("open", heard);
      open(options).then(resolve, (err: unknown) => {
        entity.off("open", heard);
        reject(err);
      });
    });
}

export interface FastXTokenLogin {
  /** The `credentials` option for `client()`. */
  credentials: CredentialsCallback;
  /** Registers X-TOKEN on the client (bound to its stream) and points its FAST storage at the store. */
  attach(xmpp: FastCapableClient): void;
  /**
   * Resolves once the FAST token of the last login is in the store (or its save failed, which
   * xmpp.js reports as an "error" event): xmpp.js goes online without waiting for the save.
   */
  saved(): Promise<void>;
  /** The store's record for this account, as last read or written (undefined before the first login). */
  readonly state: FastState | undefined;
  store: FastStore;
}

/**
 * The login of one client: `const login = fastXTokenLogin(options); const xmpp = client({ …,
 * credentials: login.credentials }); login.attach(xmpp);`.
 */
export function fastXTokenLogin(options: FastXTokenOptions): FastXTokenLogin {
  const { username, domain, authzid, token, software, device } = options;
  const allowInsecure = options.allowInsecure === true;
  const store = options.store ?? memoryFastStore();
  const jid = `${username}@${domain}`;
  let state: FastState | undefined;

  /**
   * This account's record, read again for every login (another tab or process with the same store
   * may have rotated the token). The first time, a user-agent id is made and saved before any
   * secret is fetched: a token is bound to that id, so it must be kept before a token is asked for.
   */
  async function record(): Promise<FastState> {
    const stored = await store.load();
    if (stored && stored.jid === jid) return (state = stored);
    const fresh: FastState = { jid, userAgentId: randomUuid() };
    await store.save(fresh);
    return (state = fresh);
  }

  /** Saves under way: xmpp.js does not wait for them before it says online. */
  const saving = new Set<Promise<void>>();

  function saveToken(next: FastTokenData): Promise<void> {
    const save = storeToken(next).finally(() => saving.delete(save));
    saving.add(save);
    return save;
  }

  async function storeToken(next: FastTokenData): Promise<void> {
    const { jid: owner, userAgentId } = state ?? (await record());
    const { mechanism, token: secret, expiry } = next;
    const updated: FastState = { jid: owner, userAgentId, token: { mechanism, token: secret, expiry } };
    await store.save(updated);
    state = updated;
  }

  async function deleteToken(): Promise<void> {
    if (!state?.token) return;
    const updated: FastState = { jid: state.jid, userAgentId: state.userAgentId };
    await store.save(updated);
    state = updated;
  }

  const fetchXToken = async (): Promise<string> => (typeof token === "function" ? await token() : token);

  const credentials: CredentialsCallback = async (authenticate: Authenticate, mechanisms, fast, entity) => {
    // Before anything is read or fetched: no secret of either kind on a stream without TLS.
    assertTokenMaySend(entity, { allowInsecure });
    const { userAgentId, token: fastToken } = await record();
    const userAgent = xml("user-agent", { id: userAgentId }, software ? xml("software", {}, software) : null, device ? xml("device", {}, device) : null);
    const xTokenOffered = mechanisms.includes("X-TOKEN");
    if (fast) {
      // SASL2 with FAST: xmpp.js tries the FAST token and falls back to X-TOKEN (fetched lazily).
      const fetchToken = xTokenOffered ? fetchXToken : () => Promise.reject(noXToken());
      await authenticate({ username, authzid, token: fastToken, fetchToken } as Parameters<Authenticate>[0], "X-TOKEN", userAgent);
      return;
    }
    if (!xTokenOffered) throw noXToken();
    await authenticate({ username, password: await fetchXToken(), authzid }, "X-TOKEN", userAgent);
  };

  return {
    credentials,
    attach(xmpp) {
      useXToken(xmpp, { allowInsecure });
      hearStreamHeaderEarly(xmpp as unknown as OpeningEntity);
      // xmpp.js catches what these throw and emits it as an "error" event of the client.
      Object.assign(xmpp.fast, {
        fetchToken: async () => (await record()).token ?? null,
        saveToken,
        deleteToken,
      });
    },
    get state() {
      return state;
    },
    async saved() {
      await Promise.allSettled([...saving]);
    },
    store,
  };
}

export { FastStoreError };
