/**
 * TLS session resumption for STARTTLS and direct TLS. A reconnecting client (a reconnect storm
 * after a network drop) presents the TLS 1.3 session ticket it was given and skips the
 * certificate signature. Tickets are encrypted with a random key that is replaced every
 * TICKET_KEY_SECONDS, so a key that leaks later cannot decrypt older sessions; a ticket issued
 * under the previous key falls back to a full handshake. Keys live in memory only: after a
 * server restart every client does one full handshake.
 *
 * The certificate and key can be replaced while running (`replace`, a configuration reload): new
 * STARTTLS connections and new direct-TLS handshakes get the new certificate; connections already
 * encrypted keep theirs.
 */
import { randomBytes } from "node:crypto";
import tls, { type SecureContext } from "node:tls";
import { CLIENT_CERTIFICATE_REQUEST } from "./tcp.js";

/**
 * OpenSSL refuses to resume a session on a server that asks for client certificates unless the
 * context names itself (SSL_R_SESSION_ID_CONTEXT_UNINITIALIZED, alert "internal error"): the
 * STARTTLS contexts get this name (tls.createServer gives the direct-TLS one its own).
 */
const SESSION_ID_CONTEXT = "x-token-c2s";

/** How long one ticket key is used, and how long a ticket is valid. */
export const TICKET_KEY_SECONDS = 3600;

export class TlsTickets {
  private current: SecureContext;
  private readonly servers: tls.Server[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private pem: { cert: string; key: string }) {
    this.current = this.newContext();
    this.timer = setInterval(() => this.rotate(), TICKET_KEY_SECONDS * 1000);
    this.timer.unref();
  }

  /** The context STARTTLS upgrades use now (its ticket key is the current one). */
  get context(): SecureContext {
    return this.current;
  }

  /** A direct-TLS server that issues and accepts tickets under the same rotation. */
  createServer(onSecureConnection: (socket: tls.TLSSocket) => void): tls.Server {
    const server = tls.createServer({ ...this.pem, sessionTimeout: TICKET_KEY_SECONDS, ticketKeys: randomBytes(48), ...CLIENT_CERTIFICATE_REQUEST }, onSecureConnection);
    this.servers.push(server);
    return server;
  }

  /** A new ticket key everywhere; tickets under the old one get a full handshake. */
  rotate(): void {
    this.current = this.newContext();
    for (const server of this.servers) server.setTicketKeys(randomBytes(48));
  }

  /**
   * Serves another certificate and key from now on: STARTTLS on connections accepted from now
   * on, and every new direct-TLS handshake. Tickets start over under fresh keys (a session
   * resumed under the old certificate is not carried over). A pair Node cannot use throws before
   * anything changes.
   */
  replace(pem: { cert: string; key: string }): void {
    const next = tls.createSecureContext({ ...pem, sessionTimeout: TICKET_KEY_SECONDS, ticketKeys: randomBytes(48), sessionIdContext: SESSION_ID_CONTEXT } as tls.SecureContextOptions);
    this.pem = { cert: pem.cert, key: pem.key };
    this.current = next;
    for (const server of this.servers) server.setSecureContext({ ...this.pem, sessionTimeout: TICKET_KEY_SECONDS, ticketKeys: randomBytes(48) });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private newContext(): SecureContext {
    return tls.createSecureContext({ ...this.pem, sessionTimeout: TICKET_KEY_SECONDS, ticketKeys: randomBytes(48), sessionIdContext: SESSION_ID_CONTEXT } as tls.SecureContextOptions);
  }
}
