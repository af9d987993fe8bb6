/**
 * `x-token extauth` behind a real, private ejabberd (test/helpers/ejabberd.ts): real
 * @xmpp/client logins with PLAIN over STARTTLS, the token as the password.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { mintToken } from "../src/core/token/mint.js";
import type { TokenKey } from "../src/core/token/keys.js";
import { BINARY } from "./helpers/cli.js";
import { ejabberdPrivateFile, ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
import { loginWithPassword } from "./helpers/ejabberd-login.js";
import { freshKey } from "./helpers/server.js";
import { REDIS_SERVER, startRedis, type PrivateRedis } from "./helpers/redis.js";

const unavailable = ejabberdUnavailable();
if (unavailable) console.warn(`skipping the ejabberd + x-token extauth tests: ${unavailable}`);
const describeWithEjabberd = unavailable ? describe.skip : describe;

const DOMAIN = "example.test";

/**
 * The extauth programs' log once `ready` holds for it: the program writes its log lines in
 * batches (at most 100 ms apart), so a line may land just after the login that caused it.
 */
async function extauthLog(ej: RunningEjabberd, ready: (log: string) => boolean): Promise<string> {
  let log = "";
  for (let i = 0; i < 100; i++) {
    log = readFileSync(ej.extauthLog, "utf8");
    if (ready(log)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return log;
}

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

/** ejabberd running our binary as its extauth program, with `config` as the program's config file. */
async function ejabberdWithExtauth(config: object, poolSize: number) {
  const file = ejabberdPrivateFile("x-token.json", JSON.stringify(config));
  try {
    const ej = await startEjabberd({ domains: [DOMAIN], auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file.path], poolSize } });
    return { ej, remove: file.remove };
  } catch (err) {
    file.remove();
    throw err;
  }
}

describeWithEjabberd("ejabberd with x-token extauth (one worker, the in-memory replay store)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let remove = () => {};
  beforeAll(async () => {
    ({ ej, remove } = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key], disabledUsers: ["mallory"] } } }, 1));
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
  }, 30_000);

  test("a token logs in once; the same token again, another user's token and a disabled user's are refused", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "bob", mintToken({ jid: `alice@${DOMAIN}`, key }))).toBe("not-authorized");
    expect(await loginWithPassword(ej, "mallory", mintToken({ jid: `mallory@${DOMAIN}`, key }))).toBe("not-authorized");
    // nodeprep as everywhere: "Carol" typed by the user is carol.
    expect(await loginWithPassword(ej, "Carol", mintToken({ jid: `carol@${DOMAIN}`, key }))).toBe(`online carol@${DOMAIN}/test`);
    const log = await extauthLog(ej, (text) => text.includes("auth accepted for carol@"));
    expect(log).toContain(`auth refused for alice@${DOMAIN}: replayed`);
    expect(log).toContain(`auth refused for bob@${DOMAIN}: bad-signature`);
    expect(log).toContain(`auth refused for mallory@${DOMAIN}: account-disabled`);
    expect(log).not.toContain(token.split(" ")[1]!);
  });

  test("a token from another key is refused", async () => {
    expect(await loginWithPassword(ej, "alice", mintToken({ jid: `alice@${DOMAIN}`, key: freshKey() }))).toBe("not-authorized");
  });
});

describeWithEjabberd("ejabberd with auth_use_cache left on (why docs/ejabberd.md requires false)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let remove = () => {};
  beforeAll(async () => {
    const file = ejabberdPrivateFile("x-token.json", JSON.stringify({ domains: { [DOMAIN]: { keys: [key] } } }));
    remove = file.remove;
    ej = await startEjabberd({ domains: [DOMAIN], auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file.path], poolSize: 1, useCache: true } });
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
  }, 30_000);

  test("a used token logs in again from ejabberd's cache, and the program is never asked", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    // Give a line from the program time to arrive: none about a second request must.
    await new Promise((r) => setTimeout(r, 300));
    const log = readFileSync(ej.extauthLog, "utf8");
    expect(log.match(/auth accepted for alice@/g)).toHaveLength(1);
    expect(log).not.toContain("replayed");
  });
});

const describeWithEjabberdAndRedis = unavailable || !REDIS_SERVER ? describe.skip : describe;
if (!unavailable && !REDIS_SERVER) console.warn("skipping ejabberd + x-token extauth + Redis: redis-server is not installed (apt-get install redis-server)");

describeWithEjabberdAndRedis("ejabberd with x-token extauth, two workers sharing a private Redis", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let redis: PrivateRedis;
  let remove = () => {};
  beforeAll(async () => {
    redis = await startRedis();
    ({ ej, remove } = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key] } }, store: { redis: { url: redis.url, timeoutMs: 250 } } }, 2));
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
    await redis?.close();
  }, 30_000);

  const fresh = (user: string) => mintToken({ jid: `${user}@${DOMAIN}`, key });

  test("a token logs in once: the same token is refused by both workers; another user's token is refused", async () => {
    const token = fresh("alice");
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    // ejabberd picks the worker round-robin: four more tries reach both of them.
    for (let i = 0; i < 4; i++) expect(await loginWithPassword(ej, "alice", token)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "bob", fresh("alice"))).toBe("not-authorized");
    const log = await extauthLog(
      ej,
      (text) => count(text, /auth refused for bob@/g) === 1 && count(text, /replayed/g) === 4 && count(text, /used tokens remembered Redis/g) === 2,
    );
    expect(log.match(/auth refused for alice@example\.test: replayed/g)).toHaveLength(4);
    // Both workers said so: each logs its own start-up line, with the shared store.
    expect(log.match(/used tokens remembered Redis at redis:\/\/127\.0\.0\.1:\d+$/gm)).toHaveLength(2);
  });

  test("Redis stopped: logins are refused (fail closed, one log line per outage and worker); Redis back: logins work again", async () => {
    await redis.stop();
    for (let i = 0; i < 4; i++) expect(await loginWithPassword(ej, "carol", fresh("carol"))).toBe("not-authorized");
    let log = await extauthLog(ej, (text) => count(text, /auth refused for carol@example\.test: replay-store-error/g) === 4);
    expect(log.match(/auth refused for carol@example\.test: replay-store-error/g)).toHaveLength(4);
    const outageLines = log.split("\n").filter((line) => line.includes("unavailable"));
    expect(outageLines.length).toBeGreaterThanOrEqual(1);
    expect(outageLines.length).toBeLessThanOrEqual(2); // one per worker, not one per login

    await redis.start();
    let answer = "";
    // The workers reconnect by themselves (backoff up to 1 s): bounded retries, a fresh token each.
    for (let i = 0; i < 40 && !answer.startsWith("online"); i++) {
      answer = await loginWithPassword(ej, "carol", fresh("carol"));
      if (!answer.startsWith("online")) await new Promise((r) => setTimeout(r, 250));
    }
    expect(answer).toBe(`online carol@${DOMAIN}/test`);
    // And single use holds again across the workers.
    const token = fresh("dave");
    expect(await loginWithPassword(ej, "dave", token)).toBe(`online dave@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "dave", token)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "dave", token)).toBe("not-authorized");
    log = await extauthLog(ej, (text) => text.includes("auth refused for dave@") && text.includes("answers again after"));
    expect(log).toMatch(/answers again after/);
    expect(log).not.toContain(token.split(" ")[1]!);
  });
});
