/** The TCP c2s transport: plain TCP with STARTTLS, or direct TLS, framed by XmlFramer. */
import type { Socket } from "node:net";
import { TLSSocket, type SecureContext } from "node:tls";
import parse from "@xmpp/xml/lib/parse.js";
import { type Element } from "@xmpp/xml";
import { FramingError, XmlFramer, type FramerEvent } from "./xml-framer.js";
import type { Transport, XmppSession } from "./session.js";
import { NS } from "./namespaces.js";

/** Pauses reading while this many parsed elements wait for the session (back-pressure). */
const MAX_QUEUED_EVENTS = 64;

export class TcpTransport implements Transport {
  readonly kind = "tcp";
  readonly remoteAddress: string;
  secure: boolean;
  session!: XmppSession;
  private socket: Socket;
  private readonly framer: XmlFramer;
  private queue: FramerEvent[] = [];
  private draining = false;
  private ended = false;

  constructor(
    socket: Socket,
    private readonly secureContext: SecureContext | null,
    maxElementBytes: number,
    directTls: boolean,
  ) {
    this.socket = socket;
    this.secure = directTls;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    this.framer = new XmlFramer(maxElementBytes);
    this.listen(socket);
  }

  get canStartTls(): boolean {
    return this.secureContext !== null && !this.secure;
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      this.queue.push(...this.framer.push(chunk));
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      this.queue.length = 0;
      this.session.streamError(err.condition, err.message);
      return;
    }
    if (this.queue.length > MAX_QUEUED_EVENTS) this.socket.pause();
    void this.drain();
  };

  private readonly onClose = () => {
    this.ended = true;
    this.session.onDisconnect();
  };

  private listen(socket: Socket): void {
    socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("error", () => socket.destroy());
    socket.setNoDelay(true);
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.session.isClosed) {
        await this.handleSafely(this.queue.shift()!);
      }
    } finally {
      this.draining = false;
      if (!this.ended) this.socket.resume();
    }
  }

  /** A bug in handling one stream must end that stream, not the server. */
  private async handleSafely(event: FramerEvent): Promise<void> {
    try {
      await this.handle(event);
    } catch (err) {
      this.session.internalError(err);
    }
  }

  private async handle(event: FramerEvent): Promise<void> {
    if (event.kind === "close") return this.session.onStreamClose();
    let element: Element;
    try {
      // A header is parsed as an empty element; its namespace prefixes are checked by the session.
      element = parse(event.kind === "header" ? `${event.text.slice(0, -1)}/>` : event.text);
    } catch (err) {
      return this.session.streamError("not-well-formed", err instanceof Error ? err.message : undefined);
    }
    if (event.kind === "header") return this.session.onHeader(element);
    return this.session.onElement(element);
  }

  openStream({ id, from }: { id: string; from: string }): void {
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' id='${id}' from='${escapeAttr(from)}' version='1.0' xml:lang='en'>`,
    );
  }

  send(element: Element): void {
    this.write(element.toString());
  }

  private write(text: string): void {
    if (!this.ended && this.socket.writable) this.socket.write(text);
  }

  closeStream(): void {
    this.write("</stream:stream>");
    this.queue.length = 0;
    this.ended = true;
    this.socket.end();
    // A peer that never closes its side does not keep the socket open for long.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  async startTls(): Promise<void> {
    if (!this.secureContext) throw new Error("no TLS context");
    // Whatever the client sent after <starttls/> in clear text is dropped (no injection).
    this.queue.length = 0;
    this.framer.reset();
    const plain = this.socket;
    plain.removeListener("data", this.onData);
    plain.removeListener("close", this.onClose);
    const secured = new TLSSocket(plain, { isServer: true, secureContext: this.secureContext });
    this.socket = secured;
    this.listen(secured);
    await new Promise<void>((resolve, reject) => {
      secured.once("secure", resolve);
      secured.once("error", reject);
      secured.once("close", () => reject(new Error("closed during TLS handshake")));
    });
    this.secure = true;
  }

  restart(): void {
    this.queue.length = 0;
    this.framer.reset();
  }

  setMaxElementBytes(bytes: number): void {
    this.framer.maxBytes = bytes;
  }
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/'/g, "&apos;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
}
