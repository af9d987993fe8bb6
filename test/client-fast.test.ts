/**
 * connectWithToken with SASL2 and FAST (issue 20 item 5): the real @xmpp/client 0.14 against the
 * real server over STARTTLS (through a counting TCP proxy, so "the same stream" is checked), with
 * its FAST record in a real file. The first login fetches one X-TOKEN and stores the FAST token it
 * asked for; later clients log in with that token while the token source throws; a token the
 * server refuses (forgotten, expired) falls back to one fresh X-TOKEN on the same stream; a
 * rotated token replaces the stored one; a broken store is a FastStoreError, never a crash.
 */
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from "@jest/globals";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectWithToken, xTokenClient, type ConnectWithTokenOptions, type OnlineClient } from "../src/client/connect.js";
import { FastStoreError, memoryFastStore, type FastState } from "../src/client/fast-store.js";
import { fileFastStore } from "../src/client/file-store.js";
import { InsecureStreamError, LoginNotOfferedError } from "../src/client/x-token-mechanism.js";
import { fastXTokenLogin } from "../src/client/fast-login.js";
import { client } from "@xmpp/client";
import { memoryStorage } from "../src/core/records/storage.js";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import type { Storage } from "../src/core/records/storage.js";
import { startCuttingProxy, type CuttingProxy } from "./helpers/cutting-proxy.js";
import { DOMAIN, startTestServer, type TestServer } from "./helpers/server.js";
import { startStrippingProxy } from "./helpers/stripping-proxy.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

const DAY = 24 * 3600;
let t: TestServer;
let storage: Storage;
let proxy: CuttingProxy;
/** The server's clock: real time plus what a test adds (expiry, rotation). */
let skew = 0;
const clock = () => Date.now() / 1000 + skew;

beforeAll(async () => {
  storage = memoryStorage();
  t = await startTestServer({ storage, start: { now: clock, fast: { tokenLifetimeSeconds: 14 * DAY, rotateAfterSeconds: DAY } } });
  proxy = await startCuttingProxy(t.server.ports.c2s!);
});
afterEach(() => {
  skew = 0;
  jest.restoreAllMocks();
});
afterAll(async () => {
  await proxy.close();
  await t.close();
  removeTempDirs();
});

const service = () => `xmpp://127.0.0.1:${proxy.port}`;

/** A token source that mints a fresh X-TOKEN at the server's time, counting its calls. */
function minting(user: string): { source: () => string; calls: () => number } {
  let calls = 0;
  return { source: () => (calls++, t.mint(user, { now: clock() })), calls: () => calls };
}

/** A token source that must not be called: FAST has to do. */
const refusing = () => {
  throw new Error("the backend is down: no X-TOKEN");
};

/** One login through the proxy; resolves with the client and how many connections it took. */
async function login(options: Omit<ConnectWithTokenOptions, "service" | "domain">): Promise<{ xmpp: OnlineClient; connections: number }> {
  const before = proxy.connections();
  const xmpp = await connectWithToken({ service: service(), domain: DOMAIN, ...options });
  return { xmpp, connections: proxy.connections() - before };
}

function readRecord(path: string): FastState & { format: string } {
  return JSON.parse(readFileSync(path, "utf8")) as FastState & { format: string };
}

