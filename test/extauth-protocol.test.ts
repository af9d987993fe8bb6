/**
 * The external-auth protocols, tested as an attacker would feed them: every cut of the bytes,
 * garbage, frames over the bound, colons in passwords, input ending inside a frame. The rule
 * under test: one answer per request, in order, and never a lost place in the stream.
 */
import { describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import { PassThrough } from "node:stream";
import { TokenAuthority } from "../src/auth/authority.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import { mintToken } from "../src/core/token/mint.js";
import { createExtauthAnswerer } from "../src/extauth/answer.js";
import {
  encodeAnswer,
  LengthPrefixedReader,
  LineReader,
  parseRequest,
  type ExtauthRequest,
  type RequestFrame,
  type RequestReader,
} from "../src/extauth/protocol.js";
import { serveExtauthStream } from "../src/extauth/stdio.js";
import { freshKey } from "./helpers/server.js";

function frame(text: string | Buffer): Buffer {
  const body = typeof text === "string" ? Buffer.from(text) : text;
  const header = Buffer.alloc(2);
  header.writeUInt16BE(body.length);
  return Buffer.concat([header, body]);
}

function texts(frames: RequestFrame[]): string[] {
  return frames.map((f) => (f.kind === "request" ? f.bytes.toString() : `<oversized ${f.bytes}>`));
}

/** Feeds `data` cut at the given offsets and collects every frame. */
function feed(reader: RequestReader, data: Buffer, cuts: number[]): RequestFrame[] {
  const points = [...new Set(cuts.map((c) => Math.min(c, data.length)))].sort((a, b) => a - b);
  const out: RequestFrame[] = [];
  let at = 0;
  for (const point of [...points, data.length]) {
    out.push(...reader.push(data.subarray(at, point)));
    at = point;
  }
  return out;
}

function request(text: string): ExtauthRequest {
  return parseRequest({ kind: "request", bytes: Buffer.from(text) });
}

describe("ejabberd framing (2-byte big-endian length)", () => {
  const stream = Buffer.concat([frame("auth:alice:example.test:123 abc"), frame(""), frame("isuser:bob:example.test"), frame(Buffer.alloc(300, 0x41))]);
  const expected = ["auth:alice:example.test:123 abc", "", "isuser:bob:example.test", "<oversized 300>"];

  test("every cut of the stream yields the same frames, in order", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 12 }), (cuts) => {
        expect(texts(feed(new LengthPrefixedReader({ maxRequestBytes: 100 }), stream, cuts))).toEqual(expected);
      }),
    );
  });

  test("byte by byte", () => {
    const reader = new LengthPrefixedReader({ maxRequestBytes: 100 });
    expect(texts([...stream].flatMap((b) => reader.push(Buffer.from([b]))))).toEqual(expected);
    expect(reader.pendingBytes).toBe(0);
  });

  test("a frame over the bound is skipped without being kept, and the next frame is read in place", () => {
    const reader = new LengthPrefixedReader({ maxRequestBytes: 64 });
    const huge = frame(Buffer.alloc(65535, 0x3a));
    const frames = [...reader.push(huge.subarray(0, 40000)), ...reader.push(Buffer.concat([huge.subarray(40000), frame("isuser:a:b")]))];
    expect(texts(frames)).toEqual(["<oversized 65535>", "isuser:a:b"]);
  });

  test("a length that claims more than follows leaves the rest pending (EOF mid-frame)", () => {
    const reader = new LengthPrefixedReader();
    expect(reader.push(Buffer.from([0x00, 0x10, 0x61, 0x62]))).toEqual([]);
    expect(reader.pendingBytes).toBe(4);
    const half = new LengthPrefixedReader();
    half.push(Buffer.from([0x00]));
    expect(half.pendingBytes).toBe(1);
  });

  test("answers are 00 02 00 01 and 00 02 00 00", () => {
    expect([...encodeAnswer("ejabberd", true)]).toEqual([0, 2, 0, 1]);
    expect([...encodeAnswer("ejabberd", false)]).toEqual([0, 2, 0, 0]);
  });

  test("the bound must fit the 2-byte length", () => {
    expect(() => new LengthPrefixedReader({ maxRequestBytes: 0 })).toThrow(RangeError);
    expect(() => new LengthPrefixedReader({ maxRequestBytes: 65536 })).toThrow(RangeError);
  });
});

