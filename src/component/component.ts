/**
 * The token component as a running XEP-0114 connection: @xmpp/component (its own 0.13 copies
 * of @xmpp/*) carries the stream, the handshake and the IQ plumbing; LoginTokenCommand
 * answers. Reconnects after any disconnect with exponential backoff (with jitter) until stopped.
 */
import { EventEmitter } from "node:events";
import { component as xmppComponent, type Component } from "@xmpp/component";
import { LoginTokenCommand, NS_COMMANDS, NS_DISCO_INFO, NS_DISCO_ITEMS, type ComponentLogger, type LoginTokenOptions } from "./login-token-command.js";

export interface TokenComponentOptions extends LoginTokenOptions {
  /** The XMPP server's component listener, e.g. `xmpp://127.0.0.1:5347`. */
  service: string;
  /** The shared secret of the XEP-0114 handshake (from a file or the environment, never argv). */
  secret: string;
  /** Delay before the first reconnect attempt, doubled after each failure up to `maxMs`. */
  reconnect?: { minMs?: number; maxMs?: number };
}

export interface TokenComponent extends EventEmitter {
  /** @xmpp/component's status: "online" once the handshake succeeded. */
  readonly status: string;
  /** Resolves the next time (or now, if already) the component is online. */
  online(): Promise<void>;
  /** Closes the stream, stops reconnecting. */
  stop(): Promise<void>;
}

/**
 * @xmpp/component hashes `id + secret` as "binary" (latin1) text, while XEP-0114 and servers
 * hash the secret's UTF-8 bytes: handing it the UTF-8 bytes as latin1 characters makes any
 * secret hash the same as on the server.
 */
function asLatin1Bytes(secret: string): string {
  return Buffer.from(secret, "utf8").toString("latin1");
}

/** Starts connecting at once and keeps trying; errors are logged and emitted as "error" only if someone listens. */
export function startTokenComponent(options: TokenComponentOptions): TokenComponent {
  const log: ComponentLogger = options.log ?? { info() {}, warn() {} };
  const commands = new LoginTokenCommand({ ...options, log });
  const minMs = options.reconnect?.minMs ?? 1000;
  const maxMs = options.reconnect?.maxMs ?? 60_000;
  const xmpp: Component = xmppComponent({ service: options.service, domain: options.domain, password: asLatin1Bytes(options.secret) });
  const events = new EventEmitter();
  let stopped = false;
  let failures = 0;
  let lastReported = "";

  xmpp.iqCallee.get(NS_DISCO_INFO, "query", (ctx) => commands.discoInfo(ctx.stanza.attrs.from, ctx.element));
  xmpp.iqCallee.get(NS_DISCO_ITEMS, "query", (ctx) => commands.discoItems(ctx.stanza.attrs.from, ctx.element));
  xmpp.iqCallee.set(NS_COMMANDS, "command", (ctx) => commands.execute(ctx.stanza.attrs.from, ctx.element));
  // The server's XEP-0199 pings get @xmpp/iq's service-unavailable, which answers them as well as
  // a result would (XEP-0199 4.2): the stream is alive.

  xmpp.reconnect.delay = minMs;
  xmpp.on("online", () => {
    failures = 0;
    lastReported = "";
    xmpp.reconnect.delay = minMs;
    log.info(`component: online as ${options.domain} on ${options.service}`);
    events.emit("online");
  });
  xmpp.on("disconnect", () => {
    if (stopped) return;
    // @xmpp/reconnect has already scheduled this attempt; this sets the delay of the next one.
    failures += 1;
    const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 20));
    xmpp.reconnect.delay = Math.round(base / 2 + Math.random() * (base / 2));
    if (failures === 1) log.warn(`component: disconnected from ${options.service}, reconnecting`);
    events.emit("offline");
  });
  xmpp.on("error", (err: Error & { condition?: string; code?: string }) => {
    if (stopped) return;
    const what = err.condition === "not-authorized" ? "the server refused the component secret (not-authorized)" : err.condition ?? err.code ?? err.message;
    // One line per kind of failure in a row, not one per retry.
    if (what !== lastReported) log.warn(`component: ${options.service}: ${what}`);
    lastReported = what;
    if (events.listenerCount("error") > 0) events.emit("error", err);
  });
  xmpp.start().catch(() => {
    // Already reported through "error"; @xmpp/reconnect keeps trying.
  });

  // defineProperties, not Object.assign: assign would copy the getter's value once, not the getter.
  return Object.defineProperties(events, {
    status: { get: () => xmpp.status, enumerable: true },
    online: {
      value: (): Promise<void> => {
        if (xmpp.status === "online") return Promise.resolve();
        return new Promise<void>((resolve) => events.once("online", () => resolve()));
      },
    },
    stop: {
      value: async (): Promise<void> => {
        stopped = true;
        xmpp.reconnect.stop();
        await xmpp.stop().catch(() => {});
        commands.flushLog();
      },
    },
  }) as TokenComponent;
}
