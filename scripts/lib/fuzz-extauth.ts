/**
 * Fuzz targets for external authentication: the frame readers and the request parser
 * (src/extauth/protocol.ts), and the stream server around them (src/extauth/stdio.ts) with the
 * real answerer (src/extauth/answer.ts) and a token authority.
 *
 * Contracts (from the sources): a reader "never loses its place: every request, including one
 * that is too big, not UTF-8 or not understood, yields exactly one item"; parseRequest "never
 * throws"; serveExtauthStream answers every request, in order, writes nothing else, and resolves
 * once the input has ended and every answer is written.
 * Invariants checked besides:
 * - the frames do not depend on how the bytes are cut, and match a plain model of each framing
 *   (ejabberd: 2-byte big-endian length and body; Prosody: lines, a "\r" before "\n" dropped);
 * - a parsed request prints back to its text;
 * - the stream server writes exactly one well-formed answer per frame, and says yes only to an
 *   `auth` with a token minted for that user.
 */
import fc from "fast-check";
import { PassThrough, Writable } from "node:stream";
import { createRequestReader, parseRequest, type ExtauthProtocol, type RequestFrame } from "../../src/extauth/protocol.js";
import { serveExtauthStream } from "../../src/extauth/stdio.js";
import { createExtauthAnswerer } from "../../src/extauth/answer.js";
import { nameprep, nodeprep } from "../../src/core/jid/prep.js";
import { check, Finding, type Target } from "./fuzz-engine.js";
import { chunking, cut, DICTIONARY, DOMAIN, mutationOp, mutate, TOKEN_MARK, type Chunking } from "./fuzz-inputs.js";
import { freshToken, minted, newAuthority } from "./fuzz-auth.js";

const REQUESTS = [
  `auth:fuzz0:${DOMAIN}:${TOKEN_MARK}`,
  `auth:FUZZ0:${DOMAIN.toUpperCase()}:${TOKEN_MARK}`,
  `auth:fuzz1:${DOMAIN}:${TOKEN_MARK}`,
  `auth:fuzz0:other.test:${TOKEN_MARK}`,
  `auth:fuzz0:${DOMAIN}:not:a:token`,
  `auth:disabled:${DOMAIN}:${TOKEN_MARK}`,
  `isuser:fuzz0:${DOMAIN}`,
  `isuser:fuzz0:${DOMAIN}:extra`,
  `isuser:a@b:${DOMAIN}`,
  `setpass:fuzz0:${DOMAIN}:pw`,
  `tryregister:fuzz0:${DOMAIN}:pw`,
  `removeuser:fuzz0:${DOMAIN}`,
  `removeuser3:fuzz0:${DOMAIN}:pw`,
  `certauth:fuzz0:${DOMAIN}:cert`,
  `auth`,
  `auth:`,
  `auth::${DOMAIN}:x`,
  `__proto__:a:b`,
  `constructor:a:b:c`,
  `hasOwnProperty:a:b`,
  ``,
  `auth:\u00e9:${DOMAIN}:${TOKEN_MARK}`,
];
const REQUEST_BYTES = REQUESTS.map((r) => Buffer.from(r));
const MUTATION_CORPUS = [...REQUEST_BYTES, ...DICTIONARY, Buffer.from([0, 0]), Buffer.from([0xff, 0xff]), Buffer.from(":"), Buffer.from("\n"), Buffer.from("\r\n")];

const requestArb = fc.tuple(fc.nat(REQUESTS.length - 1), fc.array(mutationOp, { maxLength: 4 })).map(([i, ops]) => mutate(REQUEST_BYTES[i]!, ops, MUTATION_CORPUS, 8192));

/** The framing of `requests` under `protocol` (over-long ones are cut to what 2 bytes can say). */
function encode(protocol: ExtauthProtocol, requests: Buffer[]): Buffer {
  if (protocol === "prosody") return Buffer.concat(requests.flatMap((r) => [r, Buffer.from("\n")]));
  return Buffer.concat(
    requests.flatMap((r) => {
      const body = r.subarray(0, 0xffff);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(body.length);
      return [head, body];
    }),
  );
}

/** What the framing says the frames are, read plainly from the whole stream. */
function model(protocol: ExtauthProtocol, bytes: Buffer, max: number): { frames: RequestFrame[]; pending: number } {
  const frames: RequestFrame[] = [];
  if (protocol === "ejabberd") {
    let at = 0;
    while (at + 2 <= bytes.length) {
      const length = bytes.readUInt16BE(at);
      if (at + 2 + length > bytes.length) break;
      frames.push(length <= max ? { kind: "request", bytes: bytes.subarray(at + 2, at + 2 + length) } : { kind: "oversized", bytes: length });
      at += 2 + length;
    }
    return { frames, pending: bytes.length - at };
  }
  let at = 0;
  for (;;) {
    const newline = bytes.indexOf(0x0a, at);
    if (newline === -1) break;
    const line = bytes.subarray(at, newline);
    if (line.length > max) frames.push({ kind: "oversized", bytes: line.length });
    else frames.push({ kind: "request", bytes: line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line });
    at = newline + 1;
  }
  return { frames, pending: bytes.length - at };
}

