/**
 * X-TOKEN for Strophe.js (and so for Converse.js apps that register mechanisms): build the
 * mechanism from Strophe's own SASLMechanism base class, so this file needs no Strophe import.
 *
 *   import { Strophe } from "strophe.js";
 *   const XToken = createStropheXToken(Strophe.SASLMechanism);
 *   const connection = new Strophe.Connection(url, { mechanisms: [XToken] });
 *   connection.connect("alice@example.com", token, onStatus); // the token is the password
 *
 * The token is sent only when the connection's service is encrypted (wss://, or https:// for
 * BOSH); on ws:// the login ends with status AUTHFAIL (condition INSECURE_STREAM_CONDITION) and
 * the token stays in the page, unless `createStropheXToken(base, { allowInsecure: true })`.
 * Loopback is no exception.
 */

interface StropheConnectionLike {
  authcid: string | null;
  authzid: string | null;
  domain: string | null;
  pass: unknown;
  /** The BOSH or WebSocket URL the connection was made with. */
  service?: unknown;
  /** Strophe's own (strophe.js 5, src/connection.ts): reports a status to connect()'s callback. */
  _changeConnectStatus?(status: number, condition: string | null): void;
  disconnect?(reason?: string): void;
}

export interface StropheXTokenOptions {
  /** Send the token over ws:// (or http:// BOSH) too. Default false. */
  allowInsecure?: boolean;
}

/** The condition reported with AUTHFAIL when the token was held back on an unencrypted stream. */
export const INSECURE_STREAM_CONDITION = "x-token-insecure-stream";

/** Strophe.Status.AUTHFAIL (strophe.js src/constants.ts); a number, so this file imports no Strophe. */
const STROPHE_AUTHFAIL = 4;

/** Whether Strophe's service URL is encrypted: wss://, or https:// BOSH (relative to the page). */
export function isEncryptedService(service: unknown): boolean {
  if (typeof service !== "string") return false;
  try {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    const protocol = new URL(service, base).protocol;
    return protocol === "wss:" || protocol === "https:";
  } catch {
    return false;
  }
}

/** The parts of Strophe's `SASLMechanism` (strophe.js 5, src/sasl.ts) this mechanism relies on. */
export type SASLMechanismClass = new (name: string, isClientFirst: boolean, priority: number) => {
  mechname: string;
  isClientFirst: boolean;
  priority: number;
  test(connection: never): boolean;
  onChallenge(connection: never, challenge?: string): string | Promise<string | false>;
};

/** Strophe base64-encodes a binary string, so the UTF-8 bytes are returned one per character. */
function utf8Binary(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) out += String.fromCharCode(byte);
  return out;
}

/** X-TOKEN above PLAIN (50) and SCRAM (60..), so Strophe picks it when the server offers it. */
export const STROPHE_X_TOKEN_PRIORITY = 90;

export function createStropheXToken(SASLMechanism: SASLMechanismClass, { allowInsecure = false }: StropheXTokenOptions = {}) {
  return class SASLXToken extends SASLMechanism {
    constructor(mechname = "X-TOKEN", isClientFirst = true, priority = STROPHE_X_TOKEN_PRIORITY) {
      super(mechname, isClientFirst, priority);
    }

    override test(connection: StropheConnectionLike): boolean {
      return connection.authcid !== null && typeof connection.pass === "string" && connection.pass.includes(" ");
    }

    override onChallenge(connection: StropheConnectionLike): string {
      if (allowInsecure !== true && !isEncryptedService(connection.service)) {
        // Whatever this returns is sent, so not the token: the login fails here instead. (A test()
        // that said no would let Strophe fall back to PLAIN or legacy auth with the same password.)
        connection._changeConnectStatus?.(STROPHE_AUTHFAIL, INSECURE_STREAM_CONDITION);
        connection.disconnect?.(INSECURE_STREAM_CONDITION);
        return "";
      }
      const { authcid, authzid, domain, pass } = connection;
      // Strophe fills authzid with the bare JID; X-TOKEN accepts empty or that, so send empty.
      const identity = authzid && authzid !== `${authcid}@${domain}` ? authzid : "";
      return utf8Binary(`${identity}\0${authcid}\0${String(pass)}`);
    }
  };
}
