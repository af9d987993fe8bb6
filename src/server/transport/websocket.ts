/**
 * The WebSocket transport (RFC 7395): one XML element per message, `<open/>` and `<close/>`
 * for the stream, stanzas qualified by jabber:client.
 */
import type { WebSocket } from "ws";
import { xml, type Element } from "@xmpp/xml";
import type { Transport, XmppSession } from "../session.js";
import { NS } from "../namespaces.js";
import { FramingError, XmlFramer } from "./xml-framer.js";
import { NotWellFormedError, StrictXmlParser } from "./strict-xml.js";
import { InOrderQueue } from "./in-order-queue.js";
import { ReadGate } from "./read-gate.js";
import { outboundText, type Outbound } from "../serialized.js";

/**
 * What ws may buffer of one message beyond the element limit: a message a little too big is still
 * read and answered with the stream error policy-violation; a bigger one is refused by ws from
 * its frame header (close code 1009) before its payload is buffered.
 */
export const WEBSOCKET_PAYLOAD_SLACK = 4096;

/**
 * ws keeps the message size limit on the connection's receiver, set from the server's maxPayload
 * at the upgrade, and offers no public way to change it per connection; it is raised here once
 * the stream is authenticated, so that before authentication a connection holds no more than
 * maxStanzaBytesBeforeAuth (+ slack). Returns false if this ws version keeps it elsewhere.
 */
export function setWebSocketPayloadLimit(socket: WebSocket, bytes: number): boolean {
  const receiver = (socket as unknown as { _receiver?: { _maxPayload?: unknown } | null })._receiver;
  if (!receiver || typeof receiver._maxPayload !== "number") return false;
  receiver._maxPayload = bytes;
  return true;
}

export class WebSocketTransport implements Transport {
  readonly kind = "websocket";
  readonly canStartTls = false;
  session!: XmppSession;
  private maxBytes: number;
  private readonly xml = new StrictXmlParser("messages");
  private readonly gate = new ReadGate({
    pause: () => this.socket.pause(),
    resume: () => {
      if (!this.closed && this.socket.isPaused) this.socket.resume();
    },
  });
  // Back-pressure, as on TCP: a client flooding frames while a login is checked waits.
  private readonly queue = new InOrderQueue<Buffer | string>({
    handle: (data) => this.handle(data),
    stopped: () => this.session.isClosed,
    failed: (err) => this.session.internalError(err),
    pause: () => this.gate.hold("input"),
    resume: () => this.gate.release("input"),
  });
  private closed = false;
  /** Ends a connection whose peer does not answer our close in time. */
  private lingerTimer: NodeJS.Timeout | null = null;
  /** After each frame is handed to the kernel: reading resumes once the peer has taken enough. */
  private readonly afterSend = () => {
    if (this.socket.bufferedAmount <= this.maxOutboundBytes) this.gate.release("output");
  };
  /** Bytes given to ws so far (with bufferedAmount: how much the peer has taken). */
  private bytesSent = 0;

  constructor(
    private readonly socket: WebSocket,
    readonly remoteAddress: string,
    readonly secure: boolean,
    maxElementBytes: number,
    /** Reading stops while more than this many bytes wait to be sent to the peer. */
    private readonly maxOutboundBytes: number,
    /**
     * The client certificate's fingerprint when this server terminated the TLS of the connection
     * (then asked with CLIENT_CERTIFICATE_REQUEST); null behind a proxy or over plain ws://.
     */
    readonly clientCertificate: string | null = null,
  ) {
    this.maxBytes = maxElementBytes;
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) return this.session.streamError("bad-format", "binary frames are not XMPP");
      this.queue.push(data);
    });
    socket.on("close", () => {
      this.closed = true;
      this.gate.close();
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.session.onDisconnect();
    });
    socket.on("error", () => socket.terminate());
  }

  private async handle(data: Buffer | string): Promise<void> {
    if (data.length > this.maxBytes) return this.session.streamError("policy-violation", `element larger than ${this.maxBytes} bytes`);
    const text = data.toString();
    // RFC 7395 has no whitespace keepalives, but some clients send them anyway: ignore, like TCP.
    if (/^[ \t\r\n]*$/.test(text)) return;
    let element: Element;
    try {
      // The same framing guards as TCP (one complete element, no <! or <?, bounded size and
      // depth), then the same strict parse.
      element = this.xml.parseElement(XmlFramer.singleElement(text, this.maxBytes));
    } catch (err) {
      if (err instanceof FramingError) return this.session.streamError(err.condition, err.message);
      if (err instanceof NotWellFormedError) return this.session.streamError("not-well-formed", err.message);
      throw err;
    }
    if (element.attrs.xmlns === NS.framing && element.name === "open") return this.session.onHeader(element);
    if (element.attrs.xmlns === NS.framing && element.name === "close") return this.session.onStreamClose();
    return this.session.onElement(element);
  }

  openStream({ id, from }: { id: string; from: string }): void {
    this.send(xml("open", { xmlns: NS.framing, id, from, version: "1.0", "xml:lang": "en" }));
  }

  /** Bytes given to ws and not yet taken by the kernel. */
  get outboundBytes(): number {
    return this.socket.bufferedAmount;
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
   * error `connection-timeout` and its connection is terminated (0: never). bufferedAmount also
   * counts frame headers, so `taken` may fall by a few bytes when a frame is queued, but it grows
   * only when the kernel takes bytes.
   */
  setOutboundStallSeconds(seconds: number): void {
    this.gate.watchStall({
      seconds,
      taken: () => this.bytesSent - this.socket.bufferedAmount,
      stalled: () => {
        this.session.streamError("connection-timeout", "the client does not read what it is sent");
        this.socket.terminate();
      },
    });
  }

  send(element: Outbound): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    const text = outboundText(element);
    this.bytesSent += Buffer.byteLength(text);
    this.socket.send(text, this.afterSend);
    if (this.socket.bufferedAmount > this.maxOutboundBytes) this.gate.hold("output");
  }

  closeStream(): void {
    this.send(xml("close", { xmlns: NS.framing }));
    this.queue.clear();
    this.closed = true;
    this.gate.close();
    this.socket.close(1000);
    // Cleared when the socket closes, as it almost always does first (as on TCP).
    this.lingerTimer = setTimeout(() => this.socket.terminate(), 2000);
    this.lingerTimer.unref();
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error("STARTTLS is not part of XMPP over WebSocket"));
  }

  restart(): void {
    this.queue.clear();
  }

  setMaxElementBytes(bytes: number): void {
    this.maxBytes = bytes;
    if (!setWebSocketPayloadLimit(this.socket, bytes + WEBSOCKET_PAYLOAD_SLACK)) {
      // Fail closed: the stream keeps the pre-authentication limit (the server's maxPayload).
      this.session.internalError(new Error("cannot raise the WebSocket message limit with this version of ws"));
    }
  }
}