const sameFrame = (a: RequestFrame, b: RequestFrame) => a.kind === b.kind && (a.kind === "oversized" ? a.bytes === b.bytes : Buffer.compare(a.bytes, b.bytes as Buffer) === 0);
const showFrames = (frames: RequestFrame[]) => JSON.stringify(frames.slice(0, 8).map((f) => (f.kind === "oversized" ? `oversized ${f.bytes}` : f.bytes.toString("latin1").slice(0, 60))));

interface ExtauthInput {
  protocol: ExtauthProtocol;
  max: number;
  requests: Buffer[];
  /** Mutations of the framed stream itself (broken lengths, stray newlines). */
  streamOps: { kind: number; a: number; b: number; c: number }[];
  how: Chunking;
}

const extauthInput = fc.record({
  protocol: fc.constantFrom<ExtauthProtocol>("ejabberd", "prosody"),
  max: fc.constantFrom(1, 16, 64, 4096, 65535),
  requests: fc.array(requestArb, { maxLength: 8 }),
  streamOps: fc.array(mutationOp, { maxLength: 3 }),
  how: chunking,
});

export function extauthTarget(): Target<ExtauthInput> {
  const stats = { frames: 0, commands: new Map<string, number>() };
  return {
    name: "extauth",
    about: "extauth frame readers (ejabberd lengths, Prosody lines) cut anyhow, against a model; parseRequest",
    weight: 12,
    async: false,
    arbitrary: extauthInput,
    run(input) {
      const bytes = input.streamOps.length === 0 ? encode(input.protocol, input.requests) : mutate(encode(input.protocol, input.requests), input.streamOps, MUTATION_CORPUS, 1 << 16);
      const whole = createRequestReader(input.protocol, { maxRequestBytes: input.max });
      const wholeFrames = whole.push(bytes);
      const cutReader = createRequestReader(input.protocol, { maxRequestBytes: input.max });
      const cutFrames: RequestFrame[] = [];
      for (const chunk of cut(bytes, input.how, 4096)) {
        // Readers take any Uint8Array; a view that is not a Buffer goes in now and then.
        cutFrames.push(...cutReader.push(chunk.length % 3 === 0 ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length) : chunk));
      }
      const want = model(input.protocol, bytes, input.max);
      for (const [what, frames, reader] of [["whole", wholeFrames, whole], ["cut", cutFrames, cutReader]] as const) {
        check(frames.length === want.frames.length && frames.every((f, i) => sameFrame(f, want.frames[i]!)), `extauth: ${input.protocol} frames (${what}) differ from the framing's model`, () => `got ${showFrames(frames)} want ${showFrames(want.frames)}`);
        check(reader.pendingBytes === want.pending, `extauth: ${input.protocol} pendingBytes differs from the bytes after the last frame`, () => `${reader.pendingBytes} vs ${want.pending}`);
      }
      for (const frame of wholeFrames) {
        stats.frames++;
        const request = parseRequest(frame);
        stats.commands.set(request.command === "malformed" ? `malformed ${request.why}` : request.command, (stats.commands.get(request.command === "malformed" ? `malformed ${request.why}` : request.command) ?? 0) + 1);
        if (request.command === "malformed") {
          check(frame.kind === "oversized" ? request.why === "oversized" : request.why !== "oversized", "extauth: oversized is said of a frame that is not", () => JSON.stringify(request));
          continue;
        }
        check(frame.kind === "request", "extauth: an oversized frame parsed as a request", () => JSON.stringify(request));
        const text = (frame as { bytes: Buffer }).bytes.toString("utf8");
        const printed = request.command === "auth" ? `auth:${request.user}:${request.server}:${request.password}` : `${request.command}:${request.user}:${request.server}`;
        check(request.command === "auth" || request.command === "isuser" ? printed === text : text.startsWith(printed + ":") || text === printed, `extauth: a parsed ${request.command} request does not print back to its text`, () => `${JSON.stringify(text)} -> ${JSON.stringify(request)}`);
      }
    },
    notes: () => [`frames ${stats.frames}: ${[...stats.commands].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")}`],
  };
}

// ---- the stream server ----------------------------------------------------------------------

interface StdioInput extends ExtauthInput {
  maxInFlight: number;
  /** The output takes its time (back-pressure). */
  slowOutput: boolean;
  /** Yield to the event loop between chunks. */
  yieldEvery: number;
}

/** Replaces each TOKEN_MARK with a fresh token for the request's own user and server. */
function fillRequest(request: Buffer): Buffer {
  const mark = Buffer.from(TOKEN_MARK);
  const at = request.indexOf(mark);
  if (at === -1) return request;
  const text = request.subarray(0, at).toString("utf8");
  const [, user = "", server = ""] = text.split(":");
  let jid = `fuzz0@${DOMAIN}`;
  try {
    const domain = nameprep(server);
    if (domain === DOMAIN || domain === "other.test") jid = `${nodeprep(user)}@${domain}`;
  } catch {
    // a user or server that does not prepare: a token for someone else
  }
  return Buffer.concat([request.subarray(0, at), Buffer.from(freshToken(jid)), request.subarray(at + mark.length)]);
}

