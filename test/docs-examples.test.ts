/** README and docs/: links stay inside the repository, and the examples a newcomer runs first do what they say. */
import { describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { startTestServer } from "./helpers/server.js";
import { cli } from "./helpers/cli.js";

const ROOT = new URL("..", import.meta.url).pathname;
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

function codeBlockStartingWith(file: string, firstLine: string): string {
  const text = readFileSync(join(ROOT, file), "utf8");
  const block = [...text.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith(firstLine));
  if (!block) throw new Error(`${file} has no code block starting with ${firstLine}`);
  return block;
}

describe("links in README.md and docs/", () => {
  test.each(DOCS)("every relative link in %s names a file inside the repository", (file) => {
    const text = readFileSync(join(ROOT, file), "utf8");
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:|^#/.test(t));
    // A path written as code (`../shared/spec/x-token.md`) is a reference too.
    const paths = [...text.matchAll(/`(\.\.\/[^`\s]+)`/g)].map((m) => m[1]!);
    const targets = [...links, ...paths];
    const broken = targets.filter((target) => {
      const path = resolve(ROOT, dirname(file), target.split("#")[0]!);
      return relative(ROOT, path).startsWith("..") || !existsSync(path);
    });
    expect(broken).toEqual([]);
  });
});

describe("README's login.mjs", () => {
  /** Runs the example as written, but against a test server (its port and domain). */
  async function runLoginExample(token: string | "GOOD") {
    const server = await startTestServer();
    try {
      const source = codeBlockStartingWith("README.md", "// login.mjs")
        .replace("xmpp://127.0.0.1:5222", `xmpp://127.0.0.1:${server.server.ports.c2s}`)
        .replace('domain: "localhost"', `domain: "${server.domain}"`);
      // Inside this package's folder, so "xmpp-x-token/client" resolves to the package itself (built dist/).
      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      const file = join(mkdtempSync(join(ROOT, "test-results", "readme-login-")), "login.mjs");
      writeFileSync(file, source);
      return await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const env = { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(ROOT, "test/fixtures/tls/cert.pem") };
        const arg = token === "GOOD" ? server.mint("alice") : token;
        const child = execFile(process.execPath, [file, arg], { env, timeout: 20_000 }, (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }));
      });
    } finally {
      await server.close();
    }
  }

  test("logs in with a fresh token", async () => {
    const result = await runLoginExample("GOOD");
    expect(result.stdout).toMatch(/^online as alice@example\.test\/\S+\n$/);
    expect(result.code).toBe(0);
  });

  test("a refused token prints the SASL condition in one line, exit 1, no stack trace", async () => {
    const result = await runLoginExample(`${"1".repeat(40)} ${"A".repeat(43)}=`);
    expect(result).toMatchObject({ code: 1, stdout: "", stderr: "login refused: not-authorized\n" });
  });
});

describe("docs/configuration.md's server without a file", () => {
  test("runs on a free c2s port, not 5222", async () => {
    const line = readFileSync(join(ROOT, "docs/configuration.md"), "utf8").match(/^(XTOKEN_DOMAIN=.*) npx x-token serve$/m)?.[1];
    expect(line).toBeDefined();
    const env = Object.fromEntries(line!.split(" ").map((pair) => pair.split("=") as [string, string]));
    expect(env.XMPP_C2S_PORT).toBe("0");
    const values = { XTOKEN_SECRET: "docs-example-secret", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY" };
    // HTTP 5280 stays as documented there; here it is moved out of the way of other tests.
    const result = await cli(["serve"], { ...env, ...values, XMPP_HTTP_PORT: "0" }, "", { stopSignal: Promise.resolve("SIGTERM") });
    expect(result.code).toBe(0);
    const port = Number(result.stdout.match(/xmpp:\/\/127\.0\.0\.1:(\d+)/)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(5222);
  });
});
