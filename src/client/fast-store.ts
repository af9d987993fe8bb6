/**
 * Where a client keeps what lets it log in again without the backend: its user-agent id and the
 * FAST token (XEP-0484) the server gave it. Pluggable: memory (the default), Web Storage
 * (localStorage in a browser) here, a file for Node in file-store.ts. No Node-only imports, so it
 * runs in browser bundles too.
 *
 * The record is bound to one account (`jid`): a record of another account is never used, so one
 * store shared by mistake cannot send bob's token as alice's. Nothing here logs or prints a token,
 * and no error message quotes the stored text.
 */

/** A FAST token as xmpp.js hands it over (`fast.saveToken`) and reads it back (`fast.fetchToken`). */
export interface FastToken {
  /** The HT-* mechanism the token is bound to, e.g. `HT-SHA-256-NONE`. */
  mechanism: string;
  token: string;
  /** XEP-0082 date-time after which the server refuses it. */
  expiry: string;
}

/** What a store keeps for one client (one device, one app install). */
export interface FastState {
  /** The bare JID the record belongs to (`alice@example.com`). */
  jid: string;
  /**
   * The client's user-agent id (XEP-0388 `<user-agent id=…>`): the server binds FAST tokens to it,
   * so it must stay the same across restarts of the app. Made once, kept with the token.
   */
  userAgentId: string;
  /** The current FAST token, when the server gave one. */
  token?: FastToken;
}

/** The storage a FAST-aware login reads and writes. Each call may be synchronous or return a promise. */
export interface FastStore {
  /** The stored record; undefined when there is none yet. Throws FastStoreError when it cannot be read. */
  load(): Promise<FastState | undefined> | FastState | undefined;
  /** Replaces the record. Throws FastStoreError when it cannot be written. */
  save(state: FastState): Promise<void> | void;
  /** Forgets the record (signing out). */
  clear(): Promise<void> | void;
}

/** The token store could not be read or written, or holds something that is not a record of ours. */
export class FastStoreError extends Error {
  override readonly name = "FastStoreError";
}

/** Bounds on what a record may hold: a store is input too (a file anyone with access may edit). */
const LIMITS = { jid: 3071, userAgentId: 256, mechanism: 20, token: 4096, expiry: 64 };
const MECHANISM = /^[A-Z0-9_-]{1,20}$/;

function boundedString(value: unknown, max: number): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

/** The record in `value` if it has the shape of one, else undefined. */
export function asFastState(value: unknown): FastState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { jid, userAgentId, token } = value as Record<string, unknown>;
  if (!boundedString(jid, LIMITS.jid) || !boundedString(userAgentId, LIMITS.userAgentId)) return undefined;
  if (token === undefined) return { jid, userAgentId };
  if (typeof token !== "object" || token === null) return undefined;
  const { mechanism, token: secret, expiry } = token as Record<string, unknown>;
  if (!boundedString(mechanism, LIMITS.mechanism) || !MECHANISM.test(mechanism)) return undefined;
  if (!boundedString(secret, LIMITS.token) || !boundedString(expiry, LIMITS.expiry) || Number.isNaN(Date.parse(expiry))) return undefined;
  return { jid, userAgentId, token: { mechanism, token: secret, expiry } };
}

/** The record as the text a file or Web Storage keeps (JSON with a format marker). */
export function serializeFastState(state: FastState): string {
  const checked = asFastState(state);
  if (!checked) throw new FastStoreError("not a FAST record: jid, userAgentId and the token's mechanism, token and expiry must be non-empty and bounded");
  return `${JSON.stringify({ format: FORMAT, ...checked })}\n`;
}

const FORMAT = "xmpp-x-token/fast-state@1";

/**
 * The record in a stored text. Throws FastStoreError (naming `where`, never quoting the text) when
 * the text is not one: a corrupted or foreign file is reported, not overwritten.
 */
export function parseFastState(text: string, where: string): FastState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FastStoreError(`${where} is not a FAST token record (not JSON); delete it to log in with a fresh token`);
  }
  const state = (value as { format?: unknown } | null)?.format === FORMAT ? asFastState(value) : undefined;
  if (!state) throw new FastStoreError(`${where} is not a FAST token record of this client (format ${FORMAT}); delete it to log in with a fresh token`);
  return state;
}

/** A store in this process's memory: reconnects of one client reuse its token; gone when the process ends. */
export function memoryFastStore(initial?: FastState): FastStore {
  let state = initial && asFastState(initial);
  return {
    load: () => (state ? { ...state } : undefined),
    save(next) {
      const checked = asFastState(next);
      if (!checked) throw new FastStoreError("not a FAST record");
      state = checked;
    },
    clear() {
      state = undefined;
    },
  };
}

/** What webStorageFastStore uses of `localStorage` / `sessionStorage`. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * A store in Web Storage under `key` (`webStorageFastStore(localStorage, "chat.fast.alice@example.com")`):
 * survives reloads and browser restarts. Anything running on the page's origin can read it, as it
 * can read a session cookie that is not HttpOnly: keep the page free of injected scripts (CSP).
 */
export function webStorageFastStore(storage: StorageLike, key: string): FastStore {
  const where = `Web Storage item ${JSON.stringify(key)}`;
  return {
    load() {
      const text = storage.getItem(key);
      return text === null ? undefined : parseFastState(text, where);
    },
    save(state) {
      try {
        storage.setItem(key, serializeFastState(state));
      } catch (err) {
        if (err instanceof FastStoreError) throw err;
        throw new FastStoreError(`cannot write ${where} (storage full or disabled)`, { cause: err });
      }
    },
    clear() {
      storage.removeItem(key);
    },
  };
}
