/**
 * FAST tokens with a real `x-token serve` on a SQLite data directory: a token handed out in a
 * SASL2 success logs in after the process is killed with SIGKILL the instant after (what the
 * server acknowledged is on disk), and the `fast` settings of the configuration file are applied.
 */
import { afterAll, expect, test } from "@jest/globals";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { mintToken } from "../src/core/token/mint.js";
import { startServe, type ServeProcess } from "./helpers/serve-process.js";
import { fastLogin, TokenJar } from "./helpers/fast-client.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const DOMAIN = "example.test";
const KEY = { tokenSecret: "fast-process-test-secret-of-enough-length", otpSeed: "XVGR73KMZH2M4XMY" };
const TLS_DIR = fileURLToPath(new URL("./fixtures/tls/", import.meta.url));

async function kill(p: ServeProcess): Promise<void> {
  const exited = new Promise((resolve) => p.child.once("exit", resolve));
  p.child.kill("SIGKILL");
  await exited;
}

test("a FAST token survives SIGKILL the instant after the success that carried it", async () => {
  const dir = tempDir("fast-process-");
  const config = join(dir, "config.json");
  writeFileSync(
    config,
    JSON.stringify({
      domains: { [DOMAIN]: { keys: [KEY] } },
      tls: { certFile: join(TLS_DIR, "cert.pem"), keyFile: join(TLS_DIR, "key.pem") },
      fast: { tokenLifetimeSeconds: 3600, rotateAfterSeconds: 600 },
    }),
  );
  const env = { XTOKEN_CONFIG: config, XTOKEN_DATA_DIR: join(dir, "data") };
  const agent = randomUUID();
  const jar = new TokenJar();
  const first = await startServe(env);
  try {
    const login = await fastLogin({ port: first.c2s, username: "alice", userAgentId: agent, jar, xToken: mintToken({ jid: `alice@${DOMAIN}`, key: [KEY] }) });
    expect(login.outcome).toBe("online");
    expect(jar.token).not.toBeNull();
  } finally {
    await kill(first);
  }
  // The configured lifetime: an hour, not the default 14 days.
  expect(Math.abs(Date.parse(jar.token!.expiry) / 1000 - (Date.now() / 1000 + 3600))).toBeLessThan(60);
  const second = await startServe(env);
  try {
    const again = await fastLogin({ port: second.c2s, username: "alice", userAgentId: agent, jar });
    expect(again.outcome).toBe("online");
    expect(again.mechanisms).toEqual(["HT-SHA-256-NONE"]);
  } finally {
    await second.stop();
  }
  expect(second.stderr()).toContain(`authenticated alice@${DOMAIN} from 127.0.0.1 via HT-SHA-256-NONE over tcp (SASL2)`);
});
