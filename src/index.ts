/**
 * xmpp-x-token: X-TOKEN tokens for XMPP, compatible with Prosody's mod_auth_token. The root is
 * the core only (mint, verify, keys, JID preparation, the replay store interface and the
 * in-memory store, the clock): no I/O, no ws, no @xmpp/*, no node:net or node:http.
 * The rest has its own entry point: xmpp-x-token/auth, /server, /config, /web, /client,
 * /strophe, /redis (see package.json "exports").
 */
export * from "./core/otp/index.js";
export * from "./core/token/index.js";
export { systemClock, type Clock } from "./core/clock.js";
export { nodeprep, nameprep, prepareBareJid, normaliseBareJid, InvalidJidError, type BareJid } from "./core/jid/prep.js";
export type { ReplayStore, ClaimResult } from "./core/replay/store.js";
export { MemoryReplayStore, type MemoryReplayStoreOptions } from "./core/replay/memory.js";
