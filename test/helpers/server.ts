/** Starts a real server on 127.0.0.1 with ephemeral ports, two domains and a self-signed cert. */
import net from "node:net";
import { WebSocket } from "ws";
import tls from "node:tls";
import { randomBytes } from "node:crypto";
import { startServer, type RunningServer, type StartOptions } from "../../src/server/index.js";
import type { AppConfig, LimitsConfig } from "../../src/app/config/types.js";
import { DEFAULT_LIMITS as SHIPPED_LIMITS } from "../../src/app/config/load.js";
import { mintToken } from "../../src/core/token/mint.js";
import type { TokenKey } from "../../src/core/token/keys.js";
import { base32Encode } from "../../src/core/otp/base32.js";
import { readFile } from "node:fs/promises";
import type { PemPair } from "../../src/app/tls/self-signed.js";
import type { Logger } from "../../src/server/log.js";
import type { LoginPolicy } from "../../src/auth/policy/login-limiter.js";
import type { Storage } from "../../src/core/records/storage.js";

export const DOMAIN = "example.test";
export const OTHER_DOMAIN = "other.test";

export function freshKey(): TokenKey {
  return { tokenSecret: base32Encode(randomBytes(32)), otpSeed: base32Encode(randomBytes(20)) };
}

/**
 * The committed test certificate (test/fixtures/tls): `npm test` trusts it through
 * NODE_EXTRA_CA_CERTS, so clients check it like a real one.
 */
export async function testCertificate(): Promise<PemPair> {
  const dir = new URL("../fixtures/tls/", import.meta.url);
  const [cert, key] = await Promise.all([readFile(new URL("cert.pem", dir), "utf8"), readFile(new URL("key.pem", dir), "utf8")]);
  return { cert, key };
}

/** The shipped defaults, with rate limits out of the way of tests that fail on purpose. */
export const DEFAULT_LIMITS: LimitsConfig = {
  ...SHIPPED_LIMITS,
  maxAuthFailuresPerIpPerMinute: 1000,
  maxAuthFailuresPerJidPerMinute: 1000,
  // Tests read failure lines one by one from one address.
  maxFailureLinesPerIpPerMinute: 1000,
};

