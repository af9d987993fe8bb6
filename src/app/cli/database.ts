/** The data directory's database, for the commands that manage what the server reads at login (otp, cert). */
import type { AppConfig } from "../config/types.js";
import { dataDirectory } from "../stores.js";
import { openSqliteStorage, type SqliteStorage } from "../../stores/sqlite/index.js";
import { UsageError, type CliIO } from "./io.js";

/** The database the server uses; a memory configuration has none to manage (`what`: "one-time password credentials live"). */
export function openManagedDatabase(config: AppConfig, io: CliIO, command: string, what: string): SqliteStorage {
  if (config.storage?.engine === "memory") {
    throw new UsageError(`${command}: the storage engine is memory (XTOKEN_STORAGE or storage.engine): ${what} in the SQLite database of the server's data directory`);
  }
  const settings = config.storage;
  return openSqliteStorage({
    dir: dataDirectory(settings, { cwd: io.cwd ?? process.cwd() }),
    ...(settings ? { synchronous: settings.synchronous, ...(settings.maxBytes !== null ? { maxBytes: settings.maxBytes } : {}) } : {}),
  });
}