describe("connectWithToken with FAST, the real @xmpp/client against the real server", () => {
  test("the first login fetches one X-TOKEN and stores the FAST token in a 0600 file; the next client logs in with it while the token source throws", async () => {
    const path = join(tempDir("client-fast-"), "alice.json");
    const printed = [jest.spyOn(console, "log"), jest.spyOn(console, "error"), jest.spyOn(console, "warn"), jest.spyOn(console, "info")];
    const alice = minting("alice");
    const first = await login({ username: "alice", token: alice.source, store: fileFastStore(path) });
    expect(first.xmpp.jid.bare().toString()).toBe(`alice@${DOMAIN}`);
    await first.xmpp.stop();
    expect(alice.calls()).toBe(1);

    expect(statSync(path).mode & 0o777).toBe(0o600);
    const record = readRecord(path);
    expect(Object.keys(record).sort()).toEqual(["format", "jid", "token", "userAgentId"]);
    expect(record).toMatchObject({ format: "xmpp-x-token/fast-state@1", jid: `alice@${DOMAIN}`, token: { mechanism: "HT-SHA-256-NONE" } });
    expect(record.userAgentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Object.keys(record.token!).sort()).toEqual(["expiry", "mechanism", "token"]);
    expect(record.token!.token.length).toBeGreaterThanOrEqual(22); // at least 128 bits, as text
    const expiry = Date.parse(record.token!.expiry) / 1000;
    expect(expiry).toBeGreaterThan(clock() + 13 * DAY);
    expect(expiry).toBeLessThanOrEqual(clock() + 14 * DAY + 5);

    // A new client instance (as after a restart of the app), the backend unreachable: FAST.
    const second = await login({ username: "alice", token: refusing, store: fileFastStore(path) });
    expect(second.connections).toBe(1);
    expect(second.xmpp.jid.bare().toString()).toBe(`alice@${DOMAIN}`);
    await second.xmpp.stop();
    expect(readRecord(path).userAgentId).toBe(record.userAgentId);

    // Never printed by the client nor logged by the server.
    for (const spy of printed) expect(JSON.stringify(spy.mock.calls)).not.toContain(record.token!.token);
    expect(t.logLines.join("\n")).not.toContain(record.token!.token);
  });

  test("a token the server forgot (revoked FAST tokens): one fresh X-TOKEN on the same stream, and the new FAST token stored", async () => {
    const store = memoryFastStore();
    const bob = minting("bob");
    await (await login({ username: "bob", token: bob.source, store })).xmpp.stop();
    const before = (await store.load())!;
    expect(storage.fast.revokeAccount(`bob@${DOMAIN}`)).toBeGreaterThan(0);

    const again = await login({ username: "bob", token: bob.source, store });
    await again.xmpp.stop();
    expect(again.connections).toBe(1); // FAST refused, X-TOKEN accepted, one stream
    expect(bob.calls()).toBe(2);
    const after = (await store.load())!;
    expect(after.userAgentId).toBe(before.userAgentId);
    expect(after.token!.token).not.toBe(before.token!.token);
    // The new token logs in.
    await (await login({ username: "bob", token: refusing, store })).xmpp.stop();
  });

  test("past its expiry the server says credentials-expired: one fresh X-TOKEN on the same stream", async () => {
    const store = memoryFastStore();
    const carol = minting("carol");
    await (await login({ username: "carol", token: carol.source, store })).xmpp.stop();
    const first = (await store.load())!.token!;
    skew = 15 * DAY; // the server's clock only: the client still thinks the token is valid, and tries it
    const again = await login({ username: "carol", token: carol.source, store });
    await again.xmpp.stop();
    expect(again.connections).toBe(1);
    expect(carol.calls()).toBe(2);
    expect((await store.load())!.token!.token).not.toBe(first.token);
    // Without a token source, an expired token is a refused login, not a hang.
    skew = 30 * DAY;
    await expect(login({ username: "carol", token: refusing, store })).rejects.toThrow(/the backend is down/);
  });

  test("a token already past its expiry on the client's clock is not even tried: X-TOKEN at once", async () => {
    const store = memoryFastStore();
    const dave = minting("dave");
    await (await login({ username: "dave", token: dave.source, store })).xmpp.stop();
    const state = (await store.load())!;
    store.save({ ...state, token: { ...state.token!, expiry: "2020-01-01T00:00:00Z" } });
    await (await login({ username: "dave", token: dave.source, store })).xmpp.stop();
    expect(dave.calls()).toBe(2);
    expect(Date.parse((await store.load())!.token!.expiry)).toBeGreaterThan(Date.now());
  });

  test("rotation: a login with a token older than the rotation age gets a new one, stored; the old one stops once the new one was used", async () => {
    const path = join(tempDir("client-fast-"), "erin.json");
    const erin = minting("erin");
    await (await login({ username: "erin", token: erin.source, store: fileFastStore(path) })).xmpp.stop();
    const old = readRecord(path).token!;

    skew = 2 * DAY; // older than rotateAfterSeconds, younger than the lifetime
    await (await login({ username: "erin", token: refusing, store: fileFastStore(path) })).xmpp.stop();
    const rotated = readRecord(path).token!;
    expect(rotated.token).not.toBe(old.token);
    expect(Date.parse(rotated.expiry)).toBeGreaterThan(Date.parse(old.expiry));
    expect(statSync(path).mode & 0o777).toBe(0o600);

    // The new token works (which promotes it on the server)...
    await (await login({ username: "erin", token: refusing, store: fileFastStore(path) })).xmpp.stop();
    // ...and the old one is refused from then on: put it back, and the client has to fetch an X-TOKEN.
    const record = readRecord(path);
    writeFileSync(path, JSON.stringify({ ...record, token: old }));
    const fallback = await login({ username: "erin", token: erin.source, store: fileFastStore(path) });
    await fallback.xmpp.stop();
    expect(fallback.connections).toBe(1);
    expect(erin.calls()).toBe(2);
  });

  test("a corrupted store file: FastStoreError naming it, before any token is fetched; the file is left as it was", async () => {
    const path = join(tempDir("client-fast-"), "frank.json");
    writeFileSync(path, '{"format":"xmpp-x-token/fast-state@1","jid":"frank@example.test","userAgentId":', { mode: 0o600 });
    const frank = minting("frank");
    const failure = login({ username: "frank", token: frank.source, store: fileFastStore(path) });
    await expect(failure).rejects.toBeInstanceOf(FastStoreError);
    await expect(failure).rejects.toThrow(new RegExp(`${path}.*not JSON.*delete it`));
    expect(frank.calls()).toBe(0);
    expect(readFileSync(path, "utf8")).toMatch(/"userAgentId":$/);
    // Deleted as the message says: a clean first login.
    writeFileSync(path, "");
    await (await login({ username: "frank", token: frank.source, store: fileFastStore(path) })).xmpp.stop();
    expect(readRecord(path).jid).toBe("frank@example.test");
  });

  test("a store that cannot be used (its folder is a file): FastStoreError before any token is fetched", async () => {
    const dir = tempDir("client-fast-");
    writeFileSync(join(dir, "not-a-folder"), "");
    const gina = minting("gina");
    const failure = login({ username: "gina", token: gina.source, store: fileFastStore(join(dir, "not-a-folder", "gina.json")) });
    await expect(failure).rejects.toBeInstanceOf(FastStoreError);
    await expect(failure).rejects.toThrow(/cannot (read|write) .*ENOTDIR/);
    expect(gina.calls()).toBe(0);
  });

  test("a record of another account in the store is not used: bob logs in with his own X-TOKEN and the record becomes his", async () => {
    const store = memoryFastStore();
    await (await login({ username: "alice", token: minting("alice").source, store })).xmpp.stop();
    const alices = (await store.load())!;
    const bob = minting("bob");
    await (await login({ username: "bob", token: bob.source, store })).xmpp.stop();
    expect(bob.calls()).toBe(1);
    const bobs = (await store.load())!;
    expect(bobs.jid).toBe(`bob@${DOMAIN}`);
    expect(bobs.userAgentId).not.toBe(alices.userAgentId);
  });

  test("a dropped connection: the client reconnects by itself with FAST, the token source is not called again", async () => {
    const henry = minting("henry");
    const { xmpp } = await login({ username: "henry", token: henry.source });
    const errors: unknown[] = [];
    xmpp.on("error", (err) => errors.push(err)); // the reset, reported as xmpp.js does
    (xmpp.reconnect as unknown as { delay: number }).delay = 10;
    const reconnected = new Promise<void>((resolve) => xmpp.once("online", () => resolve()));
    proxy.cut();
    await reconnected;
    expect(henry.calls()).toBe(1);
    expect(errors).toEqual([expect.objectContaining({ code: "ECONNRESET" })]);
    xmpp.reconnect.stop();
    await xmpp.stop();
  });

  test("a string token: reconnects stay on once the server gave a FAST token", async () => {
    const { xmpp } = await login({ username: "ivan", token: t.mint("ivan") });
    xmpp.on("error", () => {});
    (xmpp.reconnect as unknown as { delay: number }).delay = 10;
    const reconnected = new Promise<void>((resolve) => xmpp.once("online", () => resolve()));
    proxy.cut();
    await reconnected;
    xmpp.reconnect.stop();
    await xmpp.stop();
  });

  test("stop() ends the automatic reconnect: a connection loss reported after stop() does not connect the client again", async () => {
    const xmpp = xTokenClient({ service: service(), domain: DOMAIN, username: "max", token: minting("max").source });
    await xmpp.start(); // reconnect is on (xmpp.js's default; connectWithToken keeps it on for a token function)
    const scheduled = jest.spyOn(xmpp.reconnect as unknown as { scheduleReconnect(): void }, "scheduleReconnect");
    await xmpp.stop();
    scheduled.mockClear(); // the stop's own disconnect
    xmpp.emit("disconnect", { clean: false }); // as a socket whose close comes late would
    expect(scheduled).not.toHaveBeenCalled();
  });

  test("fails closed: with a stored FAST token, a STARTTLS-stripping proxy gets no login of either kind", async () => {
    // This server requires TLS: without STARTTLS it offers no mechanism, so the client says
    // LoginNotOfferedError (client-insecure.test.ts has a server that offers them: InsecureStreamError).
    const store = memoryFastStore();
    const judy = minting("judy");
    await (await login({ username: "judy", token: judy.source, store })).xmpp.stop();
    const stripping = await startStrippingProxy(t.server.ports.c2s!, "strip");
    try {
      const failure = connectWithToken({ service: `xmpp://127.0.0.1:${stripping.port}`, domain: DOMAIN, username: "judy", token: judy.source, store });
      await expect(failure).rejects.toBeInstanceOf(LoginNotOfferedError);
      await expect(failure).rejects.toMatchObject({ condition: "encryption-required" });
      expect(judy.calls()).toBe(1);
      const bytes = stripping.clientBytes();
      expect(bytes).not.toContain("<authenticate");
      expect(bytes).not.toContain("<auth");
      expect(bytes).not.toContain((await store.load())!.token!.token);
    } finally {
      await stripping.close();
    }
  });

  test("fastXTokenLogin in a client built without a top-level username (no stream from): this server still offers FAST, and the persisted user agent makes it work for a new instance", async () => {
    const store = memoryFastStore();
    const kate = minting("kate");
    const build = (token: () => string) => {
      const fastLogin = fastXTokenLogin({ username: "kate", domain: DOMAIN, token, store });
      const xmpp = client({ service: service(), domain: DOMAIN, credentials: fastLogin.credentials });
      fastLogin.attach(xmpp);
      xmpp.reconnect.stop();
      return { xmpp, fastLogin };
    };
    const first = build(kate.source);
    await first.xmpp.start();
    await first.fastLogin.saved();
    await first.xmpp.stop();
    expect((await store.load())!.token).toBeDefined();
    const second = build(refusing);
    await second.xmpp.start();
    expect(second.xmpp.jid?.bare().toString()).toBe(`kate@${DOMAIN}`);
    await second.xmpp.stop();
    expect(kate.calls()).toBe(1);
  });
});

