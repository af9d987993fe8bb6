/** Reading a secret from a terminal without echoing it. */
import type { ReadStream } from "node:tty";
import { UsageError } from "./io.js";

/** A terminal we can switch to raw mode (no echo), or null for a pipe or file. */
export function asTerminal(stream: NodeJS.ReadableStream): ReadStream | null {
  const tty = stream as Partial<ReadStream>;
  return tty.isTTY === true && typeof tty.setRawMode === "function" ? (stream as ReadStream) : null;
}

/**
 * Prints `prompt` on `out` and reads one line from the terminal with echo off (raw mode),
 * handling backspace; Enter ends it, Ctrl-C or Ctrl-D cancel. The terminal is restored in
 * every case, and the line is bounded.
 */
export function readHidden(terminal: ReadStream, out: NodeJS.WritableStream, prompt: string, limit = 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    let line = "";
    const finish = (error: Error | null) => {
      terminal.off("data", onData);
      terminal.setRawMode(false);
      terminal.pause();
      out.write("\n");
      if (error) reject(error);
      else resolve(line);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n") return finish(null);
        if (char === "\u0003" || char === "\u0004") return finish(new UsageError("cancelled"));
        if (char === "\u007f" || char === "\b") line = [...line].slice(0, -1).join("");
        else if (char >= " ") line += char;
        if (line.length > limit) return finish(new UsageError(`the password is longer than ${limit} characters`));
      }
    };
    // Raw mode before the prompt: nothing typed after the prompt appears is ever echoed.
    terminal.setRawMode(true);
    terminal.setEncoding("utf8");
    terminal.on("data", onData);
    terminal.resume();
    out.write(prompt);
  });
}
