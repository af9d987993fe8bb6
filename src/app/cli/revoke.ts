/**
 * `x-token revoke`: revokes an account (docs/revocation.md) in the storage the configuration
 * names, while `x-token serve` runs or not. Without Redis the revocation goes into the data
 * directory's SQLite database, which every login reads and which a running server reads every
 * second to end the account's streams; with store.redis it goes into Redis and is announced on
 * its pub/sub channel, so every node ends the streams at once. Either way it is committed before
 * the command says so: it survives the server being killed the next instant.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/load.js";
import { DEV_DIR } from "./dev-setup.js";
import type { AppConfig } from "../config/types.js";
import { dataDirectory } from "../stores.js";
import { openSqliteStorage, type SqliteStorage } from "../../stores/sqlite/index.js";
import { connectRedis, RedisRevocationBus, RedisRevocations, type RedisConnection } from "../../stores/redis/index.js";
import { AccountRevoker, RevocationError } from "../../server/revocation.js";
import { silentLogger } from "../../server/log.js";
import { systemClock } from "../../core/clock.js";
import { parseFlags, unixSeconds } from "./args.js";
import { EXIT_OK, EXIT_REFUSED, println, UsageError, type CliIO } from "./io.js";

export const REVOKE_HELP = `Usage: x-token revoke --jid JID [--not-before UNIX_SECONDS] [--config FILE | --dev]

Revokes an account, as a web app does when it signs a user out or bans them: its X-TOKENs
minted before the time (now unless --not-before) are refused from now on, its FAST tokens are
removed, and running servers end its streams (every resource, TCP and WebSocket) with a
not-authorized stream error. The time is compared at the tokens' 30-second time steps: a token
minted in the same step as the revocation is refused too, so a new one works at the latest 30 s
later (see docs/revocation.md). --not-before may be at most a day ahead (a temporary ban).

Where: the SQLite database of the data directory (XTOKEN_DATA_DIR or storage.dir), which every
login reads and a running server reads every second; with store.redis (XTOKEN_REDIS_URL) in
Redis instead, announced at once to every server sharing it. Configuration as for serve
(--config FILE or XTOKEN_CONFIG, XTOKEN_DOMAIN, ...); --dev: the one \`serve --dev\` made in
./${DEV_DIR}/ and its data directory. Exit 0 revoked; 1 recorded but the
servers on Redis could not be told (run it again); 2 a usage mistake; 74 the database.`;

export async function revoke(io: CliIO): Promise<number> {
  const flags = parseFlags("revoke", io.argv, { jid: { type: "string" }, "not-before": { type: "string" }, config: { type: "string" }, dev: { type: "boolean" } });
  if (flags.help) return println(io.stdout, REVOKE_HELP), EXIT_OK;
  if (flags.jid === undefined) throw new UsageError("revoke: --jid is required");
  const notBefore = unixSeconds(flags["not-before"], "--not-before");
  if (notBefore !== undefined && !Number.isInteger(notBefore)) throw new UsageError("revoke: --not-before must be whole unix seconds");
  if (flags.dev && flags.config !== undefined) throw new UsageError("revoke: give either --dev or --config FILE");
  const cwd = io.cwd ?? process.cwd();
  // --dev: serve --dev's own configuration and data directory, as it made them.
  const devDir = flags.dev ? join(cwd, DEV_DIR) : null;
  if (devDir && !existsSync(join(devDir, "config.json"))) throw new UsageError(`revoke: --dev: no ${DEV_DIR}/config.json here (run x-token serve --dev once in this folder)`);
  const config = loadConfig({ file: devDir ? join(devDir, "config.json") : flags.config, env: devDir ? { ...io.env, XTOKEN_CONFIG: undefined } : io.env, role: "verifier" });
  const redisSettings = config.store?.redis ?? null;
  if (!redisSettings && config.storage?.engine === "memory") {
    throw new UsageError("revoke: the storage engine is memory (XTOKEN_STORAGE or storage.engine), which no other process sees: revoke through the running server (its HTTP endpoint, docs/revocation.md) or configure SQLite or Redis");
  }
  // The database for FAST tokens (and the revocation itself without Redis); shared with a
  // running server (not held for this process alone).
  const database = config.storage?.engine === "memory" ? null : openDatabase(config, cwd, devDir ? join(devDir, "data") : undefined);
  let redis: RedisConnection | null = null;
  try {
    if (redisSettings) redis = await connectRedis({ url: redisSettings.url, firstConnectWaitMs: Math.max(2000, redisSettings.timeoutMs) });
    const records = redis ? new RedisRevocations({ client: redis.client, keyPrefix: redisSettings!.keyPrefix, timeoutMs: redisSettings!.timeoutMs }) : database!.revocations;
    const bus = redis ? new RedisRevocationBus({ client: redis.client, keyPrefix: redisSettings!.keyPrefix, timeoutMs: redisSettings!.timeoutMs }) : null;
    const revoker = new AccountRevoker({
      records,
      fast: database?.fast ?? null,
      bus,
      streams: () => [],
      hosts: (domain) => Object.hasOwn(config.domains, domain),
      log: silentLogger,
      now: systemClock,
    });
    let report;
    try {
      report = await revoker.revoke(flags.jid, { ...(notBefore === undefined ? {} : { notBefore }), source: "cli" });
    } catch (err) {
      if (err instanceof RevocationError) throw new UsageError(`revoke: ${err.message}`);
      if (redis) throw new UsageError(`revoke: Redis at ${redis.where} did not record the revocation (${err instanceof Error ? err.message : String(err)}); nothing was revoked`);
      throw err;
    }
    const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
    println(io.stdout, `revoked ${report.jid}: tokens minted before ${iso(report.notBefore)} are refused (new ones from ${iso(report.acceptedFrom)}); ${report.fastTokensRevoked} FAST token(s) removed`);
    if (!redis) {
      println(io.stdout, `running servers on ${database!.path} end its streams within a second`);
      return EXIT_OK;
    }
    if (report.announced) {
      println(io.stdout, `announced on Redis at ${redis.where}: running servers end its streams now`);
      return EXIT_OK;
    }
    println(io.stderr, `x-token: revoke: recorded in Redis, but the announcement to running servers failed: their streams of ${report.jid} stay until you run this again`);
    return EXIT_REFUSED;
  } finally {
    await redis?.close();
    database?.close();
  }
}

function openDatabase(config: AppConfig, cwd: string, defaultDir: string | undefined): SqliteStorage {
  const settings = config.storage;
  return openSqliteStorage({
    dir: dataDirectory(settings, { cwd, ...(defaultDir ? { defaultDir } : {}) }),
    ...(settings ? { synchronous: settings.synchronous, ...(settings.maxBytes !== null ? { maxBytes: settings.maxBytes } : {}) } : {}),
  });
}
