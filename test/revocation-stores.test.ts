/**
 * The revocation records (docs/revocation.md) engine by engine: the later time stays; SQLite
 * shares them between handles on one file, numbers every change for the server's one-second
 * read (`since`), and keeps them across a reopen; Redis keeps them under hashed keys, announces
 * them on pub/sub (a message that is no revocation is ignored with a warning), and fails closed:
 * a login whose not-before Redis cannot give is refused, a revocation Redis cannot announce is
 * reported (announced false, HTTP 503) after it was recorded and applied here.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { join } from "node:path";
import { MemoryRevocations } from "../src/core/records/revocations.js";
import { memoryStorage } from "../src/core/records/storage.js";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import { connectRedis, RedisRevocationBus, RedisRevocations, type RedisConnection } from "../src/stores/redis/index.js";
import { TokenAuthority } from "../src/auth/authority.js";
import { AccountRevoker } from "../src/server/revocation.js";
import { mintToken } from "../src/core/token/mint.js";
import { DOMAIN, freshKey, startTestServer, type TestServer } from "./helpers/server.js";
import { describeRedis, startRedis, type PrivateRedis } from "./helpers/redis.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

describe("memory", () => {
  test("the later time stays; past its bound the oldest revocation goes", () => {
    const records = new MemoryRevocations(2);
    expect(records.revoke("a@x", 100)).toEqual({ notBefore: 100 });
    expect(records.revoke("a@x", 50)).toEqual({ notBefore: 100 });
    records.revoke("b@x", 1);
    records.revoke("c@x", 1);
    expect(records.notBefore("a@x")).toBeNull();
    expect(records.notBefore("c@x")).toBe(1);
  });
});

describe("SQLite", () => {
  test("two handles on one file see each other's revocations, numbered in order, and a reopen keeps them", () => {
    const dir = join(tempDir("x-token-revocations-"), "data");
    const one = openSqliteStorage({ dir });
    const two = openSqliteStorage({ dir });
    try {
      expect(one.revocations.latest!()).toBe(0);
      expect(one.revocations.revoke("alice@x", 1000)).toEqual({ notBefore: 1000, seq: 1 });
      expect(two.revocations.notBefore("alice@x")).toBe(1000);
      expect(two.revocations.revoke("bob@x", 2000)).toEqual({ notBefore: 2000, seq: 2 });
      // An earlier time keeps the later one but is still a change the servers must apply (streams).
      expect(one.revocations.revoke("alice@x", 10)).toEqual({ notBefore: 1000, seq: 3 });
      expect(two.revocations.since!(0, 10)).toEqual({
        revocations: [
          { jid: "bob@x", notBefore: 2000, seq: 2 },
          { jid: "alice@x", notBefore: 1000, seq: 3 },
        ],
        cursor: 3,
      });
      expect(two.revocations.since!(2, 10).revocations.map((r) => r.jid)).toEqual(["alice@x"]);
      expect(two.revocations.since!(0, 1)).toEqual({ revocations: [{ jid: "bob@x", notBefore: 2000, seq: 2 }], cursor: 2 });
      expect(two.revocations.since!(3, 10)).toEqual({ revocations: [], cursor: 3 });
      expect(one.revocations.notBefore("carol@x")).toBeNull();
    } finally {
      one.close();
      two.close();
    }
    const again = openSqliteStorage({ dir });
    try {
      expect(again.revocations.notBefore("alice@x")).toBe(1000);
      expect(again.revocations.latest!()).toBe(3);
    } finally {
      again.close();
    }
  });
});

describeRedis("Redis", () => {
  let redis: PrivateRedis;
  const connections: RedisConnection[] = [];
  const servers: TestServer[] = [];
  const connect = async () => {
    const c = await connectRedis({ url: redis.url });
    connections.push(c);
    return c;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(connections.map((c) => c.close()));
    await redis?.close();
  });

  test("keeps the later time under a hashed key (no JID in Redis)", async () => {
    redis = await startRedis();
    const c = await connect();
    const records = new RedisRevocations({ client: c.client, keyPrefix: "t1:", timeoutMs: 2000 });
    expect(await records.notBefore("alice@example.test")).toBeNull();
    expect(await records.revoke("alice@example.test", 1000)).toEqual({ notBefore: 1000 });
    expect(await records.revoke("alice@example.test", 500)).toEqual({ notBefore: 1000 });
    expect(await records.revoke("alice@example.test", 1500)).toEqual({ notBefore: 1500 });
    expect(await records.notBefore("alice@example.test")).toBe(1500);
    const keys = (await c.client.sendCommand(["KEYS", "t1:*"])) as string[];
    expect(keys).toEqual([records.keyFor("alice@example.test")]);
    expect(keys[0]).toMatch(/^t1:revoked:[A-Za-z0-9_-]{43}$/);
    // A value revoke() never writes is not taken as "not revoked".
    await c.client.sendCommand(["SET", records.keyFor("mallory@example.test"), "soon"]);
    await expect(records.notBefore("mallory@example.test")).rejects.toThrow("unexpected revocation value");
  });

  test("the bus delivers each revocation to every subscriber, with its origin; what is no revocation is ignored with a warning", async () => {
    const a = await connect();
    const b = await connect();
    const warnings: string[] = [];
    const received: unknown[] = [];
    const listening = new RedisRevocationBus({ client: b.client, keyPrefix: "t2:", timeoutMs: 2000, warn: (m) => warnings.push(m) });
    const stop = await listening.subscribe((r) => received.push(r));
    const sending = new RedisRevocationBus({ client: a.client, keyPrefix: "t2:", timeoutMs: 2000 });
    await a.client.sendCommand(["PUBLISH", "t2:revocations", "not json"]);
    await a.client.sendCommand(["PUBLISH", "t2:revocations", JSON.stringify({ jid: "x@y", notBefore: "later", origin: "o" })]);
    await sending.publish({ jid: "alice@example.test", notBefore: 1000, origin: "node-1" });
    const deadline = Date.now() + 5000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(received).toEqual([{ jid: "alice@example.test", notBefore: 1000, origin: "node-1" }]);
    expect(warnings).toEqual(["ignored a message on t2:revocations that is not a revocation", "ignored a message on t2:revocations that is not a revocation"]);
    await stop();
  });

  test("a not-before Redis cannot give refuses the login; a revocation it cannot announce is recorded, applied here, and reported (503)", async () => {
    const c = await connect();
    const keys = [freshKey()];
    const revocations = new RedisRevocations({ client: c.client, keyPrefix: "t3:", timeoutMs: 500 });
    const authority = new TokenAuthority({ domains: { [DOMAIN]: { keys } }, revocations });
    const bus = new RedisRevocationBus({ client: c.client, keyPrefix: "t3:", timeoutMs: 500 });
    // Records in memory, the bus on Redis: only the announcement depends on Redis.
    const t = await startTestServer({ requireTls: false, storage: memoryStorage(), start: { revocationBus: bus, revocationEndpoint: { allowFrom: ["127.0.0.1"] } } });
    servers.push(t);
    await redis.stop();
    try {
      expect(await authority.check("alice", DOMAIN, mintToken({ jid: `alice@${DOMAIN}`, key: keys }))).toEqual({ ok: false, reason: "replay-store-error" });
      const report = await t.server.revokeAccount(`alice@${DOMAIN}`);
      expect(report.announced).toBe(false);
      expect(await t.server.storage.revocations.notBefore(`alice@${DOMAIN}`)).toBe(report.notBefore);
      expect(t.logLines.filter((l) => l.includes(`revoked alice@${DOMAIN}`))[0]).toContain("NOT announced to the other nodes (Redis did not answer)");
      const answer = await fetch(`http://127.0.0.1:${t.server.ports.http}/x-token/revoke`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ jid: `bob@${DOMAIN}` }) });
      expect(answer.status).toBe(503);
      expect(await answer.json()).toMatchObject({ jid: `bob@${DOMAIN}`, announced: false, error: "not-announced" });
    } finally {
      await redis.start();
    }
  });
});

describe("AccountRevoker on a shared SQLite file", () => {
  /** A stand-in for a stream: what the revoker reads of it and what it did to it. */
  function stream(bareJid: string, state: "unauthenticated" | "authenticated" | "bound" = "bound") {
    return { bareJid, state, errors: [] as string[], streamError(condition: string) { this.errors.push(condition); } };
  }

  test("applies what another process recorded once, and never its own writes a second time", async () => {
    const dir = join(tempDir("x-token-revoker-"), "data");
    const mine = openSqliteStorage({ dir });
    const cli = openSqliteStorage({ dir });
    const lines: string[] = [];
    const streams: ReturnType<typeof stream>[] = [];
    const revoker = new AccountRevoker({
      records: mine.revocations,
      fast: mine.fast,
      streams: () => streams,
      hosts: () => true,
      log: { info: (m) => lines.push(m), warn: (m) => lines.push(m) },
      now: () => 1_800_000_000,
      pollMs: 3_600_000, // read by hand below
    });
    try {
      await revoker.start();
      const alice = stream("alice@x");
      streams.push(alice);
      await revoker.revoke("alice@x");
      expect(alice.errors).toEqual(["not-authorized"]);
      // A new session after the revocation: reading back this node's own write must not end it.
      const aliceAgain = stream("alice@x");
      streams.push(aliceAgain);
      revoker.readRecorded();
      expect(aliceAgain.errors).toEqual([]);
      // Another process (x-token revoke) records bob: the next read ends his streams, once.
      const bob = stream("bob@x");
      streams.push(bob);
      cli.revocations.revoke("bob@x", 1_800_000_000);
      revoker.readRecorded();
      revoker.readRecorded();
      expect(bob.errors).toEqual(["not-authorized"]);
      expect(lines.filter((l) => l.startsWith("revoked "))).toEqual([
        "revoked alice@x (by the library): tokens minted before 2027-01-15T08:00:00.000Z refused; ended 1 stream(s), removed 0 FAST token(s) here",
        "revoked bob@x (by another process on the database (x-token revoke)): tokens minted before 2027-01-15T08:00:00.000Z refused; ended 1 stream(s), removed 0 FAST token(s) here",
      ]);
      // What was recorded before the revoker started is not applied again at start.
      const later = new AccountRevoker({ records: mine.revocations, streams: () => [stream("bob@x")], hosts: () => true, log: { info: (m) => lines.push(m), warn: (m) => lines.push(m) }, now: () => 1_800_000_000, pollMs: 3_600_000 });
      await later.start();
      later.readRecorded();
      await later.stop();
      expect(lines.filter((l) => l.startsWith("revoked "))).toHaveLength(2);
    } finally {
      await revoker.stop();
      mine.close();
      cli.close();
    }
  });
});
