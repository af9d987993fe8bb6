/**
 * Fuzz targets for whole sessions: the real server (startServer, src/server/index.ts) with its
 * real TCP transport, XmppSession (src/server/session.ts) and everything behind it, fed
 *
 * - `session`: in-process, through an in-memory socket handed to the c2s listener's own
 *   connection handler (the net.Server startServer creates is captured when it is made), so every
 *   chunk boundary is exactly the input's. Two resident sessions (fuzz1, fuzz2) stay logged in
 *   the whole time, so what an input sends them is relayed, and what they receive is checked;
 * - `server`: on 127.0.0.1 with real sockets, a smaller share: plain TCP, STARTTLS (a real TLS
 *   handshake, then the input inside it) and WebSocket (RFC 7395, one element per message).
 *
 * Inputs are mutated client streams whose SASL payloads get a fresh token when they run (the
 * server's clock stands still, so tokens stay valid), so mutations reach binding and stanzas.
 * Crashes: the server logging "internal error" (an exception a stream handler did not expect;
 * the stream survives it as a stream error), an uncaught exception or unhandled rejection.
 * Invariants: the server's output on every stream is well-formed XML (a client's strict parser
 * takes it, what it relays included), every session ends once its connection is gone (none is
 * left in the server's count), the residents stay connected and read well-formed XML, and stored
 * offline messages can be read back. Hangs: per-input time, and a session not ending in time.
 */
import fc from "fast-check";
import net from "node:net";
import tls from "node:tls";
import { Duplex } from "node:stream";
import { readFileSync } from "node:fs";
import { WebSocket } from "ws";
import { startServer, type RunningServer } from "../../src/server/index.js";
import type { ServerConfig } from "../../src/server/config.js";
import { DEFAULT_LIMITS } from "../../src/app/config/load.js";
import { FramingError, XmlFramer } from "../../src/server/transport/xml-framer.js";
import { NotWellFormedError, StrictXmlParser } from "../../src/server/transport/strict-xml.js";
import { Finding, type Target } from "./fuzz-engine.js";
import {
  AUTH_MARK, AUTHZ_MARK, chunking, cut, DICTIONARY, DOMAIN, HEADER, mutated, mutationOp, mutate, NEGOTIATION, NS, OTHER_DOMAIN, SESSIONS, STANZAS, toBuffers,
  TOKEN_MARK, WAIT_MARK, WS_SESSIONS, BINDS, type Chunking,
} from "./fuzz-inputs.js";
import { FIXED_NOW, freshToken, KEYS } from "./fuzz-auth.js";
import { inside, serverMessageProblem, serverOutputProblem } from "./fuzz-xml.js";

/** A socket in memory: what the test pushes is what the server reads; what it writes is kept. */
class MemorySocket extends Duplex {
  readonly output: Buffer[] = [];
  /** The peer does not read: writes stay queued (the server's writableLength grows). */
  holding = false;
  private held: (() => void) | null = null;

  constructor(readonly remoteAddress: string) {
    super({ allowHalfOpen: false });
  }

  setNoDelay(): this {
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.output.push(chunk);
    if (this.holding) this.held = done;
    else done();
  }

  /** The peer reads again: queued writes go through. */
  release(): void {
    this.holding = false;
    const done = this.held;
    this.held = null;
    done?.();
  }