describe("Prosody framing (lines)", () => {
  test("every cut yields the same lines; CRLF is tolerated; an over-long line is one refusal", () => {
    const data = Buffer.from(`auth:a:b:1 x\nisuser:a:b\r\n${"z".repeat(200)}\n\nauth:c:d:2 y\n`);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: data.length }), { maxLength: 10 }), (cuts) => {
        expect(texts(feed(new LineReader({ maxRequestBytes: 100 }), data, cuts))).toEqual(["auth:a:b:1 x", "isuser:a:b", "<oversized 200>", "", "auth:c:d:2 y"]);
      }),
    );
  });

  test("an endless line is never kept: memory stays bounded while it streams in", () => {
    const reader = new LineReader({ maxRequestBytes: 64 });
    for (let i = 0; i < 1000; i++) expect(reader.push(Buffer.alloc(1024, 0x41))).toEqual([]);
    expect(reader.pendingBytes).toBe(1024 * 1000);
    expect(texts(reader.push(Buffer.from("\nisuser:a:b\n")))).toEqual([`<oversized ${1024 * 1000}>`, "isuser:a:b"]);
  });

  test("answers are 1 and 0 lines", () => {
    expect(encodeAnswer("prosody", true).toString()).toBe("1\n");
    expect(encodeAnswer("prosody", false).toString()).toBe("0\n");
  });
});

describe("request parsing", () => {
  test("auth splits on the first three colons only: the password keeps its colons", () => {
    expect(request("auth:alice:example.test:pa:ss:word")).toEqual({ command: "auth", user: "alice", server: "example.test", password: "pa:ss:word" });
    expect(request("auth:alice:example.test:")).toEqual({ command: "auth", user: "alice", server: "example.test", password: "" });
    expect(request("auth:::")).toEqual({ command: "auth", user: "", server: "", password: "" });
  });

  test("every command of the ejabberd protocol", () => {
    expect(request("isuser:bob:example.test")).toEqual({ command: "isuser", user: "bob", server: "example.test" });
    for (const command of ["setpass", "tryregister", "removeuser3", "certauth"]) {
      expect(request(`${command}:bob:example.test:x:y`)).toEqual({ command, user: "bob", server: "example.test" });
    }
    expect(request("removeuser:bob:example.test")).toEqual({ command: "removeuser", user: "bob", server: "example.test" });
  });

  test("a two-field command keeps any further colon in its domain (which then matches no host)", () => {
    expect(request("isuser:bob:example.test:extra")).toEqual({ command: "isuser", user: "bob", server: "example.test:extra" });
  });

  test("garbage is malformed, never an exception", () => {
    expect(request("")).toEqual({ command: "malformed", why: "unknown-command" });
    expect(request("auth")).toEqual({ command: "malformed", why: "missing-fields" });
    expect(request("auth:alice:example.test")).toEqual({ command: "malformed", why: "missing-fields" });
    expect(request("isuser:bob")).toEqual({ command: "malformed", why: "missing-fields" });
    expect(request("AUTH:a:b:c")).toEqual({ command: "malformed", why: "unknown-command" });
    expect(request("__proto__:a:b:c")).toEqual({ command: "malformed", why: "unknown-command" });
    expect(request("constructor:a:b")).toEqual({ command: "malformed", why: "unknown-command" });
    expect(parseRequest({ kind: "request", bytes: Buffer.from([0x61, 0x75, 0x74, 0x68, 0x3a, 0xff, 0x3a, 0x62, 0x3a, 0x63]) })).toEqual({ command: "malformed", why: "not-utf8" });
    expect(parseRequest({ kind: "oversized", bytes: 5000 })).toEqual({ command: "malformed", why: "oversized" });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(() => parseRequest({ kind: "request", bytes: Buffer.from(bytes) })).not.toThrow();
      }),
    );
  });
});