export function extauthStdioTarget(): Target<StdioInput> {
  const stats = { answers: 0, yes: 0 };
  let authority = newAuthority();
  let runs = 0;
  return {
    name: "extauth-stdio",
    about: "serveExtauthStream over in-memory pipes with the real answerer: pipelined, cut, slow output",
    weight: 1.5,
    async: true,
    batch: 1000,
    hangMs: 2000,
    arbitrary: fc.record({
      protocol: fc.constantFrom<ExtauthProtocol>("ejabberd", "prosody"),
      max: fc.constantFrom(16, 4096),
      requests: fc.array(requestArb, { maxLength: 10 }),
      streamOps: fc.array(mutationOp, { maxLength: 2 }),
      how: chunking,
      maxInFlight: fc.constantFrom(1, 2, 32),
      slowOutput: fc.boolean(),
      yieldEvery: fc.constantFrom(1, 3, 1000),
    }),
    async run(input) {
      if (++runs % 5000 === 0) authority = newAuthority();
      const requests = input.requests.map(fillRequest);
      const bytes = input.streamOps.length === 0 ? encode(input.protocol, requests) : mutate(encode(input.protocol, requests), input.streamOps, MUTATION_CORPUS, 1 << 16);
      const want = model(input.protocol, bytes, input.max);
      const logLines: string[] = [];
      const log = { info: (m: string) => logLines.push(m), warn: (m: string) => logLines.push(m) };
      const source = new PassThrough();
      const written: Buffer[] = [];
      const sink = new Writable({
        highWaterMark: input.slowOutput ? 4 : 16384,
        write(chunk: Buffer, _enc, done) {
          written.push(chunk);
          if (input.slowOutput) setImmediate(done);
          else done();
        },
      });
      const served = serveExtauthStream({ input: source, output: sink, protocol: input.protocol, answer: createExtauthAnswerer({ authority, log }), log, maxRequestBytes: input.max, maxInFlight: input.maxInFlight });
      let i = 0;
      for (const chunk of cut(bytes, input.how, 512)) {
        source.write(chunk);
        if (++i % input.yieldEvery === 0) await new Promise((r) => setImmediate(r));
      }
      source.end();
      let timer: NodeJS.Timeout | undefined;
      const summary = await Promise.race([served, new Promise<null>((r) => (timer = setTimeout(() => r(null), 5000)))]);
      clearTimeout(timer);
      if (summary === null) throw new Finding("hang", "extauth-stdio: serveExtauthStream did not finish after its input ended", `${want.frames.length} frames, ${Buffer.concat(written).length} bytes answered`);
      // Resolved once every answer is written to the output; a slow one may still hold some.
      for (let k = 0; k < 10_000 && sink.writableLength > 0; k++) await new Promise((r) => setImmediate(r));
      const internal = logLines.find((l) => l.includes("internal error"));
      if (internal) throw new Finding("crash", `extauth-stdio: the answerer threw (${internal.replace(/[^a-z ]/gi, "").slice(0, 60)})`, internal);
      const out = Buffer.concat(written);
      const size = input.protocol === "ejabberd" ? 4 : 2;
      check(summary.requests === want.frames.length && out.length === size * want.frames.length, "extauth-stdio: not one answer per request", () => `${want.frames.length} frames, summary ${summary.requests}, ${out.length} bytes of answers`);
      let yes = 0;
      for (let k = 0; k < want.frames.length; k++) {
        const answer = out.subarray(k * size, (k + 1) * size);
        const isYes = input.protocol === "ejabberd" ? answer.equals(Buffer.from([0, 2, 0, 1])) : answer.toString() === "1\n";
        const isNo = input.protocol === "ejabberd" ? answer.equals(Buffer.from([0, 2, 0, 0])) : answer.toString() === "0\n";
        check(isYes || isNo, "extauth-stdio: an answer that is neither yes nor no", () => answer.toString("hex"));
        if (!isYes) continue;
        yes++;
        const request = parseRequest(want.frames[k]!);
        let jid = "";
        let domain = "";
        if (request.command === "auth" || request.command === "isuser") {
          try {
            domain = nameprep(request.server);
            jid = `${nodeprep(request.user)}@${domain}`;
          } catch {
            jid = "";
          }
        }
        if (request.command === "isuser") {
          // isuser (policy "hosted"): any valid username at a hosted domain exists.
          check(jid !== "" && authority.hosts(domain), "extauth-stdio: yes to isuser for an invalid user or a domain not hosted", () => JSON.stringify(request));
          continue;
        }
        check(request.command === "auth" && jid !== "" && minted.get(request.password) === jid, "extauth-stdio: yes to a request without a token minted for its user", () => JSON.stringify(request));
      }
      check(summary.accepted === yes, "extauth-stdio: the summary counts another number of yes", () => `${summary.accepted} vs ${yes}`);
      stats.answers += want.frames.length;
      stats.yes += yes;
    },
    notes: () => [`answers ${stats.answers}, of them yes ${stats.yes}`],
  };
}