export interface TestServer {
  server: RunningServer;
  /** The main hosted domain (DOMAIN); OTHER_DOMAIN is hosted too, with its own keys. */
  domain: string;
  config: AppConfig;
  keys: Record<string, TokenKey[]>;
  caCert: string;
  /** Every line the server logged, as `info ...` / `warn ...` (for the failed-login line). */
  logLines: string[];
  mint(localpart: string, options?: { domain?: string; now?: number }): string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  limits?: Partial<LimitsConfig>;
  requireTls?: boolean;
  allowPlainWithoutTls?: boolean;
  tls?: boolean;
  disabledUsers?: string[];
  directTls?: boolean;
  /** Both domains share one key list (to show the JID, not the key, keeps them apart). */
  sharedKeys?: boolean;
  /** A login policy instead of the default LoginLimiter. */
  loginPolicy?: LoginPolicy;
  /** Reverse proxies whose forwarded headers are believed (default none). */
  trustedProxies?: string[];
  /** Count a loopback WebSocket without forwarded headers as TLS-protected (default false, as shipped). */
  loopbackWebSocketIsSecure?: boolean;
  /** Who sees a user's presence; the server's default (roster contacts) when absent. */
  presenceBroadcast?: "roster" | "domain";
  /** XEP-0114 components to host (domain -> secret); the component listener then gets a free port. */
  components?: Record<string, string>;
  /** Bind to these ports instead of free ones, and reuse these keys (a restart of the same server). */
  ports?: { c2s?: number; component?: number };
  keys?: Record<string, TokenKey[]>;
  /** What outlives a login (SQLite in a temp dir, a failing engine); the memory engine when absent. */
  storage?: Storage;
  /** Any other start option (a revocation endpoint, a bus, metrics, a clock). */
  start?: Omit<StartOptions, "log" | "storage" | "loginPolicy">;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const pem = await testCertificate();
  const mainKeys = [freshKey()];
  const keys: Record<string, TokenKey[]> = options.keys ?? { [DOMAIN]: mainKeys, [OTHER_DOMAIN]: options.sharedKeys ? mainKeys : [freshKey()] };
  const config: AppConfig = {
    domains: {
      [DOMAIN]: { keys: keys[DOMAIN]!, window: 1, nonceDigits: 32, disabledUsers: options.disabledUsers ?? [] },
      [OTHER_DOMAIN]: { keys: keys[OTHER_DOMAIN]!, window: 1, nonceDigits: 32, disabledUsers: [] },
    },
    listeners: {
      host: "127.0.0.1",
      c2sPort: options.ports?.c2s ?? 0,
      directTlsPort: options.directTls ? 0 : null,
      httpPort: 0,
      websocketPath: "/xmpp-websocket",
      componentHost: "127.0.0.1",
      componentPort: options.components ? (options.ports?.component ?? 0) : null,
    },
    tls: options.tls === false ? null : { cert: pem.cert, key: pem.key },
    requireTls: options.requireTls ?? true,
    allowPlainWithoutTls: options.allowPlainWithoutTls ?? false,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    trustedProxies: options.trustedProxies ?? [],
    loopbackWebSocketIsSecure: options.loopbackWebSocketIsSecure ?? false,
    ...(options.presenceBroadcast ? { presenceBroadcast: options.presenceBroadcast } : {}),
    replayMaxEntries: 100_000,
    demo: null,
    components: Object.fromEntries(Object.entries(options.components ?? {}).map(([domain, secret]) => [domain, { secret }])),
  };
  const logLines: string[] = [];
  const log: Logger = { info: (m) => logLines.push(`info ${m}`), warn: (m) => logLines.push(`warn ${m}`) };
  const server = await startServer(config, { log, ...options.start, ...(options.loginPolicy ? { loginPolicy: options.loginPolicy } : {}), ...(options.storage ? { storage: options.storage } : {}) });
  return {
    server,
    domain: DOMAIN,
    config,
    keys,
    caCert: pem.cert,
    logLines,
    mint: (localpart, { domain = DOMAIN, now } = {}) =>
      mintToken({ jid: `${localpart}@${domain}`, key: keys[domain]!, ...(now === undefined ? {} : { now }) }),
    close: () => server.close(),
  };
}

