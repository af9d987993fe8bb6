import { describe, expect, test } from "@jest/globals";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkToken } from "../src/index.js";
import { loadConfig } from "../src/app/config/load.js";
import { isPasswordHash, verifyPassword } from "../src/web/demo/password.js";
import { cli } from "./helpers/cli.js";

const ENV = { XTOKEN_DOMAIN: "example.test", XTOKEN_SECRET: "serve-cli-secret", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY", XMPP_REQUIRE_TLS: "false" };

/**
 * Runs `serve` in-process with a stop signal that has already arrived: serve still starts,
 * prints its welcome text, then closes as on SIGTERM. No timing involved.
 */
function serveOnce(argv: string[], env: NodeJS.ProcessEnv, cwd?: string) {
  return cli(argv, env, "", { cwd, stopSignal: Promise.resolve("SIGTERM") });
}

describe("x-token serve (in-process)", () => {
  test("prints the ports the system really picked for port 0", async () => {
    const result = await serveOnce(["serve"], { ...ENV, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" });
    expect(result.code).toBe(0);
    const c2s = Number(result.stdout.match(/xmpp:\/\/127\.0\.0\.1:(\d+)/)?.[1]);
    const http = Number(result.stdout.match(/ws:\/\/127\.0\.0\.1:(\d+)\/xmpp-websocket/)?.[1]);
    expect(c2s).toBeGreaterThan(0);
    expect(http).toBeGreaterThan(0);
    expect(result.stdout + result.stderr).not.toContain(ENV.XTOKEN_SECRET);
  });

  test("a port already in use is one line and exit 2", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const result = await cli(["serve"], { ...ENV, XMPP_C2S_PORT: String(port), XMPP_HTTP_PORT: "0" });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^x-token: cannot listen: .*EADDRINUSE/);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test("--dev reuses its setup on later starts: same keys, same passwords, tokens from either run verify", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "x-token-dev-reuse-"));
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" };
    const first = await serveOnce(["serve", "--dev"], env, cwd);
    const secret = readFileSync(join(cwd, ".x-token-dev", "token-secret"), "utf8");
    const second = await serveOnce(["serve", "--dev"], env, cwd);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(readFileSync(join(cwd, ".x-token-dev", "token-secret"), "utf8")).toBe(secret);
    const users = (text: string) => text.match(/users: (.*)$/m)?.[1];
    expect(users(first.stdout)).toMatch(/^alice \/ \S+, bob \/ \S+$/);
    expect(users(second.stdout)).toBe(users(first.stdout));
    expect(second.stdout).toMatch(/Demo web app: http:\/\/127\.0\.0\.1:\d+\//);
    expect(second.stdout).toMatch(/NODE_EXTRA_CA_CERTS=\.x-token-dev\/cert\.pem/);
    const keys = loadConfig({ file: join(cwd, ".x-token-dev", "config.json"), env: {} }).domains.localhost!.keys;
    for (const run of [first, second]) {
      const token = run.stdout.match(/^ {4}(\d{40} \S{44})$/m)?.[1];
      expect(checkToken(token, { jid: "alice@localhost", keys }).ok).toBe(true);
    }
    // The minted token never reaches stderr (the log).
    expect(first.stderr).not.toMatch(/\d{40} \S{44}/);
  });

  test("mint --config on the dev folder's config.json gives tokens the dev keys accept", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "x-token-dev-mint-"));
    await serveOnce(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" }, cwd);
    const file = join(cwd, ".x-token-dev", "config.json");
    const minted = await cli(["mint", "--config", file, "--jid", "bob@localhost", "--at", "1700000000"]);
    expect(minted.code).toBe(0);
    const verified = await cli(["verify", "--config", file, "--jid", "bob@localhost", "--token", minted.stdout.trim(), "--at", "1700000000"]);
    expect(verified).toMatchObject({ code: 0, stdout: "valid\n" });
  });
});

describe("--dev folder problems and hash-password", () => {
  test("a half-written dev folder (no config.json) is refused, not overwritten", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "x-token-dev-broken-"));
    mkdirSync(join(cwd, ".x-token-dev"));
    writeFileSync(join(cwd, ".x-token-dev", "token-secret"), "half-written-secret");
    const result = await cli(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" }, "", { cwd, stopSignal: Promise.resolve("SIGTERM") });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^x-token: \.x-token-dev\/ has no config\.json/);
    expect(readFileSync(join(cwd, ".x-token-dev", "token-secret"), "utf8")).toBe("half-written-secret");
  });

  test("hash-password prints a scrypt hash of standard input that verifies; short passwords are refused", async () => {
    const result = await cli(["hash-password"], {}, "correct horse battery\n");
    expect(result.code).toBe(0);
    const hash = result.stdout.trim();
    expect(isPasswordHash(hash)).toBe(true);
    expect(await verifyPassword("correct horse battery", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery\n", hash)).toBe(false);
    const short = await cli(["hash-password"], {}, "abc");
    expect(short).toMatchObject({ code: 2, stdout: "" });
    expect(short.stderr).toMatch(/^x-token: the password must be at least 8 characters\n$/);
  });
});
