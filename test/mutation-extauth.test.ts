/**
 * Rules of `x-token extauth` that the mutation run (issue 23, `npm run mutate`) found without a
 * test of their own: the request bounds at their exact edges, the partial-header count, the log
 * lines (what a refusal says, names cut at 64 characters), and the stream adapter's flow control:
 * reading stops while requests wait, while maxInFlight are being answered or while the output is
 * not drained, and starts again; a closed output or a failed input stops it, and nothing is
 * answered or read after that.
 */
import { describe, expect, test } from "@jest/globals";
import { PassThrough } from "node:stream";
import { TokenAuthority } from "../src/auth/authority.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import { createExtauthAnswerer } from "../src/extauth/answer.js";
import { LengthPrefixedReader, LineReader, parseRequest } from "../src/extauth/protocol.js";
import { serveExtauthStream } from "../src/extauth/stdio.js";
import { freshKey } from "./helpers/server.js";

function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(2);
  header.writeUInt16BE(body.length);
  return Buffer.concat([header, body]);
}

const tick = () => new Promise((r) => setImmediate(r));

describe("request bounds", () => {
  test("maxRequestBytes from 1 to 65535, both ends included; anything else is a RangeError that says so", () => {
    for (const Reader of [LengthPrefixedReader, LineReader]) {
      expect(() => new Reader({ maxRequestBytes: 1 })).not.toThrow();
      expect(() => new Reader({ maxRequestBytes: 65535 })).not.toThrow();
      for (const bad of [0, 65536, 1.5]) expect(() => new Reader({ maxRequestBytes: bad })).toThrow(new RangeError("maxRequestBytes must be an integer from 1 to 65535"));
    }
  });

  test("ejabberd: a frame of exactly maxRequestBytes is a request; one byte more is oversized", () => {
    const reader = new LengthPrefixedReader({ maxRequestBytes: 10 });
    const frames = reader.push(Buffer.concat([frame("isuser:a:b"), frame("isuser:a:bc")]));
    expect(frames).toEqual([
      { kind: "request", bytes: Buffer.from("isuser:a:b") },
      { kind: "oversized", bytes: 11 },
    ]);
  });

  test("ejabberd: one byte of a header is one byte pending, whatever its value", () => {
    const reader = new LengthPrefixedReader();
    expect(reader.push(Buffer.from([0x05]))).toEqual([]);
    expect(reader.pendingBytes).toBe(1);
    expect(reader.push(Buffer.from([0x00, 0x61]))).toEqual([]);
    expect(reader.pendingBytes).toBe(3);
  });

  test("prosody: a line of exactly maxRequestBytes is a request; one byte more is oversized", () => {
    const reader = new LineReader({ maxRequestBytes: 10 });
    expect(reader.push(Buffer.from("isuser:a:b\nisuser:a:bc\n"))).toEqual([
      { kind: "request", bytes: Buffer.from("isuser:a:b") },
      { kind: "oversized", bytes: 11 },
    ]);
    // Cut in two: the bound counts the line, not the piece.
    const cut = new LineReader({ maxRequestBytes: 10 });
    expect([...cut.push(Buffer.from("isuser")), ...cut.push(Buffer.from(":a:b\n"))]).toEqual([{ kind: "request", bytes: Buffer.from("isuser:a:b") }]);
    expect([...cut.push(Buffer.from("isuser")), ...cut.push(Buffer.from(":a:bc\n"))]).toEqual([{ kind: "oversized", bytes: 11 }]);
  });

  test("parsed commands keep their names", () => {
    expect(parseRequest({ kind: "request", bytes: Buffer.from("isuser:a:b") })).toEqual({ command: "isuser", user: "a", server: "b" });
    expect(parseRequest({ kind: "request", bytes: Buffer.from("removeuser:a:b") })).toEqual({ command: "removeuser", user: "a", server: "b" });
  });
});

