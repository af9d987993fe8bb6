/**
 * docs/client-certs.md: its openssl commands, run as written, make a certificate that logs in with
 * SASL EXTERNAL once registered, and whose id-on-xmppAddr is the JID written in client.cnf.
 */
import { afterAll, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer } from "./helpers/server.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import { externalOutcome, restartAndBind, tlsStream } from "./helpers/client-certs.js";
import { parseCertificate, registerClientCertificate } from "../src/auth/index.js";

const ROOT = new URL("..", import.meta.url).pathname;
afterAll(removeTempDirs);

function shellBlockStartingWith(file: string, firstLine: string): string {
  const text = readFileSync(join(ROOT, file), "utf8");
  const block = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith(firstLine));
  if (!block) throw new Error(`${file} has no sh block starting with ${firstLine}`);
  return block;
}

test("the documented openssl commands make a certificate that logs alice in with EXTERNAL", async () => {
  const dir = tempDir("x-token-certs-docs-");
  execFileSync("bash", ["-euo", "pipefail", "-c", shellBlockStartingWith("docs/client-certs.md", "cat > client.cnf")], { cwd: dir, stdio: "pipe" });
  const cert = readFileSync(join(dir, "client.crt"), "utf8");
  const key = readFileSync(join(dir, "client.key"), "utf8");
  const parsed = parseCertificate(execFileSync("openssl", ["x509", "-in", join(dir, "client.crt"), "-outform", "DER"]));
  expect(parsed.xmppAddrs).toEqual(["alice@example.test"]);
  expect(parsed.notAfter - parsed.notBefore).toBe(365 * 86400);
  // What the doc says `openssl x509 -noout -text` shows.
  expect(execFileSync("openssl", ["x509", "-in", join(dir, "client.crt"), "-noout", "-text"]).toString()).toMatch(/othername: ?XmppAddr::?alice@example\.test/);
  // The PKCS#12 bundle holds the certificate and the key under the documented password.
  const p12 = execFileSync("openssl", ["pkcs12", "-in", join(dir, "client.p12"), "-passin", "pass:change-me", "-nodes"]).toString();
  expect(p12).toContain("BEGIN CERTIFICATE");
  expect(p12).toContain("PRIVATE KEY");

  const t = await startTestServer();
  try {
    registerClientCertificate(t.server.storage.clientCerts, { account: "alice@example.test", name: "laptop", certificate: Buffer.from(cert) });
    const { client, mechanisms } = await tlsStream(t, { cert, key, der: parsed.der, certPath: "", keyPath: "" });
    expect(mechanisms).toContain("EXTERNAL");
    expect(await externalOutcome(client)).toBe("success");
    expect(await restartAndBind(client, "laptop")).toBe("alice@example.test/laptop");
    client.destroy();
  } finally {
    await t.close();
  }
});
