import { afterAll, describe, expect, test } from "@jest/globals";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { PassThrough, Readable, Writable } from "node:stream";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { checkToken } from "../src/index.js";
import { loadConfig } from "../src/app/config/load.js";
import { isPasswordHash, verifyPassword } from "../src/auth/password/scrypt-hash.js";
import { run } from "../src/app/cli/main.js";
import { cli, spawnCli } from "./helpers/cli.js";
import { RawClient } from "./helpers/server.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

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
    const result = await serveOnce(["serve"], { ...ENV, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" });
    expect(result.code).toBe(0);
    const c2s = Number(result.stdout.match(/xmpp:\/\/127\.0\.0\.1:(\d+)/)?.[1]);
    const http = Number(result.stdout.match(/ws:\/\/127\.0\.0\.1:(\d+)\/xmpp-websocket/)?.[1]);
    expect(c2s).toBeGreaterThan(0);
    expect(http).toBeGreaterThan(0);
    expect(result.stdout + result.stderr).not.toContain(ENV.XTOKEN_SECRET);
  });

  test.each([
    ["c2s", "XMPP_C2S_PORT", /\(c2s\) is already in use; choose another port with XMPP_C2S_PORT \(or listeners\.c2sPort/],
    ["http", "XMPP_HTTP_PORT", /\(http\) is already in use; choose another port with XMPP_HTTP_PORT \(or listeners\.httpPort/],
  ])("a %s port already in use is one line naming %s, exit 2, and nothing left listening", async (_listener, variable, message) => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const env = { ...ENV, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", [variable]: String(port) };
      const result = await cli(["serve"], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`^x-token: cannot listen: 127\\.0\\.0\\.1:${port} `));
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stdout).toBe("");
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test.each([["999.1.1.1"], ["no-such-host.invalid"]])("XMPP_HOST=%s is a usage error naming XMPP_HOST (exit 2, not an internal error)", async (host) => {
    const result = await cli(["serve"], { ...ENV, XMPP_HOST: host, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`x-token: cannot listen: "${host}" is not an IP address or a host name this machine knows; change XMPP_HOST (or listeners.host in the configuration file)\n`);
  });

  test("--dev with --config is refused before anything listens: one line, exit 2", async () => {
    const cwd = tempDir("x-token-dev-config-");
    const result = await serveOnce(["serve", "--dev", "--config", join(cwd, "other.json")], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    expect(result).toMatchObject({ code: 2, stdout: "" });
    expect(result.stderr).toBe("x-token: serve: --dev runs on its own configuration (.x-token-dev/config.json); give either --dev or --config FILE\n");
    expect(existsSync(join(cwd, ".x-token-dev"))).toBe(false);
  });

  test("--dev says that it ignores XTOKEN_CONFIG", async () => {
    const cwd = tempDir("x-token-dev-env-config-");
    const result = await serveOnce(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0", XTOKEN_CONFIG: "/nonexistent.json" }, cwd);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^x-token: --dev: XTOKEN_CONFIG is ignored, the configuration is \.x-token-dev\/config\.json$/m);
  });

  test("--dev in a folder it cannot write to is a usage error about the folder, not about listening", async () => {
    // root writes through permission bits, so as root take a folder nobody may create files in.
    let cwd = "/sys";
    if (process.getuid?.() !== 0) {
      cwd = tempDir("x-token-dev-readonly-");
      chmodSync(cwd, 0o555);
    }
    const result = await serveOnce(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    expect(result).toMatchObject({ code: 2, stdout: "" });
    expect(result.stderr).toMatch(new RegExp(`^x-token: --dev keeps its keys in ${cwd}/\\.x-token-dev/ and cannot create them there \\(.+\\); start it from a folder you can write to\n$`));
    expect(result.stderr).not.toMatch(/listen/);
  });

  test("the banner tells the truth: no STARTTLS without a certificate, aligned columns", async () => {
    const plain = await serveOnce(["serve"], { ...ENV, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" });
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toMatch(/STARTTLS/);
    expect(plain.stdout).toMatch(/^ {2}XMPP c2s \(no TLS\): +xmpp:\/\/127\.0\.0\.1:\d+$/m);
    // The banner's rows (after its title, up to the first blank line): values in one column, one space after the longest label.
    const bannerRows = (out: string) => out.split("\n\n")[0]!.split("\n").slice(1).filter((line) => line !== "");
    const valueColumns = bannerRows(plain.stdout).map((line) => line.match(/^ {2}[^ ].*?: +/)?.[0].length);
    expect(valueColumns.length).toBeGreaterThanOrEqual(3);
    expect(new Set(valueColumns).size).toBe(1);
    expect(bannerRows(plain.stdout).some((line) => /^ {2}[^ ].*?: [^ ]/.test(line))).toBe(true);

    const cwd = tempDir("x-token-dev-banner-");
    const dev = await serveOnce(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    expect(dev.stdout).toMatch(/^ {2}XMPP c2s \(STARTTLS required\): xmpp:\/\//m);
    for (const out of [plain.stdout, dev.stdout]) {
      const rows = out.split("\n").filter((line) => /^ {2}[^ ].*: +[a-z]+:\/\//.test(line));
      expect(rows.length).toBeGreaterThanOrEqual(2);
      const columns = new Set(rows.map((line) => line.search(/[a-z]+:\/\//)));
      expect(columns.size).toBe(1);
    }
    expect(dev.stdout).toMatch(/^ {2}Demo web app: +http:\/\/127\.0\.0\.1:\d+\/$/m);
  });

  test("--dev's welcome text takes the domain and user from its (edited) configuration", async () => {
    const cwd = tempDir("x-token-dev-domain-");
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    await serveOnce(["serve", "--dev"], env, cwd);
    const file = join(cwd, ".x-token-dev", "config.json");
    const config = JSON.parse(readFileSync(file, "utf8"));
    config.domains = { "chat.example": config.domains.localhost };
    config.demo.domain = "chat.example";
    config.components = { "tokens.chat.example": config.components["tokens.localhost"] };
    config.tokenComponent.domain = "tokens.chat.example";
    config.demo.users = config.demo.users.filter((u: { username: string }) => u.username === "bob");
    writeFileSync(file, JSON.stringify(config));
    const result = await serveOnce(["serve", "--dev"], env, cwd);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^x-token server for chat\.example$/m);
    expect(result.stdout).not.toMatch(/localhost|alice/);
    expect(result.stdout).toMatch(/Demo users: bob \/ \S+$/m);
    expect(result.stdout).toMatch(/Mint another: npx x-token mint --config \.x-token-dev\/config\.json --jid bob@chat\.example$/m);
    const token = result.stdout.match(/^ {4}(\d{40} \S{44})$/m)?.[1];
    const keys = loadConfig({ file, env: {} }).domains["chat.example"]!.keys;
    expect(checkToken(token, { jid: "bob@chat.example", keys }).ok).toBe(true);
  });

  test("an error after listening closes the listeners before the error leaves serve", async () => {
    let port = 0;
    // A stdout that fails while the welcome text is printed, after the ports are open.
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        port ||= Number(/xmpp:\/\/127\.0\.0\.1:(\d+)/.exec(chunk.toString())?.[1] ?? 0);
        if (port) throw new Error("stdout broke");
        callback();
      },
    });
    const stderr = new PassThrough().resume();
    // Storage in memory, as cli() gives every other test: the default data directory is in this checkout.
    const running = run({ argv: ["serve"], env: { ...ENV, XTOKEN_STORAGE: "memory", XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, stdout, stderr, stdin: Readable.from([]), stopSignal: () => new Promise(() => {}) });
    await expect(running).rejects.toThrow("stdout broke");
    expect(port).toBeGreaterThan(0);
    // The port is free again: the server really closed, nothing keeps it.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(port, "127.0.0.1", resolve));
    await new Promise((resolve) => probe.close(resolve));
  });

  test("--dev reuses its setup on later starts: same keys, same passwords, tokens from either run verify", async () => {
    const cwd = tempDir("x-token-dev-reuse-");
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    const first = await serveOnce(["serve", "--dev"], env, cwd);
    const secret = readFileSync(join(cwd, ".x-token-dev", "token-secret"), "utf8");
    const second = await serveOnce(["serve", "--dev"], env, cwd);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(readFileSync(join(cwd, ".x-token-dev", "token-secret"), "utf8")).toBe(secret);
    const users = (text: string) => text.match(/users: (.*)$/m)?.[1];
    expect(users(first.stdout)).toMatch(/^alice \/ \S+, bob \/ \S+$/);
    expect(users(second.stdout)).toBe(users(first.stdout));
    expect(second.stdout).toMatch(/Demo web app: +http:\/\/127\.0\.0\.1:\d+\//);
    expect(second.stdout).toMatch(/NODE_EXTRA_CA_CERTS=\.x-token-dev\/cert\.pem/);
    const keys = loadConfig({ file: join(cwd, ".x-token-dev", "config.json"), env: {} }).domains.localhost!.keys;
    for (const run of [first, second]) {
      const token = run.stdout.match(/^ {4}(\d{40} \S{44})$/m)?.[1];
      expect(checkToken(token, { jid: "alice@localhost", keys }).ok).toBe(true);
    }
    // The minted token never reaches stderr (the log).
    expect(first.stderr).not.toMatch(/\d{40} \S{44}/);
  });

  test("--dev sets loopbackWebSocketIsSecure and the banner says so; a false written by the user stays; plain serve has neither", async () => {
    const cwd = tempDir("x-token-dev-loopback-");
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    const row = /^ {2}WebSocket from loopback: +counts as TLS-protected \(loopbackWebSocketIsSecure\)$/m;
    const first = await serveOnce(["serve", "--dev"], env, cwd);
    expect(first.code).toBe(0);
    const file = join(cwd, ".x-token-dev", "config.json");
    expect(JSON.parse(readFileSync(file, "utf8")).loopbackWebSocketIsSecure).toBe(true);
    expect(first.stdout).toMatch(row);
    expect(first.stderr).not.toMatch(/older version/);

    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), loopbackWebSocketIsSecure: false }));
    const off = await serveOnce(["serve", "--dev"], env, cwd);
    expect(off.code).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8")).loopbackWebSocketIsSecure).toBe(false);
    expect(off.stdout).not.toMatch(/WebSocket from loopback/);
    expect(off.stderr).not.toMatch(/older version/);

    const plain = await serveOnce(["serve"], { ...ENV, ...env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toMatch(/WebSocket from loopback/);
  });

  test("a dev config.json made before loopbackWebSocketIsSecure gets it once, and says so on stderr", async () => {
    const cwd = tempDir("x-token-dev-older-");
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    await serveOnce(["serve", "--dev"], env, cwd);
    const file = join(cwd, ".x-token-dev", "config.json");
    const { loopbackWebSocketIsSecure: _, ...older } = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify(older));
    const upgraded = await serveOnce(["serve", "--dev"], env, cwd);
    expect(upgraded.code).toBe(0);
    expect(upgraded.stderr).toMatch(/^x-token: --dev: \.x-token-dev\/config\.json was made by an older version; added loopbackWebSocketIsSecure \(see docs\/configuration\.md\)$/m);
    expect(upgraded.stdout).toMatch(/^ {2}WebSocket from loopback: +counts as TLS-protected/m);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ ...older, loopbackWebSocketIsSecure: true });
    const again = await serveOnce(["serve", "--dev"], env, cwd);
    expect(again.stderr).not.toMatch(/older version/);
  });

  test("--dev sends presence to the whole domain for the demo's list, and says so; plain serve keeps it to rosters; an older dev config gets it once", async () => {
    const cwd = tempDir("x-token-dev-presence-");
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    const row = /^ {2}Presence: +everyone on a domain sees everyone \(presenceBroadcast: domain\)$/m;
    const first = await serveOnce(["serve", "--dev"], env, cwd);
    expect(first.code).toBe(0);
    const file = join(cwd, ".x-token-dev", "config.json");
    expect(JSON.parse(readFileSync(file, "utf8")).presenceBroadcast).toBe("domain");
    expect(first.stdout).toMatch(row);

    const { presenceBroadcast: _, ...older } = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify(older));
    const upgraded = await serveOnce(["serve", "--dev"], env, cwd);
    expect(upgraded.stderr).toMatch(/^x-token: --dev: \.x-token-dev\/config\.json was made by an older version; added presenceBroadcast \(see docs\/configuration\.md\)$/m);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ ...older, presenceBroadcast: "domain" });

    writeFileSync(file, JSON.stringify({ ...older, presenceBroadcast: "roster" }));
    const roster = await serveOnce(["serve", "--dev"], env, cwd);
    expect(roster.stdout).not.toMatch(/^ {2}Presence:/m);
    expect(JSON.parse(readFileSync(file, "utf8")).presenceBroadcast).toBe("roster");

    const plain = await serveOnce(["serve"], { ...ENV, ...env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toMatch(/^ {2}Presence:/m);
  });

  test("mint --config on the dev folder's config.json gives tokens the dev keys accept", async () => {
    const cwd = tempDir("x-token-dev-mint-");
    await serveOnce(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    const file = join(cwd, ".x-token-dev", "config.json");
    const minted = await cli(["mint", "--config", file, "--jid", "bob@localhost", "--at", "1700000000"]);
    expect(minted.code).toBe(0);
    const verified = await cli(["verify", "--config", file, "--jid", "bob@localhost", "--token", minted.stdout.trim(), "--at", "1700000000"]);
    expect(verified).toMatchObject({ code: 0, stdout: "valid\n" });
  });
});

describe("--dev folder problems and hash-password", () => {
  test("a half-written dev folder (no config.json) is refused, not overwritten", async () => {
    const cwd = tempDir("x-token-dev-broken-");
    mkdirSync(join(cwd, ".x-token-dev"));
    writeFileSync(join(cwd, ".x-token-dev", "token-secret"), "half-written-secret");
    const result = await cli(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, "", { cwd, stopSignal: Promise.resolve("SIGTERM") });
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

describe("the compiled binary with its standard output closed (`x-token serve --dev | head -1`)", () => {
  test("keeps serving, says so once on stderr, logs there, and stops cleanly on SIGTERM (no internal error, exit 0)", async () => {
    const cwd = tempDir("x-token-dev-epipe-");
    const child = spawnCli(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    // The reader goes away before the banner is written: every write to stdout then fails with EPIPE.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!/listening on 127\.0\.0\.1: c2s (\d+)/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const c2s = Number(/listening on 127\.0\.0\.1: c2s (\d+)/.exec(stderr)?.[1]);
    expect(c2s).toBeGreaterThan(0);
    // Still serving after the banner's writes failed: a client gets a stream.
    await new Promise((r) => setTimeout(r, 300));
    const raw = await RawClient.connect(c2s);
    raw.write("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
    await raw.waitFor(/<starttls/);
    raw.destroy();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/internal error/);
    expect(stderr.match(/standard output was closed; still serving/g)).toHaveLength(1);
  }, 60_000);
});
