/** The TCP c2s transport: plain TCP with STARTTLS, or direct TLS, framed by XmlFramer. */
import type { Socket } from "node:net";
import { TLSSocket, type SecureContext } from "node:tls";
import { type Element } from "@xmpp/xml";
import { FramingError, XmlFramer, type FramerEvent } from "./xml-framer.js";
import { NotWellFormedError, StrictXmlParser } from "./strict-xml.js";
import type { StreamHandler, Transport } from "../session.js";
import { NS } from "../namespaces.js";
import { InOrderQueue } from "./in-order-queue.js";
import { ReadGate } from "./read-gate.js";
import { outboundText, type Outbound } from "../serialized.js";
import { certificateFingerprint } from "../../core/x509/certificate.js";

/**
 * TLS asks every client for a certificate and accepts any chain (these are self-signed per
 * device, as XEP-0257 and mod_client_certs allow); a client without one is served as before.
 * Trust comes from the certificate being registered (SASL EXTERNAL), never from its issuer.
 */
export const CLIENT_CERTIFICATE_REQUEST = { requestCert: true, rejectUnauthorized: false } as const;

/** The fingerprint of the certificate the peer proved it holds in the handshake, or null. */
export function peerCertificateFingerprint(socket: TLSSocket): string | null {
  const certificate = socket.getPeerX509Certificate();
  return certificate ? certificateFingerprint(certificate.raw) : null;
}

export class TcpTransport implements Transport {
  readonly kind = "tcp";
  readonly remoteAddress: string;
  secure: boolean;
  /** The client certificate's fingerprint once TLS is up (CLIENT_CERTIFICATE_REQUEST), or null. */
  clientCertificate: string | null = null;
  /** A client session, or a component's stream on the component listener. */
  session!: StreamHandler;
  private socket: Socket;
  private readonly framer: XmlFramer;
  /** A new one per stream (restart): stanzas inherit the current header's namespaces. */
  private xml = new StrictXmlParser("stream");
  private readonly gate = new ReadGate({
    pause: () => this.socket.pause(),
    resume: () => {
      if (!this.ended) this.socket.resume();
    },
  });
  private readonly queue = new InOrderQueue<FramerEvent>({
    handle: (event) => this.handle(event),
    stopped: () => this.session.isClosed,
    failed: (err) => this.session.internalError(err),
    pause: () => this.gate.hold("input"),
    resume: () => this.gate.release("input"),
  });
  private ended = false;

  constructor(
    socket: Socket,
    private readonly secureContext: SecureContext | null,
    maxElementBytes: number,
    directTls: boolean,
    /** Reading stops while more than this many bytes wait to be sent to the peer. */
    private readonly maxOutboundBytes: number,
  ) {
    this.socket = socket;
    this.secure = directTls;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    this.framer = new XmlFramer(maxElementBytes);
    if (directTls && socket instanceof TLSSocket) this.clientCertificate = peerCertificateFingerprint(socket);
    this.listen(socket);
  }

  get canStartTls(): boolean {
    return this.secureContext !== null && !this.secure;
  }

  private readonly onData = (chunk: Buffer) => {
    let events: FramerEvent[];
    try {
      events = this.framer.push(chunk);
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      this.queue.clear();
      this.session.streamError(err.condition, err.message);
      return;
    }
    this.queue.push(...events);
  };

  /** The socket's write buffer is empty again: the peer reads, so we read from it again. */
  private readonly onDrain = () => this.gate.release("output");

  private readonly onClose = () => {
    this.ended = true;
    this.gate.close();
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.session.onDisconnect();
  };
  /** Destroys a socket whose peer does not close its side after our close. */
  private lingerTimer: NodeJS.Timeout | null = null;

  private listen(socket: Socket): void {
    socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("drain", this.onDrain);
    socket.on("error", () => socket.destroy());
    socket.setNoDelay(true);
  }

  private async handle(event: FramerEvent): Promise<void> {
    if (event.kind === "close") return this.session.onStreamClose();
    let element: Element;
    try {
      // A header is parsed as an element without children; which namespaces it binds is the session's check.
      element = event.kind === "header" ? this.xml.parseHeader(event.text) : this.xml.parseElement(event.text);
    } catch (err) {
      if (!(err instanceof NotWellFormedError)) throw err;
      return this.session.streamError("not-well-formed", err.message);
    }
    if (event.kind === "header") return this.session.onHeader(element);
    return this.session.onElement(element);
  }

