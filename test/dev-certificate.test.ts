/**
 * The development certificate (what `serve --dev` makes) is good for the names a newcomer types:
 * `localhost`, and the loopback addresses 127.0.0.1 and ::1 for direct TLS (xmpps://), where the
 * address in the service is the name that is checked. A client process trusts it the documented
 * way (NODE_EXTRA_CA_CERTS) and logs in with a token over direct TLS and STARTTLS.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { createSelfSignedCertificate, type PemPair } from "../src/app/tls/self-signed.js";
import { ensureDevSetup } from "../src/app/cli/dev-setup.js";
import { DEFAULT_LIMITS } from "../src/app/config/load.js";
import type { AppConfig } from "../src/app/config/types.js";
import { startServer, type RunningServer } from "../src/server/index.js";
import { mintToken } from "../src/core/token/mint.js";
import { freshKey } from "./helpers/server.js";

const ROOT = new URL("..", import.meta.url).pathname;
const key = freshKey();
const hasIpv6Loopback = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === "::1"));

let dir: string;
let pem: PemPair;
const servers: RunningServer[] = [];

function config(host: string): AppConfig {
  return {
    domains: { localhost: { keys: [key], window: 1, nonceDigits: 32, disabledUsers: [] } },
    listeners: { host, c2sPort: 0, directTlsPort: 0, httpPort: null, websocketPath: "/xmpp-websocket", componentHost: "127.0.0.1", componentPort: null },
    tls: pem,
    requireTls: true,
    allowPlainWithoutTls: false,
    limits: DEFAULT_LIMITS,
    trustedProxies: [],
    loopbackWebSocketIsSecure: false,
    replayMaxEntries: 1000,
    demo: null,
    components: {},
  } as AppConfig;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "x-token-devcert-"));
  pem = await createSelfSignedCertificate(["localhost"]);
  writeFileSync(join(dir, "cert.pem"), pem.cert);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Logs in from a separate Node process that trusts the certificate through NODE_EXTRA_CA_CERTS. */
function loginFromProcess(service: string): Promise<string> {
  const script = `import { connectWithToken } from ${JSON.stringify(join(ROOT, "dist/src/client/index.js"))};
try {
  const xmpp = await connectWithToken({ service: ${JSON.stringify(service)}, domain: "localhost", username: "alice", token: process.argv[2] });
  console.log("online " + xmpp.jid.toString());
  await xmpp.stop();
} catch (err) { console.log("error " + err.message); }`;
  const file = join(dir, `login-${servers.length}-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const token = mintToken({ jid: "alice@localhost", key: [key] });
  return new Promise((resolve) => {
    const env = { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") };
    execFile(process.execPath, [file, token], { env, timeout: 20_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`.trim()));
  });
}

describe("the development certificate", () => {
  test("names localhost, 127.0.0.1 and ::1", () => {
    const names = new X509Certificate(pem.cert).subjectAltName!.split(", ");
    expect(names).toEqual(expect.arrayContaining(["DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"]));
  });

  test("direct TLS to xmpps://127.0.0.1 logs in (the address is the name checked)", async () => {
    const server = await startServer(config("127.0.0.1"), { log: { info() {}, warn() {} } });
    servers.push(server);
    expect(await loginFromProcess(`xmpps://127.0.0.1:${server.ports.directTls}`)).toMatch(/^online alice@localhost\//);
  }, 30_000);

  test("STARTTLS to xmpp://127.0.0.1 logs in (the domain, localhost, is the name checked)", async () => {
    const server = servers[0]!;
    expect(await loginFromProcess(`xmpp://127.0.0.1:${server.ports.c2s}`)).toMatch(/^online alice@localhost\//);
  }, 30_000);

  (hasIpv6Loopback ? test : test.skip)("direct TLS to xmpps://[::1] logs in", async () => {
    const server = await startServer(config("::1"), { log: { info() {}, warn() {} } });
    servers.push(server);
    expect(await loginFromProcess(`xmpps://[::1]:${server.ports.directTls}`)).toMatch(/^online alice@localhost\//);
  }, 30_000);
});

describe("serve --dev's folder", () => {
  test("holds such a certificate, made anew when cert.pem and key.pem were deleted (keys and passwords kept)", async () => {
    const cwd = join(dir, "project");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(cwd);
    const setup = await ensureDevSetup(cwd);
    const names = () => new X509Certificate(readFileSync(setup.certFile)).subjectAltName!.split(", ");
    expect(names()).toEqual(expect.arrayContaining(["DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"]));
    const first = readFileSync(setup.certFile, "utf8");
    const secret = readFileSync(join(setup.dir, "token-secret"), "utf8");
    rmSync(setup.certFile);
    rmSync(join(setup.dir, "key.pem"));
    const again = await ensureDevSetup(cwd);
    expect(readFileSync(again.certFile, "utf8")).not.toBe(first);
    expect(names()).toContain("IP Address:0:0:0:0:0:0:0:1");
    expect(readFileSync(join(again.dir, "token-secret"), "utf8")).toBe(secret);
    expect(again.passwords).toEqual(setup.passwords);
  }, 30_000);
});