describe("answers and the stream adapter", () => {
  const DOMAIN = "example.test";
  const key = freshKey();
  function setup(options: { isUser?: "hosted" | "none"; disabledUsers?: string[] } = {}) {
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) };
    const authority = new TokenAuthority({ domains: { [DOMAIN]: { keys: [key], disabledUsers: options.disabledUsers ?? [] } }, replay: new MemoryReplayStore() });
    return { answer: createExtauthAnswerer({ authority, log, isUser: options.isUser }), lines };
  }

  test("auth: a token for USER@SERVER once; replayed, other user's, unknown host, bad JID, disabled: no", async () => {
    const { answer, lines } = setup({ disabledUsers: ["mallory"] });
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await answer({ command: "auth", user: "alice", server: DOMAIN, password: token })).toBe(true);
    expect(await answer({ command: "auth", user: "alice", server: DOMAIN, password: token })).toBe(false);
    expect(await answer({ command: "auth", user: "bob", server: DOMAIN, password: mintToken({ jid: `alice@${DOMAIN}`, key }) })).toBe(false);
    expect(await answer({ command: "auth", user: "alice", server: "other.test", password: mintToken({ jid: "alice@other.test", key }) })).toBe(false);
    expect(await answer({ command: "auth", user: "al ice", server: DOMAIN, password: token })).toBe(false);
    expect(await answer({ command: "auth", user: "mallory", server: DOMAIN, password: mintToken({ jid: `mallory@${DOMAIN}`, key }) })).toBe(false);
    // nodeprep as everywhere: "Alice" is alice.
    expect(await answer({ command: "auth", user: "Alice", server: "Example.TEST", password: mintToken({ jid: `alice@${DOMAIN}`, key }) })).toBe(true);
    expect(lines).toEqual([
      `info auth accepted for alice@${DOMAIN}`,
      `warn auth refused for alice@${DOMAIN}: replayed`,
      `warn auth refused for bob@${DOMAIN}: bad-signature`,
      "warn auth refused for alice@other.test: unknown-domain",
      `warn auth refused for "al ice"@"${DOMAIN}": invalid-jid`,
      `warn auth refused for mallory@${DOMAIN}: account-disabled`,
      `info auth accepted for alice@${DOMAIN}`,
    ]);
    expect(lines.join("\n")).not.toContain(token.split(" ")[1]);
  });

  test("isuser: yes for a valid name at a hosted domain; configurable to no", async () => {
    const hosted = setup().answer;
    expect(await hosted({ command: "isuser", user: "anyone", server: DOMAIN })).toBe(true);
    expect(await hosted({ command: "isuser", user: "anyone", server: "other.test" })).toBe(false);
    expect(await hosted({ command: "isuser", user: "a@b", server: DOMAIN })).toBe(false);
    expect(await hosted({ command: "isuser", user: "anyone", server: `${DOMAIN}:x` })).toBe(false);
    expect(await setup({ isUser: "none" }).answer({ command: "isuser", user: "anyone", server: DOMAIN })).toBe(false);
  });

  test("account commands and garbage: no", async () => {
    const { answer } = setup();
    for (const command of ["setpass", "tryregister", "removeuser", "removeuser3", "certauth"] as const) {
      expect(await answer({ command, user: "alice", server: DOMAIN })).toBe(false);
    }
    expect(await answer({ command: "malformed", why: "oversized" })).toBe(false);
  });

  /** Runs the adapter over in-memory streams; returns the output bytes and the log. */
  async function converse(protocol: "ejabberd" | "prosody", chunks: Buffer[], answer = setup().answer) {
    const input = new PassThrough();
    const output = new PassThrough();
    const out: Buffer[] = [];
    output.on("data", (d: Buffer) => out.push(d));
    const lines: string[] = [];
    const done = serveExtauthStream({ input, output, protocol, answer, log: { info: (m) => lines.push(m), warn: (m) => lines.push(m) }, maxRequestBytes: 256 });
    for (const chunk of chunks) input.write(chunk);
    input.end();
    const summary = await done;
    return { out: Buffer.concat(out), summary, lines };
  }

  test("one answer per request, in order, whatever the garbage between good requests", async () => {
    const t1 = mintToken({ jid: `alice@${DOMAIN}`, key });
    const t2 = mintToken({ jid: `bob@${DOMAIN}`, key });
    const stream = Buffer.concat([
      frame(`auth:alice:${DOMAIN}:${t1}`),
      frame(Buffer.from([0xff, 0xfe, 0x00])),
      frame(Buffer.alloc(4000, 0x3a)),
      frame("nonsense"),
      frame(""),
      frame(`auth:bob:${DOMAIN}:${t2}`),
      frame(`auth:alice:${DOMAIN}:${t1}`),
      frame(`isuser:carol:${DOMAIN}`),
    ]);
    // Cut into 7-byte pieces: frames straddle chunk boundaries everywhere.
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 7) chunks.push(stream.subarray(i, i + 7));
    const { out, summary } = await converse("ejabberd", chunks);
    const answers = [];
    for (let i = 0; i < out.length; i += 4) answers.push(out.readUInt16BE(i + 2));
    expect(out.length).toBe(32);
    for (let i = 0; i < out.length; i += 4) expect(out.readUInt16BE(i)).toBe(2);
    expect(answers).toEqual([1, 0, 0, 0, 0, 1, 0, 1]);
    // Three yes answers: two logins and one isuser (an existing account is not a login).
    expect(summary).toEqual({ requests: 8, accepted: 3, logins: 2, usersFound: 1 });
  });

  test("Prosody lines: same answers, one line each", async () => {
    const t1 = mintToken({ jid: `alice@${DOMAIN}`, key });
    const { out } = await converse("prosody", [Buffer.from(`auth:alice:${DOMAIN}:${t1}\n${"x".repeat(1000)}\nauth:alice:${DOMAIN}:${t1}\nisuser:a:${DOMAIN}\n`)]);
    expect(out.toString()).toBe("1\n0\n0\n1\n");
  });

  test("input ending inside a frame: earlier requests answered, the partial one is not, and it says so", async () => {
    const t1 = mintToken({ jid: `alice@${DOMAIN}`, key });
    const { out, lines } = await converse("ejabberd", [frame(`auth:alice:${DOMAIN}:${t1}`), frame(`auth:bob:${DOMAIN}:x`).subarray(0, 9)]);
    expect([...out]).toEqual([0, 2, 0, 1]);
    expect(lines.some((l) => l.includes("input ended inside a request (9 bytes)"))).toBe(true);
  });

  test("an answerer that throws answers no, and the stream goes on", async () => {
    let calls = 0;
    const flaky = async () => {
      if (++calls === 1) throw new Error("boom with a secret 12345");
      return true;
    };
    const { out, lines } = await converse("ejabberd", [frame("isuser:a:b"), frame("isuser:a:b")], flaky);
    expect([...out]).toEqual([0, 2, 0, 0, 0, 2, 0, 1]);
    expect(lines.join("\n")).not.toContain("12345");
  });

  test("a peer that pipelines without reading: at most maxInFlight are pending, reading stops meanwhile", async () => {
    const input = new PassThrough();
    const output = new PassThrough({ highWaterMark: 8 });
    let pending = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const slow = () =>
      new Promise<boolean>((resolve) => {
        pending++;
        most = Math.max(most, pending);
        releases.push(() => {
          pending--;
          resolve(true);
        });
      });
    let settled = false;
    const done = serveExtauthStream({ input, output, protocol: "ejabberd", answer: slow, log: { info() {}, warn() {} }, maxInFlight: 4 }).then((summary) => {
      settled = true;
      return summary;
    });
    input.end(Buffer.concat(Array.from({ length: 100 }, () => frame("isuser:a:b"))));
    let answered = 0;
    output.on("data", (d: Buffer) => (answered += d.length / 4));
    output.pause();
    for (let round = 0; round < 1000 && !settled; round++) {
      await new Promise((r) => setImmediate(r));
      releases.splice(0).forEach((release) => release());
      // Nobody reads the answers for a while: the adapter must stop starting requests.
      if (round === 50) {
        expect(answered).toBe(0);
        expect(output.readableLength).toBeLessThanOrEqual(8 + 4 * 4);
        output.resume();
      }
    }
    const summary = await done;
    expect(answered).toBe(100);
    expect(most).toBeLessThanOrEqual(4);
    expect(summary.requests).toBe(100);
  });
});
