import { afterAll, describe, expect, test } from "@jest/globals";
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { checkToken } from "../src/index.js";
import { hashPassword } from "../src/auth/password/scrypt-hash.js";
import { loadConfig } from "../src/app/config/load.js";
import { connectWithToken } from "../src/client/connect.js";
import { cli, spawnCli, watch } from "./helpers/cli.js";
import { RawClient, WsClient, saslAuth, streamHeader, wsOpen } from "./helpers/server.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

describe("x-token serve", () => {
  test("runs from environment variables; SIGTERM closes streams cleanly and exits 0", async () => {
    const child = spawnCli(["serve"], {
      XTOKEN_DOMAIN: "example.test",
      XTOKEN_SECRET: "serve-test-secret",
      XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY",
      XMPP_C2S_PORT: "0",
      XMPP_HTTP_PORT: "0",
      XMPP_REQUIRE_TLS: "false",
    });
    const output = watch(child);
    const [, port] = await output.waitFor(/xmpp:\/\/127\.0\.0\.1:(\d+)/);
    const client = await RawClient.connect(Number(port));
    client.write(streamHeader("example.test"));
    await client.waitFor("</stream:features>");
    child.kill("SIGTERM");
    await client.waitFor("<system-shutdown");
    await client.waitFor("</stream:stream>");
    expect(await output.exited).toBe(0);
    expect(output.text()).toMatch(/SIGTERM received, closing streams/);
    expect(output.text()).not.toContain("serve-test-secret");
    client.destroy();
  });

  test("bad configuration stops start-up with one clear line and exit 2", async () => {
    const result = await cli(["serve"], { XTOKEN_DOMAIN: "example.test", XTOKEN_SECRET: "x", XTOKEN_OTP_SEED: "not base32!" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^x-token: config: XTOKEN_OTP_SEED is not valid base32/);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("--dev generates a private setup once, prints a token that logs in", async () => {
    const cwd = tempDir("x-token-dev-");
    let stop!: (signal: string) => void;
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    const running = cli(["serve", "--dev"], env, "", { cwd, stopSignal });
    const dir = join(cwd, ".x-token-dev");
    // Wait until the welcome text with the token is out (the in-process run writes it at once).
    let config;
    for (let i = 0; i < 200; i++) {
      try {
        config = loadConfig({ file: join(dir, "config.json"), env: {} });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(config?.domains.localhost).toBeDefined();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "token-secret")).mode & 0o777).toBe(0o600);
    expect(config?.demo?.users.map((u) => u.username)).toEqual(["alice", "bob"]);
    stop("SIGTERM");
    const result = await running;
    expect(result.code).toBe(0);
    const token = result.stdout.match(/^ {4}(\d{40} \S{44})$/m)?.[1];
    expect(token).toBeDefined();
    expect(checkToken(token, { jid: "alice@localhost", keys: config!.domains.localhost!.keys }).ok).toBe(true);
    expect(result.stdout).toMatch(/npx x-token mint --config \.x-token-dev\/config\.json --jid alice@localhost/);
  });

  test("a token printed by serve --dev logs a real client in", async () => {
    const cwd = tempDir("x-token-dev-");
    const child = spawnCli(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    const output = watch(child);
    const [, port] = await output.waitFor(/ws:\/\/127\.0\.0\.1:(\d+)\/xmpp-websocket/);
    const [, token] = await output.waitFor(/^ {4}(\d{40} \S{44})$/m);
    const xmpp = await connectWithToken({ service: `ws://127.0.0.1:${port}/xmpp-websocket`, domain: "localhost", username: "alice", token: token!, allowInsecure: true });
    expect(xmpp.jid?.bare().toString()).toBe("alice@localhost");
    await xmpp.stop();
    // Ctrl-C: the first SIGINT closes the server and exits 0 (no second one needed).
    child.kill("SIGINT");
    expect(await output.exited).toBe(0);
    expect(output.text()).toMatch(/SIGINT received, closing streams/);
  });

  test("after an upgrade, serve --dev on an older dev folder still logs in over ws://127.0.0.1 with PLAIN (the Converse.js path)", async () => {
    const cwd = tempDir("x-token-dev-older-");
    const env = { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" };
    // A folder made by a version without loopbackWebSocketIsSecure (a loopback WebSocket was secure then).
    expect((await cli(["serve", "--dev"], env, "", { cwd, stopSignal: Promise.resolve("SIGTERM") })).code).toBe(0);
    const file = join(cwd, ".x-token-dev", "config.json");
    const { loopbackWebSocketIsSecure: _, ...older } = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify(older));
    const child = spawnCli(["serve", "--dev"], env, cwd);
    const output = watch(child);
    try {
      const [, port] = await output.waitFor(/ws:\/\/127\.0\.0\.1:(\d+)\/xmpp-websocket/);
      const [, token] = await output.waitFor(/^ {4}(\d{40} \S{44})$/m);
      expect(output.text()).toMatch(/added loopbackWebSocketIsSecure/);
      const ws = await WsClient.connect(Number(port));
      try {
        ws.send(wsOpen("localhost"));
        await ws.next(/<mechanism>PLAIN<\/mechanism>/);
        ws.send(saslAuth("alice", token!, "PLAIN"));
        expect(await ws.next(/<success|<failure/)).toMatch(/^<success/);
      } finally {
        ws.close();
      }
    } finally {
      child.kill("SIGTERM");
      expect(await output.exited).toBe(0);
    }
  });

  test("demo.secureCookie in the configuration gives the demo a Secure __Host- session cookie", async () => {
    const cwd = tempDir("x-token-secure-cookie-");
    const file = join(cwd, "config.json");
    writeFileSync(
      file,
      JSON.stringify({
        domains: { "example.com": { keys: [{ tokenSecret: "secure-cookie-test-secret", otpSeed: "XVGR73KMZH2M4XMY" }] } },
        requireTls: false,
        demo: { domain: "example.com", sessionSecret: "a-secure-cookie-test-session-secret-0123456789", users: [{ username: "alice", passwordHash: await hashPassword("alice-pw") }], secureCookie: true },
      }),
    );
    const child = spawnCli(["serve", "--config", file], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" }, cwd);
    const output = watch(child);
    try {
      const [, port] = await output.waitFor(/ws:\/\/127\.0\.0\.1:(\d+)\/xmpp-websocket/);
      const base = `http://127.0.0.1:${port}`;
      const res = await fetch(`${base}/signin`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
        body: "username=alice&password=alice-pw",
      });
      expect(res.status).toBe(303);
      expect(res.headers.get("set-cookie")).toMatch(/^__Host-xtoken_demo=[^;]+; HttpOnly; SameSite=Strict; Path=\/; Secure; Max-Age=\d+$/);
    } finally {
      child.kill("SIGTERM");
      await output.exited;
    }
  });

  test("the README's login.mjs, as written (STARTTLS, no allowInsecure), logs in against serve --dev", async () => {
    const cwd = tempDir("x-token-dev-");
    const child = spawnCli(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" }, cwd);
    const output = watch(child);
    try {
      const [, port] = await output.waitFor(/xmpp:\/\/127\.0\.0\.1:(\d+)/);
      const [, token] = await output.waitFor(/^ {4}(\d{40} \S{44})$/m);
      // The README's script, with only the port changed; the package and @xmpp/client resolve
      // from a node_modules beside it that links to this checkout.
      const root = fileURLToPath(new URL("../", import.meta.url));
      const readme = readFileSync(join(root, "README.md"), "utf8");
      const script = /```js\n(\/\/ login\.mjs[\s\S]*?)```/.exec(readme)![1]!.replace("127.0.0.1:5222", `127.0.0.1:${port}`);
      expect(script).not.toMatch(/^\s*allowInsecure/m); // only mentioned in a comment
      mkdirSync(join(cwd, "node_modules"));
      symlinkSync(root, join(cwd, "node_modules", "xmpp-x-token"));
      symlinkSync(join(root, "node_modules", "@xmpp"), join(cwd, "node_modules", "@xmpp"));
      writeFileSync(join(cwd, "login.mjs"), script);
      const env = { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(cwd, ".x-token-dev", "cert.pem") };
      const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ["login.mjs", token!], { cwd, env, timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
      expect(run).toMatchObject({ code: 0, stdout: expect.stringMatching(/^online as alice@localhost\//) });
    } finally {
      child.kill("SIGTERM");
      await output.exited;
    }
  }, 40_000);
});