  /** Our stream header: jabber:client with version 1.0, or (XEP-0114) jabber:component:accept without a version. */
  openStream({ id, from, namespace = NS.client, version = "1.0" }: { id: string; from: string; namespace?: string; version?: string | null }): void {
    const versionAttr = version === null ? "" : ` version='${version}'`;
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='${namespace}' xmlns:stream='${NS.stream}' id='${id}' from='${escapeAttr(from)}'${versionAttr} xml:lang='en'>`,
    );
  }

  send(element: Outbound): void {
    this.write(outboundText(element));
  }

  /** Bytes written to the connection and not yet taken by the kernel (TLS: before encryption). */
  get outboundBytes(): number {
    return this.socket.writableLength;
  }

  /** Reading is paused because the peer does not take what is sent to it. */
  get outboundPaused(): boolean {
    return this.gate.holds("output");
  }

  /** Resolves once reading is no longer paused for the outbound queue (it drained), or the connection is gone. */
  drained(): Promise<void> {
    return this.gate.whenFree("output");
  }

  /**
   * While paused for its outbound queue, a peer that takes no byte for `seconds` is sent the stream
   * error `connection-timeout` and its connection is destroyed (0: never).
   */
  setOutboundStallSeconds(seconds: number): void {
    this.gate.watchStall({
      seconds,
      taken: () => this.bytesWritten - this.socket.writableLength,
      stalled: () => {
        this.session.streamError("connection-timeout", "the client does not read what it is sent");
        this.socket.destroy();
      },
    });
  }

  /**
   * What one turn of the event loop writes goes out in one system call: the socket is corked at
   * the turn's first write and uncorked after it (a stream header and its features, for one, are
   * two writes). writableLength counts corked bytes, so the bound below holds all the same.
   */
  private corked: Socket | null = null;
  private readonly uncork = () => {
    this.corked?.uncork();
    this.corked = null;
  };

  /** Bytes handed to the socket so far (with writableLength: how much the peer has taken). */
  private bytesWritten = 0;

  private write(text: string): void {
    if (this.ended || !this.socket.writable) return;
    if (this.corked === null) {
      // The socket itself is remembered: STARTTLS replaces this.socket before the turn ends.
      this.corked = this.socket;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    // As bytes, so that writableLength counts bytes, not UTF-16 units.
    const bytes = Buffer.from(text);
    this.bytesWritten += bytes.length;
    this.socket.write(bytes);
    // Paused only when the socket will say it drained ('drain' follows a write() that returned
    // false, past its 16 KiB high-water mark): a smaller bound works as that mark.
    if (this.socket.writableLength > this.maxOutboundBytes && this.socket.writableNeedDrain) this.gate.hold("output");
  }

  closeStream(): void {
    this.write("</stream:stream>");
    this.queue.clear();
    this.ended = true;
    this.gate.close();
    this.socket.end();
    // A peer that never closes its side does not keep the socket open for long. Cleared when the
    // socket closes, as it almost always does first: no timer per finished login left to fire.
    this.lingerTimer = setTimeout(() => this.socket.destroy(), 2000);
    this.lingerTimer.unref();
  }

  async startTls(): Promise<void> {
    if (!this.secureContext) throw new Error("no TLS context");
    // Whatever the client sent after <starttls/> in clear text is dropped (no injection).
    this.queue.clear();
    this.framer.reset();
    this.xml = new StrictXmlParser("stream");
    const plain = this.socket;
    plain.removeListener("data", this.onData);
    plain.removeListener("close", this.onClose);
    plain.removeListener("drain", this.onDrain);
    const secured = new TLSSocket(plain, { isServer: true, secureContext: this.secureContext, ...CLIENT_CERTIFICATE_REQUEST });
    this.socket = secured;
    this.listen(secured);
    if (this.gate.paused) secured.pause();
    await new Promise<void>((resolve, reject) => {
      secured.once("secure", resolve);
      secured.once("error", reject);
      secured.once("close", () => reject(new Error("closed during TLS handshake")));
    });
    this.secure = true;
    this.clientCertificate = peerCertificateFingerprint(secured);
  }

  restart(): void {
    this.queue.clear();
    // The same bytes go on: a client that leaves instead of restarting closes its old header, and
    // our answer, </stream:stream> (Session.end), closes ours, which its parser still reads.
    this.framer.replaceStream();
    this.xml = new StrictXmlParser("stream");
  }

  setMaxElementBytes(bytes: number): void {
    this.framer.maxBytes = bytes;
  }
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/'/g, "&apos;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
}
