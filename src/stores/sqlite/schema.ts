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
  // 3: FAST tokens (XEP-0484), bound to an account, a user agent (SHA-256 of its id, hex) and a
  // mechanism, in two slots (the token in use and the one handed out last). Never the token
  // itself: only what a login is checked against (SHA-256 of the initiator message) and the
  // responder message (docs/fast.md says what a copy of the file gives away). Times: unix seconds.
  `
  CREATE TABLE fast_tokens (
    account TEXT NOT NULL,
    agent_hash TEXT NOT NULL CHECK (length(agent_hash) = 64),
    mechanism TEXT NOT NULL,
    slot TEXT NOT NULL CHECK (slot IN ('current', 'new')),
    verifier BLOB NOT NULL CHECK (length(verifier) = 32),
    responder BLOB NOT NULL CHECK (length(responder) > 0),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > issued_at),
    PRIMARY KEY (account, agent_hash, mechanism, slot)
  ) WITHOUT ROWID;
  CREATE INDEX fast_tokens_by_expiry ON fast_tokens (expires_at);
  `,
  // 4: revocation (docs/revocation.md): X-TOKENs minted before not_before are refused for that
  // account. One row per account, the latest time kept; seq numbers the changes, so a server
  // sharing the file sees what another process (x-token revoke) revoked and ends those streams.
  `
  CREATE TABLE account_revocations (
    account TEXT PRIMARY KEY,
    not_before INTEGER NOT NULL CHECK (not_before >= 0),
    seq INTEGER NOT NULL UNIQUE CHECK (seq > 0),
    revoked_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 5: client certificates registered for SASL EXTERNAL (XEP-0178, XEP-0257).
  `
  CREATE TABLE client_certificates (
    fingerprint TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    der BLOB NOT NULL CHECK (length(der) > 0),
    no_cert_management INTEGER NOT NULL CHECK (no_cert_management IN (0, 1)),
    disabled INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    -- Validity in unix seconds, and the id-on-xmppAddr JIDs, as read from der when registered.
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    xmpp_addrs TEXT NOT NULL CHECK (json_valid(xmpp_addrs) AND json_type(xmpp_addrs) = 'array'),
    added_at INTEGER NOT NULL,
    UNIQUE (account, name)
  ) WITHOUT ROWID;
  CREATE INDEX client_certificates_by_account ON client_certificates (account);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
