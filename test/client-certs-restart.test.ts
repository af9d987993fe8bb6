/**
 * Client certificates with a real `x-token serve` on SQLite, managed by the real `x-token cert`
 * process while it runs: registrations hold across a SIGKILL and a restart; a certificate
 * revoked from the command line closes its live session at the next SIGHUP; and an independent
 * client, slixmpp (python3-slixmpp), presenting the certificate logs in with EXTERNAL.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBinary } from "./helpers/cli.js";
import { startServe, type ServeProcess } from "./helpers/serve-process.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import { externalOutcome, makeClientCertificate, restartAndBind, tlsStream, type ClientIdentity } from "./helpers/client-certs.js";
import { testCertificate } from "./helpers/server.js";

const DOMAIN = "example.test";
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const CA = join(FIXTURES, "tls/cert.pem");
let dir: string;
let env: NodeJS.ProcessEnv;
let ca: string;
let laptop: ClientIdentity;

beforeAll(async () => {
  dir = tempDir("x-token-certs-serve-");
  const config = join(dir, "x-token.json");
  writeFileSync(config, JSON.stringify({ tls: { certFile: CA, keyFile: join(FIXTURES, "tls/key.pem") } }));
  env = {
    XTOKEN_CONFIG: config,
    XTOKEN_DOMAIN: DOMAIN,
    XTOKEN_SECRET: "client-certs-test-secret-long-enough",
    XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY",
    XTOKEN_DATA_DIR: join(dir, "data"),
  };
  ca = (await testCertificate()).cert;
  laptop = makeClientCertificate(dir, [`alice@${DOMAIN}`]);
  // DER on disk too: the CLI takes either.
  writeFileSync(join(dir, "laptop.der"), laptop.der);
});
afterAll(() => removeTempDirs());

const target = (p: ServeProcess) => ({ server: { ports: { c2s: p.c2s, directTls: null } }, caCert: ca });

async function kill(p: ServeProcess): Promise<void> {
  const exited = new Promise((resolve) => p.child.once("exit", resolve));
  p.child.kill("SIGKILL");
  await exited;
}

function slixmpp(jid: string, port: number, identity: ClientIdentity): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile("/usr/bin/python3", [join(FIXTURES, "slixmpp_external.py"), jid, String(port), CA, identity.certPath, identity.keyPath], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe("x-token cert with a running x-token serve (SQLite)", () => {
  test("cert add (PEM) while serve runs; EXTERNAL logs in; the registration holds after SIGKILL and a restart", async () => {
    const first = await startServe(env);
    try {
      const added = await runBinary(["cert", "add", "--jid", `Alice@${DOMAIN}`, "--name", "laptop", laptop.certPath], env);
      expect(added.stderr).toContain(`registered "laptop" for alice@${DOMAIN}`);
      expect(added.code).toBe(0);
      const { client, mechanisms } = await tlsStream(target(first), laptop);
      expect(mechanisms).toContain("EXTERNAL");
      expect(await externalOutcome(client)).toBe("success");
      client.destroy();
    } finally {
      await kill(first);
    }
    const second = await startServe(env);
    try {
      const { client } = await tlsStream(target(second), laptop);
      expect(await externalOutcome(client)).toBe("success");
      client.destroy();
      const listed = await runBinary(["cert", "list", "--jid", `alice@${DOMAIN}`], env);
      expect(listed.stdout).toMatch(new RegExp(`^alice@${DOMAIN}\\tlaptop\\tsha256:[0-9a-f]{64}\\t.* \\.\\. .*\\tenabled\\n$`));
    } finally {
      await second.stop();
    }
  });

  test("slixmpp presenting the certificate logs in with EXTERNAL", async () => {
    const p = await startServe(env);
    try {
      const result = await slixmpp(`alice@${DOMAIN}/slix`, p.c2s, laptop);
      expect(result.out).toContain(`bound alice@${DOMAIN}/slix`);
      expect(result.code).toBe(0);
      await p.logged(`authenticated alice@${DOMAIN} from 127.0.0.1 via EXTERNAL over tcp`);
      // An unregistered certificate: slixmpp finds no EXTERNAL and gives up.
      const stranger = makeClientCertificate(dir, [`alice@${DOMAIN}`]);
      const refused = await slixmpp(`alice@${DOMAIN}/slix`, p.c2s, stranger);
      expect(refused.out).not.toContain("bound");
      expect(refused.code).not.toBe(0);
    } finally {
      await p.stop();
    }
  });

  test("cert revoke FILE (DER) refuses new logins; SIGHUP closes the session that logged in with it", async () => {
    const p = await startServe(env);
    try {
      const live = await tlsStream(target(p), laptop);
      expect(await externalOutcome(live.client)).toBe("success");
      await restartAndBind(live.client, "desk");
      const revoked = await runBinary(["cert", "revoke", "--jid", `alice@${DOMAIN}`, join(dir, "laptop.der")], env);
      expect(revoked.code).toBe(0);
      expect(revoked.stderr).toContain(`revoked "laptop" of alice@${DOMAIN}`);
      const after = await tlsStream(target(p), laptop);
      expect(after.mechanisms).not.toContain("EXTERNAL");
      after.client.destroy();
      expect(live.client.closed).toBe(false);
      p.child.kill("SIGHUP");
      await live.client.waitForClose(10_000);
      expect(live.client.received).toContain("was revoked");
      expect((await runBinary(["cert", "list"], env)).stderr).toContain("no client certificates");
    } finally {
      await p.stop();
    }
  });

  test("the CLI's refusals are one line: unknown command, missing file, a key file, memory storage", async () => {
    const bad = await runBinary(["cert", "add", "--jid", `alice@${DOMAIN}`, laptop.keyPath], env);
    expect(bad).toEqual({ code: 2, stdout: "", stderr: "x-token: cert: not a usable certificate: the file holds a private key: give the certificate alone (keep the key on the device)\n" });
    expect((await runBinary(["cert", "add", "--jid", `alice@${DOMAIN}`], env)).stderr).toBe("x-token: cert: add needs the certificate FILE\n");
    expect((await runBinary(["cert", "frob"], env)).stderr).toContain('unknown command "frob"');
    expect((await runBinary(["cert", "add", "--jid", "alice@elsewhere.test", laptop.certPath], env)).stderr).toContain("elsewhere.test is not a domain of this configuration");
    expect((await runBinary(["cert", "list"], { ...env, XTOKEN_STORAGE: "memory" })).stderr).toContain("the storage engine is memory");
  });
});
