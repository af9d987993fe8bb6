/**
 * The database's schema, as forward migrations: migration N takes a database from
 * `user_version` N to N + 1. They run at open, each in one immediate transaction, so a crash
 * mid-way leaves the previous version, and two processes opening a new file at once migrate it
 * once. Never edit a migration that has shipped: add the next one.
 */

export const MIGRATIONS: readonly string[] = [
  // 1: used tokens, accounts, rosters, waiting subscription requests, offline messages, web sessions.
  `
  CREATE TABLE accounts (
    jid TEXT PRIMARY KEY,
    first_login INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE used_tokens (
    id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE roster_items (
    owner TEXT NOT NULL,
    jid TEXT NOT NULL,
    name TEXT,
    subscription TEXT NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask INTEGER NOT NULL CHECK (ask IN (0, 1)),
    groups TEXT NOT NULL CHECK (json_valid(groups) AND json_type(groups) = 'array'),
    UNIQUE (owner, jid)
  );

  CREATE TABLE subscription_requests (
    owner TEXT NOT NULL,
    requester TEXT NOT NULL,
    PRIMARY KEY (owner, requester)
  ) WITHOUT ROWID;

  CREATE TABLE offline_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    stanza TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes > 0),
    stored_at INTEGER NOT NULL
  );
  CREATE INDEX offline_messages_by_owner ON offline_messages (owner, id);
  -- What each account has waiting, kept in the same transaction as the messages, so checking
  -- the bound costs one row whatever the queue's length.
  CREATE TABLE offline_usage (
    owner TEXT PRIMARY KEY,
    count INTEGER NOT NULL CHECK (count >= 0),
    bytes INTEGER NOT NULL CHECK (bytes >= 0)
  ) WITHOUT ROWID;

  CREATE TABLE web_sessions (
    id_hash TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // 2: one-time password credentials of accounts (docs/otp.md).
  `
  CREATE TABLE otp_credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    jid TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hotp', 'totp')),
    algorithm TEXT NOT NULL CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
    digits INTEGER NOT NULL CHECK (digits IN (6, 8)),
    period INTEGER CHECK ((kind = 'totp' AND period IN (30, 60)) OR (kind = 'hotp' AND period IS NULL)),
    secret BLOB NOT NULL CHECK (length(secret) > 0),
    pin_hash TEXT,
    -- HOTP: the next counter value expected; TOTP: 0.
    counter INTEGER NOT NULL CHECK (counter >= 0),
    -- TOTP: the last time step a code was accepted for.
    last_step INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (jid, name)
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
