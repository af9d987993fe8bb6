/**
 * The project's own Redis connection (node-redis, the `redis` package), for when the
 * configuration names a URL. It connects in the background and reconnects by itself: a Redis
 * that is down at start-up or goes away later only makes logins fail closed meanwhile.
 * Commands are never queued while disconnected and the queue of unanswered commands is bounded,
 * so an outage costs no memory per login.
 */
import type { RedisClientType } from "redis";
import { OutageReporter, type StoreLog } from "./outage.js";

export interface RedisConnectionOptions {
  /** redis://[[user]:password@]host[:port][/db] or rediss:// for TLS. */
  url: string;
  log?: StoreLog;
  /** Most commands waiting for an answer at once (default 10000); more are refused at once. */
  maxPendingCommands?: number;
  /**
   * How long connectRedis waits for the first connection (default 2000 ms). After that it
   * returns anyway: the outage is logged, logins fail closed, and the connection keeps trying.
   */
  firstConnectWaitMs?: number;
}

export interface RedisConnection {
  /** The node-redis client (also usable as a RedisCommandClient). */
  client: RedisClientType;
  /** The URL without its user and password, for log lines. */
  readonly where: string;
  /** Reports the connection's own errors (lost, refused) once per outage. */
  readonly outage: OutageReporter;
  close(): Promise<void>;
}

export class RedisUrlError extends Error {
  override readonly name = "RedisUrlError";
}

/** The URL as it may be logged: scheme, host, port and database, never the user or password. */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError("the Redis URL is not a URL (expected redis://host:port)");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new RedisUrlError(`the Redis URL must start with redis:// or rediss://, not ${parsed.protocol}//`);
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
}

/** Waits between reconnection attempts: 50 ms doubling up to 1 s, never giving up. */
function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 10), 1000) + Math.floor(Math.random() * 100);
}

export async function connectRedis(options: RedisConnectionOptions): Promise<RedisConnection> {
  const where = redactRedisUrl(options.url);
  const log = options.log ?? { info() {}, warn() {} };
  // Loaded only when a Redis URL is configured: the library does not need it otherwise.
  const { createClient } = await import("redis");
  const client: RedisClientType = createClient({
    url: options.url,
    disableOfflineQueue: true,
    commandsQueueMaxLength: options.maxPendingCommands ?? 10_000,
    socket: { connectTimeout: 5000, reconnectStrategy: reconnectDelay },
  });
  const outage = new OutageReporter(`Redis at ${where}`, log);
  // Without an "error" listener node-redis would crash the process on a lost connection.
  client.on("error", (err: unknown) => outage.failed(err));
  client.on("ready", () => outage.answered());
  // Resolves when first connected; a Redis that is down now is retried in the background.
  const connected = client.connect().then(
    () => true,
    () => false, // rejected only when the client is closed before it ever connected
  );
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), options.firstConnectWaitMs ?? 2000);
  });
  if (!(await Promise.race([connected, waited]))) outage.failed(new Error("not connected yet"));
  clearTimeout(timer);
  return {
    client,
    where,
    outage,
    async close() {
      client.destroy();
    },
  };
}