describe("what the answerer logs", () => {
  function answerer() {
    const lines: string[] = [];
    const authority = new TokenAuthority({ domains: { "example.test": { keys: [freshKey()] } }, replay: new MemoryReplayStore() });
    const answer = createExtauthAnswerer({ authority, log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) } });
    return { answer, lines };
  }

  test("a refused request says why; account commands say not supported", async () => {
    const { answer, lines } = answerer();
    expect(await answer({ command: "malformed", why: "unknown-command" })).toBe(false);
    expect(await answer({ command: "setpass", user: "alice", server: "example.test" })).toBe(false);
    expect(lines).toEqual(["warn request refused: unknown-command", 'warn setpass refused for "alice"@"example.test": not supported']);
  });

  test("names from a request are cut at 64 characters in a log line", async () => {
    const { answer, lines } = answerer();
    const at64 = `${"a".repeat(63)} `; // invalid (a space), exactly 64 characters
    const at65 = `${"b".repeat(64)} `;
    await answer({ command: "auth", user: at64, server: "example.test", password: "x" });
    await answer({ command: "auth", user: at65, server: "example.test", password: "x" });
    expect(lines).toEqual([`warn auth refused for "${at64}"@"example.test": invalid-jid`, `warn auth refused for "${"b".repeat(64)}..."@"example.test": invalid-jid`]);
  });
});

