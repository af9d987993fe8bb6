/**
 * Everything that outlives one process, as one handle: an engine (memory, SQLite) opens it, the
 * app hands its parts to the server and the web app. The core defines the shapes; the engines
 * live in src/stores/.
 */
import { MemoryReplayStore } from "../replay/memory.js";
import type { ReplayStore } from "../replay/store.js";
import { MemoryAccounts, type AccountRecords } from "./accounts.js";
import { DEFAULT_OFFLINE_LIMITS, MemoryOfflineMessages, type OfflineLimits, type OfflineMessages } from "./offline.js";
import { MemoryOtpCredentials, type OtpCredentials } from "./otp.js";
import { MemoryFastTokens, type FastTokenRecords } from "./fast-tokens.js";
import type { RosterRecords } from "./roster.js";
import { MemoryClientCertificates, type ClientCertificateRecords } from "../client-certs/records.js";
import type { WebSessionRecords } from "./web-sessions.js";
import { MemoryRevocations, type RevocationRecords } from "./revocations.js";

export interface Storage {
  /** Used tokens. */
  replay: ReplayStore;
  /** Accounts that have logged in (only they get offline messages). */
  accounts: AccountRecords;
  /** Rosters and waiting subscription requests; null: rosters live only in memory. */
  rosters: RosterRecords | null;
  offline: OfflineMessages;
  /** Web sign-in sessions; null: they live only in memory. */
  webSessions: WebSessionRecords | null;
  /** One-time password credentials of accounts (docs/otp.md), read at every such login. */
  otp: OtpCredentials;
  /** FAST tokens (XEP-0484, docs/fast.md): what later logins of a client are checked against. */
  fast: FastTokenRecords;
  /** Accounts revoked (docs/revocation.md): their tokens minted before a time are refused; read at every token login. */
  revocations: RevocationRecords;
  /** Client certificates registered for SASL EXTERNAL (docs/client-certs.md), read at every such login. */
  clientCerts: ClientCertificateRecords;
  /** Whether what is stored survives a restart (false for the memory engine). */
  readonly durable: boolean;
  /** Where it lives, for start-up lines ("in memory", "SQLite in /var/lib/x-token"). */
  readonly where: string;
  close(): void;
}

/**
 * A store that could not do what was asked (a disk full, a file gone read-only). The operation
 * that needed it is refused; its message names the problem, never a secret.
 */
export class StorageError extends Error {
  override readonly name = "StorageError";
}

/**
 * The memory engine: nothing survives the process. For tests, throwaway runs and embedding; the
 * server's banner says so loudly when it runs on it.
 */
export function memoryStorage({ replayMaxEntries = 100_000, offlineLimits = DEFAULT_OFFLINE_LIMITS }: { replayMaxEntries?: number; offlineLimits?: OfflineLimits } = {}): Storage {
  return {
    replay: new MemoryReplayStore({ maxEntries: replayMaxEntries }),
    accounts: new MemoryAccounts(),
    rosters: null,
    offline: new MemoryOfflineMessages(offlineLimits),
    webSessions: null,
    otp: new MemoryOtpCredentials(),
    fast: new MemoryFastTokens(),
    revocations: new MemoryRevocations(),
    clientCerts: new MemoryClientCertificates(),
    durable: false,
    where: "in memory",
    close: () => {},
  };
}