  text(): string {
    return Buffer.concat(this.output).toString("utf8");
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/** What kind of parse problem (the parser's message without the text it was found in). */
function problemKind(problem: string): string {
  return problem.split(" in ")[0]!.replace(/\d+/g, "N").slice(0, 80);
}

/** The parts of a client stream between WAIT_MARKs (where the client waits for an answer). */
function phases(bytes: Buffer): Buffer[] {
  const mark = Buffer.from(WAIT_MARK);
  const parts: Buffer[] = [];
  let at = 0;
  for (let next = bytes.indexOf(mark); next !== -1; next = bytes.indexOf(mark, at)) {
    parts.push(bytes.subarray(at, next));
    at = next + mark.length;
  }
  parts.push(bytes.subarray(at));
  return parts;
}

/** Reads a stream of server output as a client would, piece by piece: framed, then strictly parsed. */
class OutputChecker {
  private framer = new XmlFramer(1 << 30, { maxDepth: 1000 });
  private parser = new StrictXmlParser("stream");

  constructor(header: string) {
    this.push(Buffer.from(header));
  }

  /** Null when what came is well-formed so far, else why not. */
  push(bytes: Buffer): string | null {
    try {
      for (const event of this.framer.push(bytes)) {
        if (event.kind === "header") this.parser.parseHeader(event.text);
        else if (event.kind === "element") this.parser.parseElement(event.text);
      }
      return null;
    } catch (err) {
      if (err instanceof FramingError || err instanceof NotWellFormedError) return `${err.name}: ${err.message}${inside(bytes.toString("utf8"))} in ${JSON.stringify(bytes.toString("utf8").slice(0, 600))}`;
      throw err;
    }
  }
}

/** Fills each SASL placeholder with a payload carrying a fresh token for `user`. */
function fillTokens(bytes: Buffer, user: string): Buffer {
  const jid = `${user}@${DOMAIN}`;
  const marks = [AUTH_MARK, AUTHZ_MARK, TOKEN_MARK].map((m) => Buffer.from(m));
  if (!marks.some((m) => bytes.includes(m))) return bytes;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    let next = -1;
    let which = -1;
    marks.forEach((m, i) => {
      const found = bytes.indexOf(m, at);
      if (found !== -1 && (next === -1 || found < next)) {
        next = found;
        which = i;
      }
    });
    if (next === -1) break;
    parts.push(bytes.subarray(at, next));
    const token = freshToken(jid);
    const value = which === 0 ? Buffer.from(`\0${user}\0${token}`).toString("base64") : which === 1 ? Buffer.from(`${jid}\0${user}\0${token}`).toString("base64") : token;
    parts.push(Buffer.from(value));
    at = next + marks[which]!.length;
  }
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts);
}

function testCertificate(): { cert: string; key: string } {
  const dir = new URL("../../../test/fixtures/tls/", import.meta.url);
  return { cert: readFileSync(new URL("cert.pem", dir), "utf8"), key: readFileSync(new URL("key.pem", dir), "utf8") };
}

/** Counts of what the server did, for the summary. */
class Outcomes {
  private readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  /** Reads one stream's output for the milestones a session reached and how it ended. */
  read(text: string): void {
    if (text.includes("<success")) this.add("logged in");
    if (text.includes("</jid>")) this.add("bound");
    const error = text.match(/<stream:error><([a-z-]+)/);
    this.add(error ? `stream error ${error[1]}` : text.includes("</stream:stream>") || text.includes("<close ") ? "closed cleanly" : "disconnected");
  }
  summary(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
  }
}

/**
 * The server both targets drive (one per target run): requireTls off and PLAIN allowed without
 * TLS so that inputs reach SASL without a handshake (the `server` target does real STARTTLS too);
 * failure limits out of the way; a small outbound bound so that a peer that does not read hits it.
 */
class FuzzServer {
  server!: RunningServer;
  c2s!: net.Server;
  readonly logLines: string[] = [];
  /** Log lines by their start, for the summary. */
  readonly warnings = new Map<string, number>();

  async start(): Promise<void> {
    const config: ServerConfig = {
      domains: {
        [DOMAIN]: { keys: KEYS[DOMAIN]!, window: 1, nonceDigits: 32, disabledUsers: ["disabled"] },
        [OTHER_DOMAIN]: { keys: KEYS[OTHER_DOMAIN]!, window: 1, nonceDigits: 32, disabledUsers: [] },
      },
      listeners: { host: "127.0.0.1", c2sPort: 0, directTlsPort: null, httpPort: 0, websocketPath: "/xmpp-websocket" },
      tls: testCertificate(),
      requireTls: false,
      allowPlainWithoutTls: true,
      limits: {
        ...DEFAULT_LIMITS,
        maxOutboundBytes: 64 * 1024,
        maxAuthFailuresPerIpPerMinute: 1 << 30,
        maxAuthFailuresPerJidPerMinute: 1 << 30,
        maxFailureLinesPerIpPerMinute: 1 << 30,
      },
      trustedProxies: [],
      loopbackWebSocketIsSecure: false,
      presenceBroadcast: "roster",
      replayMaxEntries: 200_000,
    };
    // The c2s listener's net.Server, caught as startServer makes it: its "connection" handler is
    // the one real sockets get, so an in-memory socket emitted there gets the same treatment.
    const made: net.Server[] = [];
    const createServer = net.createServer;
    (net as { createServer: typeof net.createServer }).createServer = ((...args: Parameters<typeof net.createServer>) => {
      const server = createServer(...args);
      made.push(server);
      return server;
    }) as typeof net.createServer;
    try {
      this.server = await startServer(config, {
        now: () => FIXED_NOW,
        log: {
          info: () => {},
          warn: (m) => {
            this.logLines.push(m);
            const key = m.replace(/ for \S+| from \S+|\d+/g, "").split(":")[0]!.slice(0, 80);
            this.warnings.set(key, (this.warnings.get(key) ?? 0) + 1);
          },
        },
      });
    } finally {
      (net as { createServer: typeof net.createServer }).createServer = createServer;
    }
    const c2s = made.find((s) => (s.address() as net.AddressInfo | null)?.port === this.server.ports.c2s);
    if (!c2s) throw new Error("fuzz: could not find the c2s listener startServer made");
    this.c2s = c2s;
  }

