/**
 * One line per event, greppable and fail2ban-ready. Callers pass JIDs, addresses and reasons,
 * never tokens or stanza contents.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: string, message: string) => stream.write(`${new Date().toISOString()} ${level} x-token: ${message}\n`);
  return { info: (m) => write("info", m), warn: (m) => write("warn", m) };
}

export const silentLogger: Logger = { info() {}, warn() {} };
