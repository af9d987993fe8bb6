/**
 * `x-token extauth` checks a token against the request's own server (issue 23): with two hosted
 * domains sharing one key list, a token for alice@example.test presented as
 * `auth:alice:other.test:TOKEN` answers 0, whichever domain is configured first; the same token
 * presented for its own domain answers 1. Through the answerer and through the stream adapter,
 * in both protocols (ejabberd's length-prefixed frames and Prosody's lines).
 */
import { describe, expect, test } from "@jest/globals";
import { PassThrough } from "node:stream";
import { TokenAuthority } from "../src/auth/authority.js";
import { MemoryReplayStore } from "../src/core/replay/memory.js";
import { mintToken } from "../src/core/token/mint.js";
import { createExtauthAnswerer } from "../src/extauth/answer.js";
import type { ExtauthProtocol } from "../src/extauth/protocol.js";
import { serveExtauthStream } from "../src/extauth/stdio.js";
import { freshKey } from "./helpers/server.js";

const EXAMPLE = "example.test";
const OTHER = "other.test";

/** Two hosted domains with one key list, in the given order. */
function sharedKeys(order: readonly string[]) {
  const key = freshKey();
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) };
  const authority = new TokenAuthority({ domains: Object.fromEntries(order.map((d) => [d, { keys: [key] }])), replay: new MemoryReplayStore() });
  return { key, lines, authority, answer: createExtauthAnswerer({ authority, log }) };
}

describe.each([
  ["example.test first", [EXAMPLE, OTHER]],
  ["other.test first", [OTHER, EXAMPLE]],
])("two hosted domains sharing keys (%s)", (_name, order) => {
  test("a token for alice@example.test presented as alice at other.test answers no; at example.test yes", async () => {
    const { key, answer, lines } = sharedKeys(order);
    const forExample = mintToken({ jid: `alice@${EXAMPLE}`, key });
    expect(await answer({ command: "auth", user: "alice", server: OTHER, password: forExample })).toBe(false);
    expect(lines).toEqual([`warn auth refused for alice@${OTHER}: bad-signature`]);
    // Refused without being used up: the same token for its own domain still logs in, once.
    expect(await answer({ command: "auth", user: "alice", server: EXAMPLE, password: forExample })).toBe(true);
    expect(await answer({ command: "auth", user: "alice", server: EXAMPLE, password: forExample })).toBe(false);
  });

  test("and the other way round: a token for alice@other.test is no at example.test, yes at other.test", async () => {
    const { key, answer } = sharedKeys(order);
    const forOther = mintToken({ jid: `alice@${OTHER}`, key });
    expect(await answer({ command: "auth", user: "alice", server: EXAMPLE, password: forOther })).toBe(false);
    expect(await answer({ command: "auth", user: "Alice", server: "Other.TEST", password: forOther })).toBe(true);
  });

  test("the accepted login is the request's JID (log line)", async () => {
    const { key, answer, lines } = sharedKeys(order);
    expect(await answer({ command: "auth", user: "bob", server: OTHER, password: mintToken({ jid: `bob@${OTHER}`, key }) })).toBe(true);
    expect(await answer({ command: "auth", user: "bob", server: EXAMPLE, password: mintToken({ jid: `bob@${EXAMPLE}`, key }) })).toBe(true);
    expect(lines).toEqual([`info auth accepted for bob@${OTHER}`, `info auth accepted for bob@${EXAMPLE}`]);
  });

  test("a domain that is not hosted answers no even with a token for a hosted one", async () => {
    const { key, answer } = sharedKeys(order);
    expect(await answer({ command: "auth", user: "alice", server: "third.test", password: mintToken({ jid: `alice@${EXAMPLE}`, key }) })).toBe(false);
    expect(await answer({ command: "auth", user: "alice", server: "third.test", password: mintToken({ jid: "alice@third.test", key }) })).toBe(false);
  });
});

function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(2);
  header.writeUInt16BE(body.length);
  return Buffer.concat([header, body]);
}

/** Runs a whole stream of requests through serveExtauthStream and returns the yes/no answers. */
async function overStream(protocol: ExtauthProtocol, requests: string[], order: readonly string[]): Promise<boolean[]> {
  const { key, authority, lines } = sharedKeys(order);
  const input = new PassThrough();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on("data", (c: Buffer) => chunks.push(c));
  const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) };
  const done = serveExtauthStream({ input, output, protocol, answer: createExtauthAnswerer({ authority, log }), log });
  const texts = requests.map((r) => r.replace(/TOKEN\((.+?)\)/, (_m, jid: string) => mintToken({ jid, key })));
  input.end(protocol === "ejabberd" ? Buffer.concat(texts.map(frame)) : Buffer.from(texts.map((t) => `${t}\n`).join("")));
  await done;
  const out = Buffer.concat(chunks);
  if (protocol === "prosody") return out.toString().split("\n").filter(Boolean).map((a) => a === "1");
  const answers: boolean[] = [];
  for (let at = 0; at < out.length; at += 4) answers.push(out.readUInt16BE(at + 2) === 1);
  return answers;
}

describe.each(["ejabberd", "prosody"] as const)("over the %s protocol", (protocol) => {
  test.each([
    ["example.test first", [EXAMPLE, OTHER]],
    ["other.test first", [OTHER, EXAMPLE]],
  ])("auth:alice:other.test with alice@example.test's token answers 0 (%s)", async (_name, order) => {
    const answers = await overStream(
      protocol,
      [
        `auth:alice:${OTHER}:TOKEN(alice@${EXAMPLE})`,
        `auth:alice:${EXAMPLE}:TOKEN(alice@${OTHER})`,
        `auth:alice:${OTHER}:TOKEN(alice@${OTHER})`,
        `auth:alice:${EXAMPLE}:TOKEN(alice@${EXAMPLE})`,
      ],
      order,
    );
    expect(answers).toEqual([false, false, true, true]);
  });
});