  /** Crashes the server logged since the last call (one Finding for the first). */
  takeCrash(): Finding | null {
    const lines = this.logLines.splice(0);
    const internal = lines.find((l) => l.includes("internal error"));
    if (internal) {
      const what = internal.replace(/^.*internal error on [^:]*: /, "");
      return new Finding("crash", `session: internal error: ${what.replace(/\d+/g, "N").slice(0, 100)}`, internal);
    }
    const unreadable = lines.find((l) => l.includes("could not be read"));
    if (unreadable) return new Finding("invariant", "session: a stored offline message could not be read back", unreadable);
    return null;
  }

  /** A session over an in-memory socket. */
  connect(address: string): MemorySocket {
    const socket = new MemorySocket(address);
    this.c2s.emit("connection", socket);
    return socket;
  }

  async waitForSessions(count: number, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    for (let i = 0; this.server.sessionCount > count; i++) {
      if (Date.now() > until) return false;
      await (i < 10 ? turn() : new Promise((r) => setTimeout(r, 1)));
    }
    return true;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** A session that stays logged in and bound while a target runs, and whose output is checked. */
class Resident {
  socket!: MemorySocket;
  private checker!: OutputChecker;
  private seen = 0;
  received = 0;

  constructor(
    private readonly server: FuzzServer,
    readonly user: string,
  ) {}

  async login(): Promise<void> {
    this.socket = this.server.connect(`198.51.100.${this.user.length}`);
    this.socket.push(fillTokens(Buffer.from(HEADER + NEGOTIATION[1]), this.user));
    for (let i = 0; i < 5; i++) await turn();
    this.socket.push(Buffer.from(HEADER));
    for (let i = 0; i < 3; i++) await turn();
    // Everything after the second stream header is checked from here on.
    const text = this.socket.text();
    const second = text.lastIndexOf("<?xml version='1.0'?>");
    if (!text.includes("<success") || second <= 0) throw new Error(`fuzz: resident ${this.user} could not log in: ${text.slice(0, 500)}`);
    this.checker = new OutputChecker("");
    this.seen = 0;
    const problem = this.checker.push(Buffer.concat(this.socket.output).subarray(Buffer.byteLength(text.slice(0, second))));
    if (problem) throw new Error(`fuzz: resident ${this.user}: ${problem}`);
    this.seen = this.socket.output.length;
    this.socket.push(Buffer.from(`<iq type='set' id='b'><bind xmlns='${NS.bind}'><resource>resident</resource></bind></iq><presence/>` + `<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`));
    for (let i = 0; i < 3; i++) await turn();
    if (!this.socket.text().includes("</jid>")) throw new Error(`fuzz: resident ${this.user} could not bind`);
  }

  /** Checks what arrived since the last look; logs in again if the stream was ended. */
  async look(): Promise<string | null> {
    const fresh = this.socket.output.slice(this.seen);
    this.seen = this.socket.output.length;
    if (this.socket.output.length > 256) {
      this.socket.output.splice(0);
      this.seen = 0;
    }
    let problem: string | null = null;
    for (const chunk of fresh) {
      this.received += chunk.length;
      problem ??= this.checker.push(chunk);
    }
    if (this.socket.closed || this.socket.writableEnded) {
      await this.login();
      return problem ?? "the stream was ended";
    }
    return problem;
  }
}

// ---- the in-process target --------------------------------------------------------------------

interface SessionInput {
  bytes: Buffer;
  how: Chunking;
  /** Yield to the event loop after this many chunks. */
  yieldEvery: number;
  /** The client does not read until its input is sent (the outbound bound is reached). */
  holding: boolean;
  end: "fin" | "destroy";
  user: number;
}

function sessionCorpus(): { streams: Buffer[]; pieces: Buffer[] } {
  const streams = toBuffers([...SESSIONS, HEADER + NEGOTIATION[1] + HEADER + BINDS[0] + `<message to='fuzz1@${DOMAIN}/resident'><body>hi</body></message><message to='fuzz2@${DOMAIN}'><body>x</body></message><presence to='fuzz1@${DOMAIN}' type='subscribe'/><iq type='get' id='v' to='fuzz2@${DOMAIN}/resident'><ping xmlns='urn:xmpp:ping'/></iq>`]);
  const relayed = [
    `<message to='fuzz1@${DOMAIN}/resident' type='chat'><body>a &amp; b &lt; c</body><x:y xmlns:x='urn:x' x:a='&apos;'/></message>`,
    `<message to='fuzz2@${DOMAIN}'><body xml:lang='fr'>é</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>x</p></body></html></message>`,
    `<iq type='get' id='q' to='fuzz1@${DOMAIN}/resident'><query xmlns='jabber:iq:version'/></iq>`,
    `<presence to='fuzz2@${DOMAIN}' type='subscribe'><status>let me</status></presence>`,
    `<message to='fuzz3@${DOMAIN}'><body>for later</body><store xmlns='urn:xmpp:hints'/></message>`,
  ];
  const pieces = toBuffers([...STANZAS, ...BINDS, ...NEGOTIATION, ...relayed]);
  return { streams: [...streams, ...toBuffers(relayed.map((r) => HEADER + NEGOTIATION[1] + HEADER + BINDS[0] + r))], pieces: [...pieces, ...DICTIONARY] };
}

export function sessionTarget(): Target<SessionInput> {
  const server = new FuzzServer();
  const residents = [new Resident(server, "fuzz1"), new Resident(server, "fuzz2")];
  const outcomes = new Outcomes();
  const { streams, pieces } = sessionCorpus();
  let inputs = 0;
  return {
    name: "session",
    about: "whole sessions in-process: the real server's c2s handler over an in-memory socket, with two resident sessions receiving what is relayed",
    weight: 4,
    async: true,
    batch: 2000,
    hangMs: 1000,
    arbitrary: fc.record({
      bytes: mutated(streams, 8, [...streams, ...pieces]),
      how: chunking,
      yieldEvery: fc.constantFrom(1, 1, 2, 1000),
      // One input in ten: a client that does not read until it has sent everything.
      holding: fc.nat(9).map((k) => k === 0),
      end: fc.constantFrom("fin" as const, "destroy" as const),
      user: fc.nat(3),
    }),
    async setup() {
      await server.start();
      for (const r of residents) await r.login();
    },
    async teardown() {
      await server.close();
    },
    async run(input) {
      inputs++;
      const bytes = fillTokens(input.bytes, `fuzz${input.user === 3 ? 0 : input.user + 3}`);
      const socket = server.connect(`203.0.113.${inputs % 250}`);
      socket.holding = input.holding;
      let i = 0;
      for (const [p, phase] of phases(bytes).entries()) {
        if (p > 0 && p <= 4) {
          // The client waits for an answer (SASL success) before it goes on, as clients must
          // (for the first few waits a stream has: mutations may repeat them).
          const progress = () => socket.output.length + socket.writableLength;
          const before = progress();
          for (let k = 0; k < 20 && progress() === before && !socket.destroyed && !socket.writableEnded; k++) await turn();
        }
        for (const chunk of cut(phase, input.how, 2048)) {
          if (chunk.length === 0) continue;
          if (socket.destroyed) break;
          socket.push(chunk);
          if (++i % input.yieldEvery === 0) await turn();
        }
        i++;
      }
      for (let k = 0; k < 3; k++) await turn();
      socket.release();
      await turn();
      if (input.end === "fin") socket.push(null);
      else socket.destroy();
      const ended = await server.waitForSessions(residents.length, 3000);
      const crash = server.takeCrash();
      if (crash) throw crash;
      if (!ended) throw new Finding("hang", "session: a session did not end after its connection closed", `${server.server.sessionCount} sessions open, ${residents.length} residents`);
      const text = socket.text();
      outcomes.read(text);
      const problem = serverOutputProblem(text);
      if (problem) throw new Finding("invariant", `session: the server wrote XML a client cannot parse (${problemKind(problem)})`, problem);
      for (const r of residents) {
        const wrong = await r.look();
        if (wrong) throw new Finding("invariant", `session: a resident ${wrong === "the stream was ended" ? "was disconnected" : `received XML it cannot parse (${problemKind(wrong)})`}`, wrong);
      }
    },
    notes: () => [
      `sessions: ${outcomes.summary()}`,
      `residents received ${residents.map((r) => `${r.user} ${r.received} bytes`).join(", ")}`,
      `server warnings: ${[...server.warnings].map(([k, v]) => `${k} (${v})`).join("; ") || "none"}`,
    ],
  };
}

// ---- real sockets -------------------------------------------------------------------------------

interface ServerInput {
  transport: "tcp" | "starttls" | "websocket";
  bytes: Buffer;
  messages: Buffer[];
  how: Chunking;
  user: number;
}

function waitFor(condition: () => boolean, ms: number, wake: (fn: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    if (condition()) return resolve(true);
    const timer = setTimeout(() => resolve(condition()), ms);
    wake(() => {
      if (condition()) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
}

export function serverTarget(): Target<ServerInput> {
  const server = new FuzzServer();
  const outcomes = new Outcomes();
  const { streams, pieces } = sessionCorpus();
  const afterTls = streams.filter((s) => s.toString("latin1").startsWith(HEADER));
  const wsMessages = WS_SESSIONS.map((s) => toBuffers(s));
  const wsPieces = toBuffers(WS_SESSIONS.flat());
  const wsConversation = fc
    .tuple(fc.nat(wsMessages.length - 1), fc.array(fc.tuple(fc.nat(), fc.array(mutationOp, { minLength: 1, maxLength: 4 })), { maxLength: 4 }), fc.array(fc.nat(wsPieces.length - 1), { maxLength: 3 }))
    .map(([i, edits, extra]) => {
      const messages = [...wsMessages[i]!, ...extra.map((k) => wsPieces[k]!)];
      for (const [at, ops] of edits) {
        const k = at % messages.length;
        messages[k] = mutate(messages[k]!, ops, [...wsPieces, ...pieces]);
      }
      return messages;
    });
  return {
    name: "server",
    about: "the real server on 127.0.0.1: raw TCP, STARTTLS with a real handshake, WebSocket messages",
    weight: 0.3,
    async: true,
    batch: 500,
    hangMs: 3000,
    arbitrary: fc.oneof(
      { arbitrary: fc.record({ transport: fc.constant("tcp" as const), bytes: mutated(streams, 8, [...streams, ...pieces]), messages: fc.constant<Buffer[]>([]), how: chunking, user: fc.nat(2) }), weight: 4 },
      { arbitrary: fc.record({ transport: fc.constant("starttls" as const), bytes: mutated(afterTls, 6, [...streams, ...pieces]), messages: fc.constant<Buffer[]>([]), how: chunking, user: fc.nat(2) }), weight: 2 },
      { arbitrary: fc.record({ transport: fc.constant("websocket" as const), bytes: fc.constant(Buffer.alloc(0)), messages: wsConversation, how: chunking, user: fc.nat(2) }), weight: 3 },
    ),
    async setup() {
      await server.start();
    },
    async teardown() {
      await server.close();
    },
    async run(input) {
      const user = `fuzz${input.user + 3}`;
      let problem: string | null = null;
      let closed: boolean;
      if (input.transport === "websocket") {
        const ws = new WebSocket(`ws://127.0.0.1:${server.server.ports.http}/xmpp-websocket`, "xmpp");
        let isClosed = false;
        let wake = () => {};
        const received: string[] = [];
        ws.on("message", (data: Buffer) => {
          const text = data.toString("utf8");
          received.push(text);
          problem ??= serverMessageProblem(text);
          wake();
        });
        ws.on("error", () => {});
        ws.on("close", () => {
          isClosed = true;
          wake();
        });
        const opened = await waitFor(() => ws.readyState === ws.OPEN || isClosed, 3000, (fn) => ws.once("open", fn));
        if (!opened) throw new Finding("hang", "server: WebSocket upgrade not answered", "");
        for (const message of input.messages) {
          if (ws.readyState !== ws.OPEN) break;
          const filled = Buffer.concat(phases(fillTokens(message, user)));
          const before = received.length;
          await new Promise<void>((r) => ws.send(filled, { binary: filled.length % 17 === 16 }, () => r()));
          // After SASL the client waits for the answer (the stream restarts with the next <open/>).
          if (filled.includes("<auth") || filled.includes("<response")) await waitFor(() => received.length > before || isClosed, 200, (fn) => (wake = fn));
        }
        await new Promise((r) => setTimeout(r, 5));
        if (ws.readyState === ws.OPEN) ws.close(1000);
        closed = await waitFor(() => isClosed, 3000, (fn) => (wake = fn));
        if (!closed) ws.terminate();
        outcomes.add(received.some((r) => r.includes("</jid>")) ? "websocket bound" : received.some((r) => r.includes("<success")) ? "websocket logged in" : "websocket other");
      } else {
        let socket: net.Socket = net.connect(server.server.ports.c2s!, "127.0.0.1");
        socket.setNoDelay(true);
        let plain = "";
        let secured = "";
        let isClosed = false;
        let wake = () => {};
        socket.on("data", (d: Buffer) => {
          plain += d.toString("latin1");
          wake();
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          isClosed = true;
          wake();
        });
        await waitFor(() => socket.readyState === "open" || isClosed, 3000, (fn) => socket.once("connect", fn));
        let bytes = fillTokens(input.bytes, user);
        if (input.transport === "starttls") {
          socket.write(HEADER);
          await waitFor(() => plain.includes("</stream:features>") || isClosed, 3000, (fn) => (wake = fn));
          socket.write(`<starttls xmlns='${NS.tls}'/>`);
          const proceeded = await waitFor(() => plain.includes("<proceed") || isClosed, 3000, (fn) => (wake = fn));
          if (!proceeded || isClosed) throw new Finding("invariant", "server: STARTTLS was not answered with proceed", plain.slice(0, 300));
          const secure = tls.connect({ socket, servername: DOMAIN, rejectUnauthorized: false });
          secure.on("data", (d: Buffer) => {
            secured += d.toString("latin1");
            wake();
          });
          secure.on("error", () => {});
          secure.on("close", () => {
            isClosed = true;
            wake();
          });
          let secureDone = false;
          secure.once("secureConnect", () => {
            secureDone = true;
            wake();
          });
          const handshake = await waitFor(() => secureDone || isClosed, 3000, (fn) => (wake = fn));
          if (!handshake || !secureDone) throw new Finding("hang", "server: the TLS handshake after STARTTLS did not finish", "");
          socket = secure;
        } else if (bytes.length === 0) {
          bytes = Buffer.from(" ");
        }
        for (const [k, phase] of phases(bytes).entries()) {
          if (k > 0 && k <= 4) {
            const before = plain.length + secured.length;
            await waitFor(() => plain.length + secured.length > before || isClosed, 200, (fn) => (wake = fn));
          }
          for (const chunk of cut(phase, input.how, 64)) {
            if (isClosed) break;
            if (chunk.length > 0) await new Promise<void>((r) => socket.write(chunk, () => r()));
          }
        }
        await new Promise((r) => setTimeout(r, 2));
        socket.end();
        closed = await waitFor(() => isClosed, 3000, (fn) => (wake = fn));
        if (!closed) socket.destroy();
        const text = Buffer.from(input.transport === "starttls" ? secured : plain, "latin1").toString("utf8");
        outcomes.read(text);
        problem = serverOutputProblem(text);
      }
      const ended = await server.waitForSessions(0, 3000);
      const crash = server.takeCrash();
      if (crash) throw crash;
      if (!closed) throw new Finding("hang", `server: the connection (${input.transport}) was not closed after the client closed its side`, "");
      if (!ended) throw new Finding("hang", "server: a session did not end after its connection closed", `${server.server.sessionCount} open`);
      if (problem) throw new Finding("invariant", `server: the server wrote XML a client cannot parse (${input.transport}: ${problemKind(problem)})`, problem);
    },
    notes: () => [`streams: ${outcomes.summary()}`, `server warnings: ${[...server.warnings].map(([k, v]) => `${k} (${v})`).join("; ") || "none"}`],
  };
}
