/**
 * One line per event, greppable and fail2ban-ready. Callers pass JIDs, addresses and reasons,
 * never tokens or stanza contents.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * One event stays one line: control characters (a newline smuggled into a JID or an address
 * could forge a second line for fail2ban) are written as \xNN.
 */
export function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Lines held before a write is forced; a batch waits at most FLUSH_MS anyway. */
const MAX_BATCHED_LINES = 256;
const FLUSH_MS = 100;
/** Loggers with lines not yet written, flushed when the process exits. */
const unflushed = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Timestamped lines to a stream (stderr by default), written in batches: a storm of logins logs
 * a line each, and one write per line is a system call (and a wake-up of whoever reads the pipe)
 * per login. Nothing is dropped: at most MAX_BATCHED_LINES wait, for at most FLUSH_MS, and what
 * waits is written when the process exits (a SIGKILL loses at most those 100 ms of lines).
 */
export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  let pending = "";
  let lines = 0;
  const flush = () => {
    unflushed.delete(flush);
    if (lines === 0) return;
    const text = pending;
    pending = "";
    lines = 0;
    stream.write(text);
  };
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const f of [...unflushed]) f();
    });
  }
  const write = (level: string, message: string) => {
    pending += `${new Date().toISOString()} ${level} x-token: ${message}\n`;
    if (++lines >= MAX_BATCHED_LINES) return flush();
    if (lines === 1) {
      unflushed.add(flush);
      setTimeout(flush, FLUSH_MS).unref();
    }
  };
  return { info: (m) => write("info", m), warn: (m) => write("warn", m) };
}

/** Wraps any logger (the CLI's, a test's) so that every message it gets is one line. */
export function oneLineLogger(log: Logger): Logger {
  return { info: (m) => log.info(oneLine(m)), warn: (m) => log.warn(oneLine(m)) };
}

export const silentLogger: Logger = { info() {}, warn() {} };
