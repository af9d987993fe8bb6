/**
 * X-TOKEN for Strophe.js (and so for Converse.js apps that register mechanisms): build the
 * mechanism from Strophe's own SASLMechanism base class, so this file needs no Strophe import.
 *
 *   import { Strophe } from "strophe.js";
 *   const XToken = createStropheXToken(Strophe.SASLMechanism);
 *   const connection = new Strophe.Connection(url, { mechanisms: [XToken] });
 *   connection.connect("alice@example.com", token, onStatus); // the token is the password
 */

interface StropheConnectionLike {
  authcid: string | null;
  authzid: string | null;
  domain: string | null;
  pass: unknown;
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

export function createStropheXToken(SASLMechanism: SASLMechanismClass) {
  return class SASLXToken extends SASLMechanism {
    constructor(mechname = "X-TOKEN", isClientFirst = true, priority = STROPHE_X_TOKEN_PRIORITY) {
      super(mechname, isClientFirst, priority);
    }

    override test(connection: StropheConnectionLike): boolean {
      return connection.authcid !== null && typeof connection.pass === "string" && connection.pass.includes(" ");
    }

    override onChallenge(connection: StropheConnectionLike): string {
      const { authcid, authzid, domain, pass } = connection;
      // Strophe fills authzid with the bare JID; X-TOKEN accepts empty or that, so send empty.
      const identity = authzid && authzid !== `${authcid}@${domain}` ? authzid : "";
      return utf8Binary(`${identity}\0${authcid}\0${String(pass)}`);
    }
  };
}
