/** README and docs/: links stay inside the repository, and the examples a newcomer runs first do what they say. */
import { afterAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { startTestServer } from "./helpers/server.js";
import { DEFAULT_LISTENERS, parseConfig } from "../src/app/config/load.js";
import { DEFAULT_COMPONENT_PORT } from "../src/app/config/component.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import { startServer } from "../src/server/index.js";
import { cli, spawnCli, watch } from "./helpers/cli.js";

const ROOT = new URL("..", import.meta.url).pathname;
afterAll(removeTempDirs);
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

/**
 * Runs a snippet as a module inside this package's folder, so "xmpp-x-token/client" resolves to the
 * package itself (built dist/); the folder it was written to is removed afterwards.
 */
async function runSnippet(source: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  mkdirSync(join(ROOT, "test-results"), { recursive: true });
  const dir = mkdtempSync(join(ROOT, "test-results", "docs-snippet-"));
  try {
    const file = join(dir, "snippet.mjs");
    writeFileSync(file, source);
    return await new Promise((done) => {
      const env = { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(ROOT, "test/fixtures/tls/cert.pem"), ...extraEnv };
      const child = execFile(process.execPath, [file, ...args], { env, timeout: 20_000 }, (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The login example of README.md or docs/client.md, as written, but against a test server (its port and domain). */
async function runLoginExample(file: string, token: string | "GOOD") {
  const server = await startTestServer();
  try {
    const source = codeBlockStartingWith(file, "// login.mjs")
      .replace("xmpp://127.0.0.1:5222", `xmpp://127.0.0.1:${server.server.ports.c2s}`)
      .replace('domain: "localhost"', `domain: "${server.domain}"`);
    return await runSnippet(source, [token === "GOOD" ? server.mint("alice") : token]);
  } finally {
    await server.close();
  }
}

describe("README's login.mjs", () => {
  test("logs in with a fresh token", async () => {
    const result = await runLoginExample("README.md", "GOOD");
    expect(result.stdout).toMatch(/^online as alice@example\.test\/\S+\n$/);
    expect(result.code).toBe(0);
  });

  test("a refused token prints the SASL condition in one line, exit 1, no stack trace", async () => {
    const result = await runLoginExample("README.md", `${"1".repeat(40)} ${"A".repeat(43)}=`);
    expect(result).toMatchObject({ code: 1, stdout: "", stderr: "login refused: not-authorized\n" });
  });
});

describe("docs/client.md's examples", () => {
  test("login.mjs logs in with a fresh token", async () => {
    const result = await runLoginExample("docs/client.md", "GOOD");
    expect(result.stdout).toMatch(/^online as alice@example\.test\/\S+\n$/);
    expect(result.code).toBe(0);
  });

  test("login.mjs's comment is right: ws:// to the dev-like server needs allowInsecure: true", async () => {
    const comment = codeBlockStartingWith("docs/client.md", "// login.mjs").match(/service: "xmpp:\/\/127\.0\.0\.1:5222", \/\/ (.*)/)?.[1];
    expect(comment).toBe('STARTTLS; "ws://127.0.0.1:5280/xmpp-websocket" needs allowInsecure: true');
    // The allowInsecure example, run against a server that counts a loopback WebSocket as secure (as serve --dev does).
    const server = await startTestServer({ loopbackWebSocketIsSecure: true });
    try {
      const block = codeBlockStartingWith("docs/client.md", 'const xmpp = await connectWithToken({ service: "ws://')
        .replace("ws://127.0.0.1:5280/", `ws://127.0.0.1:${server.server.ports.http}/`)
        .replace('domain: "localhost"', `domain: "${server.domain}"`);
      expect(block).toContain("allowInsecure: true");
      const source = `import { connectWithToken } from "xmpp-x-token/client";\nconst token = process.argv[2];\n${block}\nconsole.log("online as", xmpp.jid.toString());\nawait xmpp.stop();\n`;
      const result = await runSnippet(source, [server.mint("alice")]);
      expect(result.stdout).toMatch(/^online as alice@example\.test\/\S+\n$/);
      // Without it, the same login is refused before the token is sent.
      const refused = await runSnippet(source.replace("allowInsecure: true", "allowInsecure: false"), [server.mint("alice")]);
      expect(refused.stderr).toContain("InsecureStreamError");
    } finally {
      await server.close();
    }
  });

  test("the token function fetches a fresh token for the login (fetch answered as the token endpoint does)", async () => {
    const server = await startTestServer();
    try {
      const block = codeBlockStartingWith("docs/client.md", "const xmpp = await connectWithToken({\n")
        .replace("wss://chat.example.com/xmpp-websocket", `xmpp://127.0.0.1:${server.server.ports.c2s}`)
        .replace('domain: "example.com"', `domain: "${server.domain}"`);
      expect(block).toContain("createTokenEndpoint, docs/web.md");
      const fetchStub = `let fetched = 0;\nglobalThis.fetch = async (url) => (fetched++, { json: async () => ({ password: process.argv[2] }) });\n`;
      const source = `import { connectWithToken } from "xmpp-x-token/client";\n${fetchStub}${block}\nconsole.log("online as", xmpp.jid.toString(), "fetched", fetched);\nawait xmpp.stop();\n`;
      const result = await runSnippet(source, [server.mint("alice")]);
      expect(result.stdout).toMatch(/^online as alice@example\.test\/\S+ fetched 1\n$/);
    } finally {
      await server.close();
    }
  });
});

describe("docs/client.md's FAST example (a bot that keeps its FAST token in a file)", () => {
  test("the first run fetches one token; the next run logs in with FAST while the backend is down", async () => {
    const server = await startTestServer();
    const dir = tempDir("docs-fast-");
    try {
      const block = codeBlockStartingWith("docs/client.md", 'import { connectWithToken, fileFastStore } from "xmpp-x-token/client";')
        .replace("xmpp://chat.example.com:5222", `xmpp://127.0.0.1:${server.server.ports.c2s}`)
        .replace('domain: "example.com"', `domain: "${server.domain}"`)
        .replace("/var/lib/build-bot/xmpp-fast.json", join(dir, "xmpp-fast.json"));
      // fetch answered as the token endpoint does, or failing as a backend that is down.
      const fetchStub = `let fetched = 0;\nconst headers = {};\nglobalThis.fetch = async () => { fetched++; if (process.argv[2] === "down") throw new Error("backend down"); return { json: async () => ({ password: process.argv[2] }) }; };\n`;
      const source = `${fetchStub}${block}\nconsole.log("online as", xmpp.jid.bare().toString(), "fetched", fetched);\nawait xmpp.stop();\n`;
      const first = await runSnippet(source, [server.mint("build-bot")]);
      expect(first).toMatchObject({ stdout: `online as build-bot@${server.domain} fetched 1\n`, code: 0 });
      const second = await runSnippet(source, ["down"]);
      expect(second).toMatchObject({ stdout: `online as build-bot@${server.domain} fetched 0\n`, code: 0 });
    } finally {
      await server.close();
    }
  });
});

describe("imports in README.md's and docs/' examples", () => {
  const exportsMap = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports as Record<string, { default: string }>;
  const imports = DOCS.flatMap((file) =>
    [...readFileSync(join(ROOT, file), "utf8").matchAll(/import \{([^}]+)\} from "(xmpp-x-token(?:\/[\w-]+)?)"/g)].map((m) => ({
      file,
      entry: m[2]!,
      // Names imported as values (an ES module import of a name its module lacks does not even load).
      names: m[1]!.split(",").map((n) => n.trim().split(/\s+as\s+/)[0]!).filter((n) => n && !n.startsWith("type ")),
    })),
  );

  test("name only what their entry point exports", async () => {
    expect(imports.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const { file, entry, names } of imports) {
      const target = exportsMap[entry === "xmpp-x-token" ? "." : `./${entry.slice("xmpp-x-token/".length)}`];
      if (!target) {
        missing.push(`${file}: ${entry} is not an entry point`);
        continue;
      }
      const mod = (await import(join(ROOT, target.default))) as Record<string, unknown>;
      for (const name of names) if (!(name in mod)) missing.push(`${file}: ${name} is not exported by ${entry}`);
    }
    expect(missing).toEqual([]);
  });
});

describe("docs/scaling.md's RedisReplayStore with your own (ioredis) client", () => {
  test("imports from the entry points that export them, and refuses the same token twice", async () => {
    const block = codeBlockStartingWith("docs/scaling.md", 'import { verifyToken } from "xmpp-x-token";');
    // ioredis is not a dependency here: a stand-in with its `call`, answering SET NX PX as Redis does.
    const ioredisStub = `class Redis { keys = new Set(); call(command, key, ...args) {
      if (command !== "SET" || !args.includes("NX")) throw new Error("unexpected " + command);
      if (this.keys.has(key)) return Promise.resolve(null);
      this.keys.add(key); return Promise.resolve("OK"); } }`;
    const setup = `import { mintToken } from "xmpp-x-token";
const keys = [{ tokenSecret: "docs-example-secret-docs-example-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
const jid = "alice@example.com";
const token = mintToken({ jid, key: keys });
`;
    const source = setup + block.replace('import Redis from "ioredis";', ioredisStub) + `
const again = await verifyToken(token, { jid, keys, replay });
console.log(result.ok, again.ok, again.reason);
`;
    const result = await runSnippet(source, []);
    expect(result).toMatchObject({ stdout: "true false replayed\n", code: 0 });
  });
});

describe("the token endpoint in README.md and docs/web.md", () => {
  const KEY_ENV = { XTOKEN_SECRET: "docs-example-secret-of-enough-length", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY" };
  const endpoint = () => codeBlockStartingWith("README.md", 'import { createTokenEndpoint } from "xmpp-x-token/web";');
  /** The signed-in user and the rest of the site, as the examples assume them. */
  const stubs = `const mySession = async () => ({ jid: "alice@example.com" });\nconst app = (req, res) => { res.writeHead(404); res.end("the app"); };\n`;
  /** Requests a few paths from the server the snippet made (`server`), prints "path status", closes it. */
  const probe = `await new Promise((r) => (server.listening ? r() : server.once("listening", r)));
for (const path of ["/xmpp-token", "/xmpp-token?t=123", "/elsewhere", "/xmpp-token/x"]) {
  const res = await fetch(\`http://127.0.0.1:\${server.address().port}\${path}\`);
  console.log(path, res.status, (await res.text()).includes('"token"') ? "token" : "-");
}
server.close();
`;
  const expected = "/xmpp-token 200 token\n/xmpp-token?t=123 200 token\n/elsewhere 404 -\n/xmpp-token/x 404 -\n";

  test("README's node:http routing: the path decides, a query string still reaches the endpoint", async () => {
    const line = codeBlockStartingWith("README.md", "// node:http").split("\n")[1]!;
    expect(line).toMatch(/^http\.createServer\(/);
    const routing = `import http from "node:http";\nconst server = ${line.replace(/;$/, "")}.listen(0, "127.0.0.1");\n`;
    const result = await runSnippet(endpoint() + stubs + routing + probe, [], KEY_ENV);
    expect(result).toMatchObject({ stdout: expected, code: 0 });
  });

  test("docs/web.md's node:http routing: the same", async () => {
    const block = codeBlockStartingWith("docs/web.md", 'import http from "node:http";')
      .replace(/^http\n/m, "const server = http\n")
      .replace('.listen(8080, "127.0.0.1")', '.listen(0, "127.0.0.1")');
    const result = await runSnippet(endpoint() + stubs + block + probe, [], KEY_ENV);
    expect(result).toMatchObject({ stdout: expected, code: 0 });
  });

  test("README's endpoint with XTOKEN_SECRET unset throws TokenEndpointOptionsError when made", async () => {
    const result = await runSnippet(endpoint(), [], { XTOKEN_OTP_SEED: KEY_ENV.XTOKEN_OTP_SEED });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/TokenEndpointOptionsError: keys: .*tokenSecret/);
  });
});

describe("what README.md and docs/cli.md say about serve --dev", () => {
  test("docs/cli.md's .x-token-dev table has a row for every entry a dev server makes there", async () => {
    const cwd = tempDir("x-token-docs-dev-");
    // A real start, which also makes data/ and running.json (removed again at the stop).
    const entries = new Set<string>();
    let stop!: (signal: string) => void;
    const running = cli(["serve", "--dev"], { XTOKEN_STORAGE: "sqlite", XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" }, "", {
      cwd,
      stopSignal: new Promise((resolve) => (stop = resolve)),
    });
    const dir = join(cwd, ".x-token-dev");
    for (let i = 0; i < 200 && !existsSync(join(dir, "running.json")); i++) await new Promise((r) => setTimeout(r, 50));
    for (const name of readdirSync(dir, { withFileTypes: true })) entries.add(name.isDirectory() ? `${name.name}/` : name.name);
    stop("SIGTERM");
    expect((await running).code).toBe(0);
    expect(entries).toContain("running.json");
    expect(entries).toContain("data/");
    const doc = readFileSync(join(ROOT, "docs/cli.md"), "utf8");
    const table = doc.slice(doc.indexOf("| file | content |"), doc.indexOf("\n\n", doc.indexOf("| file | content |")));
    const documented = new Set([...table.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
    expect([...entries].filter((name) => !documented.has(name))).toEqual([]);
  });

  test("serve --help names every environment variable of README's table", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf("| environment variable | meaning |"), readme.indexOf("\n\n", readme.indexOf("| environment variable | meaning |")));
    const variables = [...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    expect(variables).toEqual(expect.arrayContaining(["XMPP_COMPONENT_PORT", "XMPP_TRUSTED_PROXIES"]));
    const help = (await cli(["serve", "--help"])).stdout;
    expect(variables.filter((name) => !help.includes(name))).toEqual([]);
  });

  test("README's npm start paragraph names the dev server's three default ports", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const paragraph = readme.slice(readme.indexOf("`npm start` runs `x-token serve --dev`"), readme.indexOf("## Use it in your project"));
    for (const port of [DEFAULT_LISTENERS.c2sPort, DEFAULT_LISTENERS.httpPort, DEFAULT_COMPONENT_PORT]) expect(paragraph).toContain(String(port));
    for (const variable of ["XMPP_C2S_PORT", "XMPP_HTTP_PORT", "XMPP_COMPONENT_PORT"]) expect(paragraph).toContain(variable);
  });
});

describe("docs/component.md's one file for both sides", () => {
  test("starts the server and the component as written (only the ports moved out of the way)", async () => {
    const dir = tempDir("x-token-docs-both-");
    const text = [...readFileSync(join(ROOT, "docs/component.md"), "utf8").matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('"components"') && b.includes('"tokenComponent"'));
    expect(text).toBeDefined();
    writeFileSync(join(dir, "both.json"), text!);
    const key = JSON.parse((await cli(["keygen", "--json"])).stdout) as { tokenSecret: string; otpSeed: string };
    writeFileSync(join(dir, "token-secret"), key.tokenSecret);
    writeFileSync(join(dir, "otp-seed"), key.otpSeed);
    writeFileSync(join(dir, "component-secret"), "a-long-random-component-secret-for-the-docs-test");
    writeFileSync(join(dir, "fullchain.pem"), readFileSync(join(ROOT, "test/fixtures/tls/cert.pem")));
    writeFileSync(join(dir, "privkey.pem"), readFileSync(join(ROOT, "test/fixtures/tls/key.pem")));
    const config = join(dir, "both.json");
    const server = spawnCli(["serve", "--config", config], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0" });
    const serverOut = watch(server);
    const children = [server];
    try {
      const [, port] = await serverOut.waitFor(/Components \(XEP-0114\): +xmpp:\/\/127\.0\.0\.1:(\d+) for tokens\.example\.com/, 30_000);
      const component = spawnCli(["component", "--config", config], { XTOKEN_COMPONENT_SERVICE: `xmpp://127.0.0.1:${port}` });
      children.push(component);
      const componentOut = watch(component);
      await componentOut.waitFor(/online as tokens\.example\.com/, 30_000);
    } finally {
      for (const child of children) child.kill("SIGTERM");
    }
    expect(await serverOut.exited).toBe(0);
  }, 60_000);
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

/** The features a WebSocket stream gets, from 127.0.0.1, with or without a proxy's forwarded headers. */
async function websocketMechanisms(port: number, domain: string, forwarded: boolean): Promise<string[]> {
  const { WebSocket } = await import("ws");
  const headers = forwarded ? { "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9" } : {};
  const ws = new WebSocket(`ws://127.0.0.1:${port}/xmpp-websocket`, "xmpp", { headers });
  try {
    const features = await new Promise<string>((resolve, reject) => {
      ws.on("error", reject);
      ws.on("open", () => ws.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="${domain}" version="1.0"/>`));
      ws.on("message", (data) => {
        const text = String(data);
        if (text.includes("features")) resolve(text);
      });
    });
    return [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]!);
  } finally {
    ws.close();
  }
}

describe.each([
  ["docs/configuration.md", /^(XTOKEN_DOMAIN=.*) npx x-token serve$/m],
  ["README.md", /`(XTOKEN_DOMAIN=[^`]*) npx x-token serve`/],
])("%s's server behind a TLS proxy, from the environment alone", (file, pattern) => {
  test("believes the proxy on 127.0.0.1 (XMPP_TRUSTED_PROXIES): its wss:// streams are TLS-protected, so PLAIN is offered there only", async () => {
    const line = readFileSync(join(ROOT, file), "utf8").match(pattern)?.[1];
    expect(line).toBeDefined();
    const env: NodeJS.ProcessEnv = Object.fromEntries(line!.split(" ").map((pair) => pair.split("=") as [string, string]));
    expect(env.XMPP_TRUSTED_PROXIES).toBe("127.0.0.1");
    const values = { XTOKEN_SECRET: "docs-example-secret", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY" };
    const config = parseConfig({}, { ...env, ...values, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0" });
    expect(config.trustedProxies).toEqual(["127.0.0.1"]);
    const server = await startServer(config, { log: { info() {}, warn() {} } });
    try {
      expect(await websocketMechanisms(server.ports.http!, env.XTOKEN_DOMAIN!, true)).toContain("PLAIN");
      expect(await websocketMechanisms(server.ports.http!, env.XTOKEN_DOMAIN!, false)).not.toContain("PLAIN");
    } finally {
      await server.close();
    }
  });
});
