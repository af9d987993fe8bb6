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

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string, message: string) => stream.write(`${new Date().toISOString()} ${level} x-token: ${message}\n`);
  return { info: (m) => write("info", m), warn: (m) => write("warn", m) };
}

/** Wraps any logger (the CLI's, a test's) so that every message it gets is one line. */
export function oneLineLogger(log: Logger): Logger {
  return { info: (m) => log.info(oneLine(m)), warn: (m) => log.warn(oneLine(m)) };
}

export const silentLogger: Logger = { info() {}, warn() {} };
