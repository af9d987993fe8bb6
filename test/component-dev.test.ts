/** README's way to try the component: `npm start` (serve --dev) hosts tokens.localhost, `x-token component --dev` joins it. */
import { afterAll, describe, expect, test } from "@jest/globals";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xml } from "@xmpp/xml";
import { connectWithToken } from "../src/client/connect.js";
import { ensureDevSetup, DEV_COMPONENT_DOMAIN } from "../src/app/cli/dev-setup.js";
import { loadConfig } from "../src/app/config/load.js";
import { LOGIN_TOKEN_NODE, NS_COMMANDS } from "../src/component/login-token-command.js";
import { spawnCli, watch } from "./helpers/cli.js";

/** Every folder a test made, removed at the end whatever happened (they hold keys and certificates). */
const made: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe("the dev server hosts the component out of the box", () => {
  test("serve --dev on other ports + component --dev: it joins where the server really listens, alice runs the command and logs in with the token", async () => {
    const cwd = tempDir("x-token-dev-component-");
    const server = spawnCli(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, cwd);
    const serverOut = watch(server);
    const children = [server];
    try {
      const [, componentPort] = await serverOut.waitFor(/Components \(XEP-0114\): +xmpp:\/\/127\.0\.0\.1:(\d+) for tokens\.localhost/, 30_000);
      const [, wsPort] = await serverOut.waitFor(/ws:\/\/127\.0\.0\.1:(\d+)\/xmpp-websocket/);
      const [, printed] = await serverOut.waitFor(/^ {4}(\d{40} \S{44})$/m);
      expect(serverOut.text()).toContain('npx x-token component --dev, then run "Get a login token" on tokens.localhost');
      // README's command as it is: the server's real ports come from what it recorded in .x-token-dev/.
      expect(existsSync(join(cwd, ".x-token-dev", "running.json"))).toBe(true);
      const component = spawnCli(["component", "--dev"], {}, cwd);
      children.push(component);
      const componentOut = watch(component);
      await componentOut.waitFor(/online as tokens\.localhost/, 30_000);
      expect(componentOut.text()).toContain(`x-token component tokens.localhost -> xmpp://127.0.0.1:${componentPort}`);

      const service = `ws://127.0.0.1:${wsPort}/xmpp-websocket`;
      // ws:// on loopback: the development setup (a real deployment uses wss://).
      const alice = await connectWithToken({ service, domain: "localhost", username: "alice", token: printed!, allowInsecure: true });
      const reply = await alice.iqCaller.request(
        xml("iq", { type: "set", to: DEV_COMPONENT_DOMAIN }, xml("command", { xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, action: "execute" })),
        15_000,
      );
      const fields = reply.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!.getChildren("field");
      const value = (name: string) => fields.find((f) => f.attrs.var === name)?.getChildText("value");
      expect(value("websocket-url")).toBe(`ws://127.0.0.1:${wsPort}/xmpp-websocket`);
      const second = await connectWithToken({ service, domain: "localhost", username: "alice", token: value("token")!, allowInsecure: true });
      expect(second.jid?.bare().toString()).toBe("alice@localhost");
      await second.stop();
      await alice.stop();
    } finally {
      for (const child of children) child.kill("SIGTERM");
    }
    expect(await serverOut.exited).toBe(0);
    // The record goes with the server: a later component --dev does not join a port nobody holds.
    expect(existsSync(join(cwd, ".x-token-dev", "running.json"))).toBe(false);
  }, 90_000);

  test("component --dev before the server runs: says so, and waits on the configured port (XMPP_COMPONENT_PORT), not 5347", async () => {
    const cwd = tempDir("x-token-dev-component-early-");
    await ensureDevSetup(cwd);
    const component = spawnCli(["component", "--dev"], { XMPP_COMPONENT_PORT: "6347" }, cwd);
    const out = watch(component);
    try {
      await out.waitFor(/x-token component tokens\.localhost -> xmpp:\/\/127\.0\.0\.1:6347/, 30_000);
      expect(out.text()).toContain("no development server is running from this folder yet (npm start); joining xmpp://127.0.0.1:6347 when it is");
    } finally {
      component.kill("SIGTERM");
    }
    await out.exited;
  }, 60_000);

  test("a dev folder made before the component existed gets its sections once, secrets untouched", async () => {
    const cwd = tempDir("x-token-dev-upgrade-");
    const setup = await ensureDevSetup(cwd);
    const old = JSON.parse(readFileSync(setup.configFile, "utf8")) as Record<string, unknown>;
    delete old.components;
    delete old.tokenComponent;
    writeFileSync(setup.configFile, JSON.stringify(old));
    rmSync(join(setup.dir, "component-secret"));
    const tokenSecret = readFileSync(join(setup.dir, "token-secret"), "utf8");

    await ensureDevSetup(cwd);
    const config = loadConfig({ file: setup.configFile, env: {} });
    expect(Object.keys(config.components!)).toEqual([DEV_COMPONENT_DOMAIN]);
    expect(config.tokenComponent?.secret).toBe(config.components![DEV_COMPONENT_DOMAIN]!.secret);
    expect(statSync(join(setup.dir, "component-secret")).mode & 0o777).toBe(0o600);
    expect(statSync(setup.configFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(setup.dir, "token-secret"), "utf8")).toBe(tokenSecret);
    // A second start changes nothing.
    const text = readFileSync(setup.configFile, "utf8");
    await ensureDevSetup(cwd);
    expect(readFileSync(setup.configFile, "utf8")).toBe(text);
  });
});