describe("fails closed with a stored FAST token, on a server that offers logins without TLS", () => {
  test("a STARTTLS-stripping proxy: InsecureStreamError, no FAST login and no X-TOKEN sent, the token source not called", async () => {
    const lax = await startTestServer({ requireTls: false });
    const stripping = await startStrippingProxy(lax.server.ports.c2s!, "pass");
    try {
      const store = memoryFastStore();
      let calls = 0;
      const source = () => (calls++, lax.mint("alice"));
      const online = await connectWithToken({ service: `xmpp://127.0.0.1:${stripping.port}`, domain: DOMAIN, username: "alice", token: source, store });
      await online.stop();
      const stored = (await store.load())!.token!;
      stripping.setMode("strip");
      const before = stripping.clientBytes().length;
      const failure = connectWithToken({ service: `xmpp://127.0.0.1:${stripping.port}`, domain: DOMAIN, username: "alice", token: source, store });
      await expect(failure).rejects.toBeInstanceOf(InsecureStreamError);
      expect(calls).toBe(1);
      const bytes = stripping.clientBytes().slice(before);
      expect(bytes).toContain("<stream:stream");
      expect(bytes).not.toContain("<authenticate");
      expect(bytes).not.toContain("<auth");
      expect(bytes).not.toContain(stored.token);
      expect((await store.load())!.token).toEqual(stored); // still there for the next, secure, login
    } finally {
      await stripping.close();
      await lax.close();
    }
  });
});

describe("a FAST token outlives a restart of the server (SQLite storage)", () => {
  test("a new process of the app (a new client, the token from its file) logs in with FAST after the server restarted, while the backend is down", async () => {
    const dataDir = tempDir("client-fast-db-");
    const path = join(tempDir("client-fast-"), "lena.json");
    const first = openSqliteStorage({ dir: dataDir });
    const before = await startTestServer({ storage: first });
    const keys = before.keys;
    const port = before.server.ports.c2s!;
    const target = () => `xmpp://127.0.0.1:${port}`;
    let calls = 0;
    const online = await connectWithToken({ service: target(), domain: DOMAIN, username: "lena", token: () => (calls++, before.mint("lena")), store: fileFastStore(path) });
    await online.stop();
    await before.close();
    first.close();

    const second = openSqliteStorage({ dir: dataDir });
    const after = await startTestServer({ storage: second, keys, ports: { c2s: port } });
    try {
      const again = await connectWithToken({ service: target(), domain: DOMAIN, username: "lena", token: refusing, store: fileFastStore(path) });
      expect(again.jid.bare().toString()).toBe(`lena@${DOMAIN}`);
      await again.stop();
      expect(calls).toBe(1);
    } finally {
      await after.close();
      second.close();
    }
  });
});
