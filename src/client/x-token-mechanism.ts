/**
 * X-TOKEN for @xmpp/client (xmpp.js) and any `saslmechanisms`-style factory: a client-first
 * mechanism whose one message is `authzid NUL username NUL token`. No Node-only imports, so
 * it runs in browser bundles too.
 */

export interface XTokenCredentials {
  username: string;
  /** The token; xmpp.js passes it as `password`. */
  password: string;
  /** Optional authorization identity: empty, or the user's own bare JID. */
  authzid?: string;
}

export class XTokenMechanism {
  // saslmechanisms reads `name` from the prototype, so these are prototype properties (below).
  declare readonly name: "X-TOKEN";
  declare readonly clientFirst: true;

  response(credentials: XTokenCredentials): string {
    if (!credentials.username) throw new Error("X-TOKEN: username is required");
    if (!credentials.password) throw new Error("X-TOKEN: a token is required (pass it as password)");
    return `${credentials.authzid ?? ""}\0${credentials.username}\0${credentials.password}`;
  }

  challenge(): void {
    // X-TOKEN has no server challenges beyond the empty one for a missing initial response.
  }
}
Object.defineProperty(XTokenMechanism.prototype, "name", { value: "X-TOKEN" });
Object.defineProperty(XTokenMechanism.prototype, "clientFirst", { value: true });

/** Registers X-TOKEN on an @xmpp/client client: `useXToken(client)`. */
export function useXToken(client: { saslFactory: { use(mechanism: unknown): unknown } }): void {
  client.saslFactory.use(XTokenMechanism);
}
