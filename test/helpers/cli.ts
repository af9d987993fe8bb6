/** Runs x-token commands in-process with captured output, or the compiled binary as a child. */
import { PassThrough, Readable } from "node:stream";
import { spawn, type ChildProcess } from "node:child_process";
import { run } from "../../src/app/cli/main.js";

/**
 * Commands run by tests keep their storage in memory unless the test names one (XTOKEN_STORAGE or
 * XTOKEN_DATA_DIR): the default data directory is under the working directory, which for most
 * tests is this checkout. Tests of the storage itself give a temporary XTOKEN_DATA_DIR.
 */
export function withTestStorage(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return "XTOKEN_STORAGE" in env || "XTOKEN_DATA_DIR" in env ? env : { XTOKEN_STORAGE: "memory", ...env };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

export async function cli(argv: string[], env: NodeJS.ProcessEnv = {}, stdin = "", extra: { cwd?: string; stopSignal?: Promise<string> } = {}): Promise<CliResult> {
  const out = capture();
  const err = capture();
  const { stopSignal, cwd } = extra;
  const code = await run({ argv, env: withTestStorage(env), stdout: out.stream, stderr: err.stream, stdin: Readable.from([stdin]), cwd, stopSignal: stopSignal && (() => stopSignal) });
  return { code, stdout: out.text(), stderr: err.text() };
}

export const BINARY = new URL("../../dist/src/app/cli/main.js", import.meta.url).pathname;

/** Spawns the compiled binary (built by `npm test` before jest runs). */
export function spawnCli(argv: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  return spawn(process.execPath, [BINARY, ...argv], { env: { PATH: process.env.PATH, ...withTestStorage(env) }, cwd, stdio: ["pipe", "pipe", "pipe"] });
}

export function runBinary(argv: string[], env: NodeJS.ProcessEnv = {}, stdin = ""): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(argv, env);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Collects a child's output and waits (bounded) for a pattern in it. */
export function watch(child: ChildProcess) {
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    exited,
    text: () => out,
    async waitFor(pattern: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        const match = out.match(pattern);
        if (match) return match;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
