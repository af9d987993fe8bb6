/** What a command gets from the process, so commands run the same in tests and in the binary. */
export interface CliIO {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** Where `serve --dev` keeps its data; the working directory by default. */
  cwd?: string;
  /**
   * Starts waiting for the process to be asked to stop (SIGTERM/SIGINT); `serve` calls it and
   * waits. A function, so commands that never wait leave Ctrl-C's default (exit at once) alone.
   */
  stopSignal?: () => Promise<string>;
  /**
   * Registers what to do when the process is asked to reload its configuration (SIGHUP);
   * `serve` calls it once, and `onReload` may then be called any number of times. A function,
   * so commands that never reload keep SIGHUP's default (the process ends).
   */
  reloadSignal?: (onReload: () => void) => void;
}

/** A mistake in how the command was called or configured: exit code 2, one line, no stack. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
/** The data directory's database cannot be opened (EX_IOERR): one line naming the file and the fix. */
export const EXIT_STORAGE = 74;
/** A bug (EX_SOFTWARE): one line on stderr, no stack trace. */
export const EXIT_INTERNAL = 70;

/**
 * A long-running command's output whose reader went away (`serve --dev | head -1`) is no bug: a
 * write to the closed pipe fails with EPIPE, which would otherwise be an unhandled 'error' event
 * (exit 70). The command goes on; `onClosed` runs once (e.g. to say so on the other stream).
 * Other write errors are not hidden.
 */
export function keepRunningWhenClosed(stream: NodeJS.WritableStream, onClosed: () => void = () => {}): void {
  let said = false;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") throw err;
    if (said) return;
    said = true;
    onClosed();
  });
}

export function println(stream: NodeJS.WritableStream, text = ""): void {
  stream.write(`${text}\n`);
}

export async function readAll(stream: NodeJS.ReadableStream, limit = 64 * 1024): Promise<string> {
  let text = "";
  for await (const chunk of stream) {
    text += chunk.toString();
    if (text.length > limit) throw new UsageError(`standard input is longer than ${limit} bytes`);
  }
  return text;
}
