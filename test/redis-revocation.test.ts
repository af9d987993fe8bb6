/**
 * Revocation across nodes (issue 20 item 4, docs/revocation.md): two real `x-token serve`
 * processes sharing a private redis-server. A revocation through one node's HTTP endpoint ends
 * the account's streams on the other at once (Redis pub/sub) and the other refuses its old
 * tokens (the not-before is in Redis); `x-token revoke` with the same Redis does the same on both.
 * The not-before survives a restart of a node (it lives in Redis, not in the node).
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { mintToken } from "../src/core/token/mint.js";
import { describeRedis, startRedis, type PrivateRedis } from "./helpers/redis.js";
import { runBinary } from "./helpers/cli.js";
import { login, postRevocation, startServe, type ServeProcess } from "./helpers/serve-process.js";
import { alive, plainBoundSession, type RawClient } from "./helpers/server.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

const DOMAIN = "example.test";
const KEY = { tokenSecret: "redis-revocation-secret-0123456", otpSeed: "XVGR73KMZH2M4XMY" };
const REVOKE_SECRET = "Pq81xLz3TvW6mNb2Kc9Rd5Hf0Gs7Ya4J";

const mint = (localpart: string) => mintToken({ jid: `${localpart}@${DOMAIN}`, key: KEY });

async function session(port: number, localpart: string): Promise<RawClient> {
  const client = await plainBoundSession(port, localpart, mint(localpart));
  return client;
}

const post = (port: number, body: string) => postRevocation(port, body, REVOKE_SECRET);


describeRedis("revocation across two x-token serve processes sharing a Redis", () => {
  let redis: PrivateRedis;
  let one: ServeProcess;
  let two: ServeProcess;
  let env: NodeJS.ProcessEnv;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const dir = tempDir("x-token-redis-revocation-");
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ revocation: { secretEnv: "REVOKE_SECRET" }, store: { redis: { timeoutMs: 5000 } } }));
    // Each node keeps the rest in its own memory; what they share is Redis.
    env = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: KEY.otpSeed, XMPP_REQUIRE_TLS: "false", XTOKEN_STORAGE: "memory", XTOKEN_REDIS_URL: redis.url, XTOKEN_CONFIG: config, REVOKE_SECRET };
    [one, two] = await Promise.all([startServe(env), startServe(env)]);
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await Promise.all([one?.stop(), two?.stop()]);
    await redis?.close();
    removeTempDirs();
  });

  test("the endpoint on one node ends alice's streams on both and both refuse her old tokens", async () => {
    const onTwo = await session(two.c2s, "alice");
    const onOne = await session(one.c2s, "alice");
    const bobOnTwo = await session(two.c2s, "bob");
    clients.push(onTwo, onOne, bobOnTwo);
    const now = Math.floor(Date.now() / 1000);
    const answer = await post(one.http, JSON.stringify({ jid: `alice@${DOMAIN}`, notBefore: now + 60 }));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ jid: `alice@${DOMAIN}`, streamsEnded: 1, announced: true });
    for (const client of [onOne, onTwo]) {
      expect(await client.waitFor("</stream:stream>")).toContain("<not-authorized");
      await client.waitForClose();
    }
    await alive(bobOnTwo, "bob-1");
    expect((await two.logged(/revoked alice@example\.test/))[0]).toContain("(by another node): tokens minted before");
    expect(await login(two.c2s, DOMAIN, "alice", mint("alice"))).toBe("not-authorized");
    expect(await login(one.c2s, DOMAIN, "alice", mint("alice"))).toBe("not-authorized");
    expect(await login(two.c2s, DOMAIN, "bob", mint("bob"))).toBe("success");
  });

  test("x-token revoke with the same Redis ends carol's streams on both nodes at once", async () => {
    const onOne = await session(one.c2s, "carol");
    const onTwo = await session(two.c2s, "carol");
    clients.push(onOne, onTwo);
    const result = await runBinary(["revoke", "--jid", `carol@${DOMAIN}`, "--not-before", String(Math.floor(Date.now() / 1000) + 60)], env);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`announced on Redis at redis://127.0.0.1:${redis.port}: running servers end its streams now`);
    for (const client of [onOne, onTwo]) expect(await client.waitFor("</stream:stream>")).toContain("<not-authorized");
    expect(await login(one.c2s, DOMAIN, "carol", mint("carol"))).toBe("not-authorized");
  });

  test("a node started after the revocation refuses the old tokens too (the time is in Redis)", async () => {
    const three = await startServe(env);
    try {
      expect(await login(three.c2s, DOMAIN, "alice", mint("alice"))).toBe("not-authorized");
      await three.logged(/authentication failed for alice@example\.test from 127\.0\.0\.1: revoked$/);
      expect(await login(three.c2s, DOMAIN, "dave", mint("dave"))).toBe("success");
    } finally {
      await three.stop();
    }
  });
});
