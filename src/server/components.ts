/**
 * The XEP-0114 component listener: TCP (no TLS: the protocol has none, so it listens on
 * loopback unless configured otherwise), one ComponentStream per connection, framed by the same
 * transport and XML framer as client streams.
 */
import net from "node:net";
import type { ServerConfig } from "./config.js";
import { ComponentStream } from "./component-stream.js";
import type { DiscoItems } from "./iq/index.js";
import type { Logger } from "./log.js";
import type { Router } from "./router.js";
import { TcpTransport } from "./transport/tcp.js";

export interface ComponentListener {
  readonly server: net.Server;
  /** Domains of the components connected right now. */
  liveDomains(): string[];
  /** Ends every component stream with `reason` (system-shutdown). */
  closeAll(): void;
}

export function createComponentListener(config: ServerConfig, router: Router, log: Logger, isClosing: () => boolean): ComponentListener {
  const live = new Map<string, ComponentStream>();
  const streams = new Set<ComponentStream>();
  const services = {
    secrets: config.components ?? {},
    hostedDomains: new Set(Object.keys(config.domains)),
    router,
    log,
    limits: config.limits,
    live,
    onEnd: (stream: ComponentStream) => streams.delete(stream),
  };
  const server = net.createServer((socket) => {
    const transport = new TcpTransport(socket, null, config.limits.maxStanzaBytesBeforeAuth, false, config.limits.maxOutboundBytes);
    const stream = new ComponentStream(transport, services);
    transport.session = stream;
    streams.add(stream);
    if (isClosing()) stream.streamError("system-shutdown", "the server is shutting down");
  });
  return {
    server,
    liveDomains: () => [...live.keys()],
    closeAll() {
      for (const stream of [...streams]) stream.streamError("system-shutdown", "the server is shutting down");
    },
  };
}

/** The server's disco#items lists the components connected now (through the IQ handlers' DiscoItems). */
export function listComponentsInDisco(discoItems: DiscoItems, listener: ComponentListener): void {
  discoItems.add(() => listener.liveDomains().map((jid) => ({ jid })));
}