describe("the stream adapter's flow control", () => {
  /** An answerer whose answers wait until released. */
  function held() {
    const waiting: ((yes: boolean) => void)[] = [];
    let calls = 0;
    const answer = () => {
      calls++;
      return new Promise<boolean>((resolve) => waiting.push(resolve));
    };
    return { answer, waiting, calls: () => calls };
  }

  function adapter(options: { maxInFlight?: number; maxRequestBytes?: number; output?: PassThrough; answer?: (r: unknown) => Promise<boolean> } = {}) {
    const input = new PassThrough();
    const output = options.output ?? new PassThrough();
    const lines: string[] = [];
    const h = held();
    const done = serveExtauthStream({
      input,
      output,
      protocol: "ejabberd",
      answer: options.answer ?? h.answer,
      log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) },
      ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
      ...(options.maxRequestBytes === undefined ? {} : { maxRequestBytes: options.maxRequestBytes }),
    });
    return { input, output, lines, done, ...h };
  }

  test("maxInFlight must be a positive integer", () => {
    for (const bad of [0, -1, 1.5]) {
      expect(() => serveExtauthStream({ input: new PassThrough(), output: new PassThrough(), protocol: "ejabberd", answer: async () => true, log: { info() {}, warn() {} }, maxInFlight: bad })).toThrow(
        new RangeError("maxInFlight must be a positive integer"),
      );
    }
  });

  test("maxRequestBytes reaches the reader: a longer request is read as oversized", async () => {
    const seen: unknown[] = [];
    const answer = async (request: unknown) => (seen.push(request), (request as { command: string }).command === "isuser");
    const { input, output, done } = adapter({ maxRequestBytes: 10, answer });
    const out: Buffer[] = [];
    output.on("data", (d: Buffer) => out.push(d));
    input.end(Buffer.concat([frame("isuser:a:b"), frame("isuser:a:bc")]));
    expect(await done).toMatchObject({ requests: 2, accepted: 1 });
    expect([...Buffer.concat(out)]).toEqual([0, 2, 0, 1, 0, 2, 0, 0]);
    expect(seen).toEqual([
      { command: "isuser", user: "a", server: "b" },
      { command: "malformed", why: "oversized" },
    ]);
  });

  test("reading stops while maxInFlight requests are being answered, and starts again when one is done", async () => {
    const { input, output, done, waiting } = adapter({ maxInFlight: 2 });
    output.resume();
    input.write(frame("isuser:a:b"));
    await tick();
    expect(input.isPaused()).toBe(false); // one in flight, room for another
    input.write(frame("isuser:a:b"));
    await tick();
    expect(waiting.length).toBe(2);
    expect(input.isPaused()).toBe(true);
    waiting.shift()!(true);
    await tick();
    await tick();
    expect(input.isPaused()).toBe(false);
    waiting.shift()!(true);
    input.end();
    expect(await done).toMatchObject({ requests: 2, accepted: 2 });
  });

  test("reading stops while requests read in one chunk wait for their turn", async () => {
    const { input, output, done, waiting } = adapter({ maxInFlight: 1 });
    output.resume();
    input.write(Buffer.concat([frame("isuser:a:b"), frame("isuser:a:b"), frame("isuser:a:b")]));
    await tick();
    expect(waiting.length).toBe(1);
    expect(input.isPaused()).toBe(true);
    for (let i = 0; i < 3; i++) {
      while (waiting.length === 0) await tick();
      waiting.shift()!(i !== 1);
      await tick();
    }
    await tick();
    expect(input.isPaused()).toBe(false);
    input.end();
    expect(await done).toMatchObject({ requests: 3, accepted: 2 });
  });

  test("reading stops while the output is not drained, and starts again when it drains", async () => {
    const output = new PassThrough({ highWaterMark: 1 });
    const { input, done } = adapter({ output, answer: async () => true });
    input.write(frame("isuser:a:b"));
    for (let i = 0; i < 5; i++) await tick();
    expect(output.writableNeedDrain).toBe(true);
    expect(input.isPaused()).toBe(true);
    output.resume(); // the server reads its answers
    for (let i = 0; i < 5; i++) await tick();
    expect(input.isPaused()).toBe(false);
    input.end();
    expect(await done).toMatchObject({ requests: 1, accepted: 1 });
  });

  test("a clean end logs nothing about a partial request", async () => {
    const { input, output, lines, done } = adapter({ answer: async () => true });
    output.resume();
    input.end(frame("isuser:a:b"));
    await done;
    expect(lines).toEqual([]);
  });

  test("an answerer that fails is logged by command, without its error", async () => {
    const { input, output, lines, done } = adapter({ answer: async () => Promise.reject(new Error("secret 1234")) });
    output.resume();
    input.end(frame("isuser:a:b"));
    expect(await done).toMatchObject({ requests: 1, accepted: 0 });
    expect(lines).toEqual(["warn isuser refused: internal error"]);
  });

  test("a closed output stops it: it resolves, answers nothing more, reads nothing more", async () => {
    const { input, output, lines, done, waiting, calls } = adapter();
    const written: Buffer[] = [];
    output.on("data", (d: Buffer) => written.push(d));
    input.write(Buffer.concat([frame("isuser:a:b"), frame("isuser:a:b")]));
    await tick();
    output.emit("error", new Error("EPIPE"));
    expect(await done).toMatchObject({ requests: 2, accepted: 0 });
    expect(lines).toEqual(["warn output closed by the server; stopping"]);
    for (const release of waiting.splice(0)) release(true);
    for (let i = 0; i < 5; i++) await tick();
    expect(written).toEqual([]);
    expect(input.listenerCount("data")).toBe(0);
    input.write(frame("isuser:a:b"));
    await tick();
    expect(calls()).toBe(2);
  });

  test("a failed input stops it once what was read is answered; an error after the end is not logged", async () => {
    const first = adapter({ answer: async () => true });
    first.output.resume();
    first.input.emit("error", new Error("EIO"));
    expect(await first.done).toMatchObject({ requests: 0, accepted: 0 });
    expect(first.lines).toEqual(["warn input failed; stopping"]);

    const second = adapter({ answer: async () => true });
    second.output.resume();
    second.input.end(frame("isuser:a:b"));
    await tick();
    second.input.emit("error", new Error("late"));
    expect(await second.done).toMatchObject({ requests: 1, accepted: 1 });
    expect(second.lines).toEqual([]);
  });
});