/** A raw XMPP connection for protocol tests: write text, wait for text, upgrade to TLS. */
export class RawClient {
  private socket: net.Socket;
  received = "";
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Direct TLS (XEP-0368), presenting `identity` when given. */
  static connectTls(port: number, ca: string, servername = DOMAIN, identity?: { cert: string; key: string }): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host: "127.0.0.1", ca: [ca], servername, ...identity }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  private attach(socket: net.Socket): void {
    socket.on("data", (d) => {
      this.received += d.toString("utf8");
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits (bounded) until `test` matches what was received since the last `clear()`. */
  async waitFor(test: RegExp | string | (() => boolean), timeoutMs = 5000): Promise<string> {
    const ok = () => (typeof test === "function" ? test() : typeof test === "string" ? this.received.includes(test) : test.test(this.received));
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(test)}; received: ${this.received}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.received;
  }

  waitForClose(timeoutMs = 5000): Promise<string> {
    return this.waitFor(() => this.closed, timeoutMs);
  }

  clear(): void {
    this.received = "";
  }

  /** STARTTLS's handshake; `identity`: a client certificate and its key to present (SASL EXTERNAL). */
  async startTls(ca: string, servername = DOMAIN, identity?: { cert: string; key: string }): Promise<void> {
    const secured = tls.connect({ socket: this.socket, ca: [ca], servername, ...identity });
    await new Promise<void>((resolve, reject) => {
      secured.once("secureConnect", resolve);
      secured.once("error", reject);
    });
    this.socket = secured;
    this.attach(secured);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Stops reading what the server sends (a peer that never reads); resume() reads again. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Bytes this client wrote that the server has not taken yet (they pile up when it stops reading). */
  get unsent(): number {
    return this.socket.writableLength;
  }
}

export function streamHeader(to = DOMAIN): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${to}' version='1.0'>`;
}

export function saslAuth(localpart: string, token: string, mechanism = "X-TOKEN", authzid = ""): string {
  const payload = Buffer.from(`${authzid}\0${localpart}\0${token}`).toString("base64");
  return `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${payload}</auth>`;
}

const SASL_SUCCESS = '<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>';

/**
 * A raw TCP session logged in and bound: STARTTLS when the server requires it, X-TOKEN with a
 * fresh token, restart, bind. `received` is cleared afterwards.
 */
export async function loginRaw(
  t: TestServer,
  localpart: string,
  { resource, domain = DOMAIN }: { resource?: string; domain?: string } = {},
): Promise<{ client: RawClient; jid: string }> {
  const client = await RawClient.connect(t.server.ports.c2s!);
  try {
    client.write(streamHeader(domain));
    await client.waitFor("</stream:features>");
    if (t.config.requireTls) {
      client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      await client.waitFor("<proceed");
      await client.startTls(t.caCert, domain);
      client.clear();
      client.write(streamHeader(domain));
      await client.waitFor("</stream:features>");
    }
    client.clear();
    client.write(saslAuth(localpart, t.mint(localpart, { domain })));
    await client.waitFor(SASL_SUCCESS);
    client.clear();
    client.write(streamHeader(domain));
    await client.waitFor("</stream:features>");
    client.clear();
    const ask = resource === undefined ? "" : `<resource>${resource}</resource>`;
    client.write(`<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${ask}</bind></iq>`);
    const text = await client.waitFor(/<jid>[^<]+<\/jid>/);
    const jid = /<jid>([^<]+)<\/jid>/.exec(text)![1]!;
    client.clear();
    return { client, jid };
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/**
 * A raw session over plain TCP on a server that does not require TLS (a real `x-token serve`
 * started by a test), logged in with `token` and bound; `received` is cleared afterwards.
 */
export async function plainBoundSession(port: number, localpart: string, token: string, domain = DOMAIN): Promise<RawClient> {
  const client = await RawClient.connect(port);
  try {
    client.write(streamHeader(domain));
    await client.waitFor("</stream:features>");
    client.clear();
    client.write(saslAuth(localpart, token));
    await client.waitFor("<success");
    client.clear();
    client.write(streamHeader(domain));
    await client.waitFor("</stream:features>");
    client.write("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    await client.waitFor("<jid>");
    client.clear();
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/** Whether `client`'s session is still served: a ping answered (bounded wait). `received` is cleared first. */
export async function alive(client: RawClient, id: string): Promise<void> {
  client.clear();
  client.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await client.waitFor(`id="${id}"`);
}

/** A raw RFC 7395 WebSocket client: messages collected, bounded waits. */
export class WsClient {
  readonly messages: string[] = [];
  closeCode: number | null = null;
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => this.messages.push(d.toString()));
    ws.on("close", (code) => (this.closeCode = code));
    ws.on("error", () => {});
  }

  static async connect(
    port: number,
    { path = "/xmpp-websocket", protocol = "xmpp", headers }: { path?: string; protocol?: string; headers?: Record<string, string> } = {},
  ): Promise<WsClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocol, headers ? { headers } : {});
    const client = new WsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return client;
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** The first message matching `pattern` (bounded wait). */
  async next(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => pattern.test(m));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${this.messages.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async waitForClose(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === null) {
      if (Date.now() > deadline) throw new Error("timed out waiting for the WebSocket to close");
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closeCode;
  }

  close(): void {
    this.ws.terminate();
  }
}

export function wsOpen(to = DOMAIN): string {
  return `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='${to}' version='1.0'/>`;
}
