/**
 * Two real `x-token serve` processes (the compiled binary, each on its own ports) sharing one
 * private redis-server: a token used on one is refused on the other; an address over its failure
 * limit on one is refused on the other; Redis stopped -> logins refused with
 * temporary-auth-failure and one log line, Redis back -> logins work again.
 * Each test logs in from its own loopback address (127.0.0.N), so their failures do not add up.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintToken } from "../src/core/token/mint.js";
import { describeRedis, startRedis, type PrivateRedis } from "./helpers/redis.js";
import { login as loginTo, startServe, type ServeProcess } from "./helpers/serve-process.js";

function login(port: number, localpart: string, token: string, from: string): Promise<string> {
  return loginTo(port, DOMAIN, localpart, token, from);
}

const DOMAIN = "example.test";
const KEY = { tokenSecret: "two-servers-one-redis-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const ENV = {
  XTOKEN_DOMAIN: DOMAIN,
  XTOKEN_SECRET: KEY.tokenSecret,
  XTOKEN_OTP_SEED: KEY.otpSeed,
  XMPP_REQUIRE_TLS: "false",
  XMPP_C2S_PORT: "0",
  XMPP_HTTP_PORT: "0",
};

const PER_IP_LIMIT = 4;

function mint(localpart: string): string {
  return mintToken({ jid: `${localpart}@${DOMAIN}`, key: KEY });
}

describeRedis("two x-token serve processes, one Redis", () => {
  let redis: PrivateRedis;
  let one: ServeProcess;
  let two: ServeProcess;
  const dir = mkdtempSync(join(tmpdir(), "x-token-two-servers-"));

  beforeAll(async () => {
    redis = await startRedis();
    // The file gives the limits and a timeout generous enough for a loaded test machine; the
    // domain, its key and the Redis URL come from the environment.
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ limits: { maxAuthFailuresPerIpPerMinute: PER_IP_LIMIT }, store: { redis: { timeoutMs: 5000 } } }));
    const env = { XTOKEN_REDIS_URL: redis.url, XTOKEN_CONFIG: config };
    [one, two] = await Promise.all([startServe({ ...ENV, ...env }), startServe({ ...ENV, ...env })]);
  });

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("each says where used tokens are remembered, without secrets", () => {
    for (const p of [one, two]) {
      expect(p.stdout()).toMatch(new RegExp(`Used tokens: +Redis at redis://127\\.0\\.0\\.1:${redis.port}\n`));
      expect(p.stdout() + p.stderr()).not.toContain(KEY.tokenSecret);
    }
    expect(one.c2s).not.toBe(two.c2s);
  });

  test("a token used on one server is refused on the other, both ways", async () => {
    const from = "127.0.0.2";
    const first = mint("alice");
    expect(await login(one.c2s, "alice", first, from)).toBe("success");
    expect(await login(two.c2s, "alice", first, from)).toBe("not-authorized");
    expect(await login(one.c2s, "alice", first, from)).toBe("not-authorized");
    const second = mint("alice");
    expect(await login(two.c2s, "alice", second, from)).toBe("success");
    expect(await login(one.c2s, "alice", second, from)).toBe("not-authorized");
  });

  test("the same token sent to both at once logs in exactly once", async () => {
    for (let round = 0; round < 3; round++) {
      const from = `127.0.1.${round + 1}`;
      const token = mint("bob");
      const results = await Promise.all([login(one.c2s, "bob", token, from), login(two.c2s, "bob", token, from)]);
      expect(results.sort()).toEqual(["not-authorized", "success"]);
    }
  });

  test("an address over its failure limit on one server is refused on the other, even with a good token", async () => {
    const attacker = "127.0.2.1";
    for (let i = 0; i < PER_IP_LIMIT; i++) {
      expect(await login(one.c2s, "dave", mintToken({ jid: `dave@${DOMAIN}`, key: { ...KEY, tokenSecret: "a wrong secret, long enough" } }), attacker)).toBe("not-authorized");
    }
    expect(await login(two.c2s, "erin", mint("erin"), attacker)).toBe("temporary-auth-failure");
    expect(await login(one.c2s, "erin", mint("erin"), attacker)).toBe("temporary-auth-failure");
    // Another address, and the same users, are not held back.
    expect(await login(two.c2s, "erin", mint("erin"), "127.0.2.2")).toBe("success");
    expect(await login(one.c2s, "dave", mint("dave"), "127.0.2.2")).toBe("success");
  });

  test("Redis stopped: logins refused with temporary-auth-failure, one log line; Redis back: logins work", async () => {
    const linesBefore = one.stderr().split("\n").length;
    await redis.stop();
    try {
      for (let i = 0; i < 5; i++) {
        expect(await login(one.c2s, "carol", mint("carol"), "127.0.3.1")).toBe("temporary-auth-failure");
        expect(await login(two.c2s, "carol", mint("carol"), "127.0.3.1")).toBe("temporary-auth-failure");
      }
    } finally {
      await redis.start();
    }
    const deadline = Date.now() + 10_000;
    for (const p of [one, two]) {
      let result = "";
      while (result !== "success" && Date.now() < deadline) {
        result = await login(p.c2s, "carol", mint("carol"), "127.0.3.2");
        if (result !== "success") await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(result).toBe("success");
    }
    // Log lines are written in batches once per event-loop turn: the last may follow the login's answer.
    const lineDeadline = Date.now() + 10_000;
    while (!/answers again after/.test(one.stderr()) && Date.now() < lineDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const newLines = one.stderr().split("\n").slice(linesBefore - 1);
    const outageLines = newLines.filter((l) => /Redis at redis:\/\/127\.0\.0\.1:\d+ unavailable/.test(l));
    expect(outageLines).toHaveLength(1);
    expect(outageLines[0]).toMatch(/ warn x-token: /);
    expect(newLines.filter((l) => /answers again after/.test(l))).toHaveLength(1);
  });
});
