/** `x-token component`: usage and configuration errors (the running component is in component-e2e.test.ts). */
import { afterAll, describe, expect, test } from "@jest/globals";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli } from "./helpers/cli.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const KEY = { tokenSecret: "cli-component-token-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const SECRET = "cli-component-secret-never-printed";

function configFile(config: unknown): string {
  const file = join(tempDir("x-token-component-"), "config.json");
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe("x-token component", () => {
  test("--help says where the secret comes from", async () => {
    const { code, stdout } = await cli(["component", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("XTOKEN_COMPONENT_SECRET");
    expect(stdout).toContain("never taken from the command line");
  });

  test("listed in x-token --help", async () => {
    expect((await cli(["--help"])).stdout).toMatch(/component\s+run the login-token XMPP component/);
  });

  test("no tokenComponent section: exit 2, one line", async () => {
    const file = configFile({ domains: { "example.com": { keys: [KEY] } } });
    const { code, stderr } = await cli(["component", "--config", file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^x-token: component: no tokenComponent section/);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  test("a secret on the command line is not an option", async () => {
    const { code, stderr } = await cli(["component", "--secret", SECRET]);
    expect(code).toBe(2);
    expect(stderr).toContain("Unknown option '--secret'");
    expect(stderr).not.toContain(SECRET);
  });

  test("a bad section: exit 2 naming the setting, never the secret", async () => {
    const file = configFile({
      domains: { "example.com": { keys: [KEY] } },
      tokenComponent: { service: "http://127.0.0.1:5347", domain: "tokens.example.com", secret: SECRET },
    });
    const { code, stderr } = await cli(["component", "--config", file]);
    expect(code).toBe(2);
    expect(stderr).toContain("tokenComponent.service must be xmpp://host:port");
    expect(stderr).not.toContain(SECRET);
  });

  test("a keys-only file without tls is fine for the component (no server-only TLS rule)", async () => {
    const file = configFile({ domains: { "example.com": { keys: [KEY] } } });
    const { code, stderr } = await cli(["component", "--config", file], {
      XTOKEN_COMPONENT_SERVICE: "xmpp://127.0.0.1:1",
      XTOKEN_COMPONENT_DOMAIN: "tokens.example.com",
      XTOKEN_COMPONENT_SECRET: SECRET,
    }, "", { stopSignal: new Promise((resolve) => setTimeout(() => resolve("SIGTERM"), 300)) });
    expect(code).toBe(0);
    expect(stderr).toContain("SIGTERM received");
    expect(stderr).not.toContain(SECRET);
  });
});
