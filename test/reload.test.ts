/**
 * `x-token serve` while running: SIGHUP reloads the configuration file without dropping a
 * stream (domains, keys, the certificate, limits); a file with a mistake is refused with one
 * line and the running configuration stays; SIGTERM closes streams and the storage, exit 0.
 * Real processes of the compiled binary, on a configuration file in a temporary folder.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import type { ChildProcess } from "node:child_process";
import { run } from "../src/app/cli/main.js";
import { mintToken } from "../src/core/token/mint.js";
import type { TokenKey } from "../src/core/token/keys.js";
import { createSelfSignedCertificate } from "../src/app/tls/self-signed.js";
import { spawnCli, watch } from "./helpers/cli.js";
import { RawClient, freshKey, saslAuth, startTestServer, streamHeader } from "./helpers/server.js";

const DOMAIN = "example.test";
const OTHER = "other.test";
const FIXTURES = new URL("./fixtures/tls/", import.meta.url);

const folders: string[] = [];
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** A temporary folder with the test certificate in it (cert.pem, key.pem); removed after the tests. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "x-token-reload-"));
  folders.push(dir);
  writeFileSync(join(dir, "cert.pem"), readFileSync(new URL("cert.pem", FIXTURES)));
  writeFileSync(join(dir, "key.pem"), readFileSync(new URL("key.pem", FIXTURES)));
  return dir;
}

interface FileOptions {
  /** Replaces the whole file's text (a broken file). */
  text?: string;
  tls?: { certFile: string; keyFile: string };
  listeners?: Record<string, unknown>;
  limits?: Record<string, number>;
}

/** Writes config.json: the domains with their keys, c2s on a free port, STARTTLS optional. */
function writeConfig(dir: string, domains: Record<string, TokenKey[]>, options: FileOptions = {}): string {
  const file = join(dir, "config.json");
  const config = {
    domains: Object.fromEntries(Object.entries(domains).map(([name, keys]) => [name, { keys }])),
    listeners: { host: "127.0.0.1", c2sPort: 0, httpPort: null, ...options.listeners },
    tls: options.tls ?? { certFile: "cert.pem", keyFile: "key.pem" },
    requireTls: false,
    limits: { maxAuthFailuresPerIpPerMinute: 1000, maxAuthFailuresPerJidPerMinute: 1000, ...options.limits },
  };
  writeFileSync(file, options.text ?? JSON.stringify(config, null, 2));
  return file;
}

interface Serve {
  child: ChildProcess;
  port: number;
  output: ReturnType<typeof watch>;
  /** Sends SIGHUP and waits for the reload's outcome line (reloaded or refused); returns what the process wrote meanwhile. */
  reload(): Promise<string>;
  stop(): Promise<number | null>;
}

async function startServe(dir: string, env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const child = spawnCli(["serve", "--config", join(dir, "config.json")], env, dir);
  const output = watch(child);
  try {
    const [, port] = await output.waitFor(/xmpp:\/\/127\.0\.0\.1:(\d+)/);
    await output.waitFor(/Storage: /);
    return {
      child,
      port: Number(port),
      output,
      async reload() {
        // Log lines are written in batches of up to 100 ms: let earlier ones out first.
        await new Promise((r) => setTimeout(r, 150));
        const from = output.text().length;
        child.kill("SIGHUP");
        const deadline = Date.now() + 10_000;
        while (!/configuration reload(ed|\s+refused)/.test(output.text().slice(from))) {
          if (Date.now() > deadline) throw new Error(`no reload line after SIGHUP: ${output.text()}`);
          await new Promise((r) => setTimeout(r, 25));
        }
        // A restart line, when there is one, is written with the outcome line; wait out a batch anyway.
        await new Promise((r) => setTimeout(r, 200));
        return output.text().slice(from);
      },
      async stop() {
        if (child.exitCode === null) child.kill("SIGTERM");
        return output.exited;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

function token(localpart: string, domain: string, key: TokenKey | TokenKey[]): string {
  return mintToken({ jid: `${localpart}@${domain}`, key });
}

/** One X-TOKEN login on a fresh plain stream: "success", the SASL failure condition, or the stream error. */
async function tryLogin(port: number, domain: string, localpart: string, tokenText: string): Promise<string> {
  const client = await RawClient.connect(port);
  try {
    client.write(streamHeader(domain));
    const text = await client.waitFor(/<\/stream:features>|<stream:error[\s\S]*<\/stream:error>/);
    const streamError = /<stream:error[^>]*><([a-z-]+)/.exec(text);
    if (streamError) return `stream:${streamError[1]}`;
    client.clear();
    client.write(saslAuth(localpart, tokenText));
    const answer = await client.waitFor(/<success|<\/failure>/);
    return answer.includes("<success") ? "success" : (/<failure[^>]*><([a-z-]+)/.exec(answer)?.[1] ?? answer);
  } finally {
    client.destroy();
  }
}

/** A session logged in and bound over `client` (a fresh stream, plain or already under TLS). */
async function bind(client: RawClient, domain: string, localpart: string, tokenText: string): Promise<RawClient> {
  client.write(streamHeader(domain));
  await client.waitFor("</stream:features>");
  client.clear();
  client.write(saslAuth(localpart, tokenText));
  await client.waitFor("<success");
  client.clear();
  client.write(streamHeader(domain));
  await client.waitFor("</stream:features>");
  client.clear();
  client.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  await client.waitFor("</iq>");
  client.clear();
  return client;
}

/** The session is still there and answered: a roster get comes back as a result. */
async function rosterGet(client: RawClient, id: string): Promise<string> {
  client.clear();
  client.write(`<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`);
  const text = await client.waitFor(new RegExp(`<iq[^>]*id=["']${id}["'][\\s\\S]*?(/>|</iq>)`));
  expect(text).toMatch(new RegExp(`<iq[^>]*type=["']result["'][^>]*id=["']${id}["']|<iq[^>]*id=["']${id}["'][^>]*type=["']result["']`));
  return text;
}

/** STARTTLS on a fresh stream; the certificate the server presented. */
async function startTlsCertificate(port: number): Promise<{ fingerprint: string; socket: tls.TLSSocket }> {
  const client = await RawClient.connect(port);
  client.write(streamHeader(DOMAIN));
  await client.waitFor("</stream:features>");
  client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await client.waitFor("<proceed");
  // The raw socket under RawClient: the handshake's certificate is what the test looks at.
  const socket = (client as unknown as { socket: import("node:net").Socket }).socket;
  const secured = tls.connect({ socket, servername: DOMAIN, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    secured.once("secureConnect", resolve);
    secured.once("error", reject);
  });
  return { fingerprint: secured.getPeerCertificate().fingerprint256, socket: secured };
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

describe("x-token serve: SIGHUP reloads the configuration", () => {
  test("a key and a domain added while a session stays connected; a key and a domain removed stop their logins", async () => {
    const dir = tempDir();
    const [k1, k2, k3] = [freshKey(), freshKey(), freshKey()];
    writeConfig(dir, { [DOMAIN]: [k1] });
    const serve = await startServe(dir);
    try {
      const alice = await bind(await RawClient.connect(serve.port), DOMAIN, "alice", token("alice", DOMAIN, k1));
      expect(await tryLogin(serve.port, DOMAIN, "bob", token("bob", DOMAIN, k2))).toBe("not-authorized");
      expect(await tryLogin(serve.port, OTHER, "carol", token("carol", OTHER, k3))).toBe("stream:host-unknown");

      // New key first (rotation), a new domain.
      writeConfig(dir, { [DOMAIN]: [k2, k1], [OTHER]: [k3] });
      const added = await serve.reload();
      expect(linesOf(added)).toHaveLength(1);
      expect(added).toMatch(/ info x-token: configuration reloaded: domains example\.test, other\.test \(added other\.test\); keys rotated for example\.test\n/);
      await rosterGet(alice, "after-add");
      expect(await tryLogin(serve.port, DOMAIN, "bob", token("bob", DOMAIN, k2))).toBe("success");
      expect(await tryLogin(serve.port, OTHER, "carol", token("carol", OTHER, k3))).toBe("success");
      expect(await tryLogin(serve.port, DOMAIN, "dave", token("dave", DOMAIN, k1))).toBe("success");

      // The old key dropped, the other domain removed; a listener setting changed too (needs a restart).
      writeConfig(dir, { [DOMAIN]: [k2] }, { listeners: { c2sPort: 1 } });
      const removed = await serve.reload();
      expect(removed).toMatch(/configuration reloaded: domains example\.test \(removed other\.test\); keys rotated for example\.test\n/);
      expect(removed).toMatch(/ warn x-token: listeners changed; restart to apply/);
      expect(linesOf(removed)).toHaveLength(2);
      expect(await tryLogin(serve.port, DOMAIN, "erin", token("erin", DOMAIN, k1))).toBe("not-authorized");
      expect(await tryLogin(serve.port, OTHER, "carol", token("carol", OTHER, k3))).toBe("stream:host-unknown");
      expect(await tryLogin(serve.port, DOMAIN, "frank", token("frank", DOMAIN, k2))).toBe("success");
      // Still on the port it started with, and the session logged in with the removed key is still answered.
      await rosterGet(alice, "after-remove");
      expect(alice.closed).toBe(false);
      alice.destroy();

      const all = serve.output.text();
      for (const key of [k1, k2, k3]) {
        expect(all).not.toContain(key.tokenSecret);
        expect(all).not.toContain(key.otpSeed);
      }
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  test("a replaced certificate is served to new STARTTLS connections; an encrypted session keeps going", async () => {
    const dir = tempDir();
    const key = freshKey();
    writeConfig(dir, { [DOMAIN]: [key] });
    const serve = await startServe(dir);
    try {
      const oldCert = readFileSync(join(dir, "cert.pem"), "utf8");
      const before = await startTlsCertificate(serve.port);
      expect(before.fingerprint).toBe(fingerprint(oldCert));
      before.socket.destroy();

      // A session under the old certificate, logged in before the reload.
      const client = await RawClient.connect(serve.port);
      client.write(streamHeader(DOMAIN));
      await client.waitFor("</stream:features>");
      client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      await client.waitFor("<proceed");
      await client.startTls(oldCert);
      client.clear();
      const alice = await bind(client, DOMAIN, "alice", token("alice", DOMAIN, key));

      const pem = await createSelfSignedCertificate([DOMAIN]);
      writeFileSync(join(dir, "new-cert.pem"), pem.cert);
      writeFileSync(join(dir, "new-key.pem"), pem.key);
      writeConfig(dir, { [DOMAIN]: [key] }, { tls: { certFile: "new-cert.pem", keyFile: "new-key.pem" } });
      const reloaded = await serve.reload();
      expect(reloaded).toMatch(/configuration reloaded: certificate replaced\n/);
      expect(linesOf(reloaded)).toHaveLength(1);
      expect(reloaded).not.toContain("PRIVATE KEY");

      const after = await startTlsCertificate(serve.port);
      expect(after.fingerprint).toBe(fingerprint(pem.cert));
      expect(after.fingerprint).not.toBe(fingerprint(oldCert));
      after.socket.destroy();
      await rosterGet(alice, "after-cert");
      alice.destroy();
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  test("a broken file is refused with one line each time; the server keeps running on the old configuration", async () => {
    const dir = tempDir();
    const key = freshKey();
    writeConfig(dir, { [DOMAIN]: [key] });
    const serve = await startServe(dir);
    try {
      const alice = await bind(await RawClient.connect(serve.port), DOMAIN, "alice", token("alice", DOMAIN, key));
      const badSecret = "THIS-SECRET-MUST-NOT-BE-LOGGED";
      const broken: [string, () => void, RegExp][] = [
        ["invalid JSON", () => writeConfig(dir, {}, { text: `{ "domains": { "${DOMAIN}": ` }), /config: \S*config\.json is not valid JSON/],
        ["a bad key", () => writeConfig(dir, { [DOMAIN]: [{ tokenSecret: badSecret, otpSeed: "not base32!" }] }), /config: domains\["example\.test"\]\.keys\[0\]\.otpSeed is not valid base32/],
        ["an unreadable certificate", () => writeConfig(dir, { [DOMAIN]: [key] }, { tls: { certFile: "missing.pem", keyFile: "key.pem" } }), /config: tls\.certFile: cannot read \S*missing\.pem \(ENOENT\)/],
        ["a certificate that is not one", () => (writeFileSync(join(dir, "junk.pem"), "not a certificate\n"), writeConfig(dir, { [DOMAIN]: [key] }, { tls: { certFile: "junk.pem", keyFile: "key.pem" } })), /config: tls\.certFile and tls\.keyFile are not a usable PEM certificate/],
      ];
      for (const [what, write, message] of broken) {
        write();
        const refused = await serve.reload();
        expect({ what, lines: linesOf(refused) }).toEqual({ what, lines: [expect.stringMatching(/ warn x-token: configuration reload refused, still running the previous configuration: config: /)] });
        expect(refused).toMatch(message);
        expect(refused).not.toContain(badSecret);
        expect(serve.child.exitCode).toBeNull();
        // The old key still logs in; the session is still answered.
        expect(await tryLogin(serve.port, DOMAIN, "bob", token("bob", DOMAIN, key))).toBe("success");
        await rosterGet(alice, `after-${what.replace(/\W+/g, "-")}`);
      }
      // Fixed again: it reloads (nothing changed compared with what runs).
      writeConfig(dir, { [DOMAIN]: [key] });
      expect(await serve.reload()).toMatch(/configuration reloaded: no change\n/);
      // A login limit: one failure closes a stream from now on.
      writeConfig(dir, { [DOMAIN]: [key] }, { limits: { maxAuthFailuresPerConnection: 1 } });
      expect(await serve.reload()).toMatch(/configuration reloaded: limits maxAuthFailuresPerConnection\n/);
      const mallory = await RawClient.connect(serve.port);
      mallory.write(streamHeader(DOMAIN));
      await mallory.waitFor("</stream:features>");
      mallory.write(saslAuth("mallory", "not-a-token"));
      await mallory.waitFor("<policy-violation");
      mallory.destroy();
      await rosterGet(alice, "after-limits");
      alice.destroy();
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});

describe("x-token serve: SIGTERM", () => {
  test("closes streams with system-shutdown, closes the SQLite database and exits 0; the data is there at the next start", async () => {
    const dir = tempDir();
    const key = freshKey();
    writeConfig(dir, { [DOMAIN]: [key] });
    const env = { XTOKEN_DATA_DIR: join(dir, "data") };
    const serve = await startServe(dir, env);
    const alice = await bind(await RawClient.connect(serve.port), DOMAIN, "alice", token("alice", DOMAIN, key));
    alice.write("<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='bob@example.test' name='Bob'/></query></iq>");
    await alice.waitFor(/id=["']add["']/);
    alice.clear();
    serve.child.kill("SIGTERM");
    await alice.waitFor("<system-shutdown");
    await alice.waitFor("</stream:stream>");
    expect(await serve.output.exited).toBe(0);
    expect(serve.output.text()).toMatch(/x-token: SIGTERM received, closing streams\n/);
    expect(serve.output.text()).toMatch(/ info x-token: stopped\n/);
    alice.destroy();
    // Closed cleanly: the write-ahead log was checkpointed into the database and removed.
    expect(existsSync(join(dir, "data", "x-token.sqlite"))).toBe(true);
    expect(existsSync(join(dir, "data", "x-token.sqlite-wal"))).toBe(false);

    const again = await startServe(dir, env);
    try {
      const back = await bind(await RawClient.connect(again.port), DOMAIN, "alice", token("alice", DOMAIN, key));
      expect(await rosterGet(back, "roster")).toContain("bob@example.test");
      back.destroy();
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });
});

/** `serve` run in-process (`run`), with a stop signal and reload requests the test gives. */
function serveInProcess(argv: string[], env: NodeJS.ProcessEnv, cwd: string) {
  let onReload: (() => void) | null = null;
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = run({
    argv,
    env: { XTOKEN_STORAGE: "memory", ...env },
    stdout,
    stderr,
    stdin: Readable.from([""]),
    cwd,
    stopSignal: () => stopped,
    reloadSignal: (handler) => (onReload = handler),
  });
  return {
    exited,
    stop,
    out: () => out,
    err: () => err,
    /** What a SIGHUP does in the binary. */
    reload() {
      expect(onReload).not.toBeNull();
      onReload!();
    },
    async waitFor(test: () => boolean) {
      for (let i = 0; i < 400 && !test(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(test()).toBe(true);
    },
  };
}

describe("x-token serve: reload requests in-process (CliIO.reloadSignal)", () => {
  test("requests that arrive together are one reload; after the stop signal they are ignored", async () => {
    const dir = tempDir();
    const [k1, k2] = [freshKey(), freshKey()];
    const file = writeConfig(dir, { [DOMAIN]: [k1] });
    const serve = serveInProcess(["serve", "--config", file], {}, dir);
    await serve.waitFor(() => /Storage: /.test(serve.out()));
    const port = Number(/xmpp:\/\/127\.0\.0\.1:(\d+)/.exec(serve.out())![1]);
    writeConfig(dir, { [DOMAIN]: [k2] });
    serve.reload();
    serve.reload();
    serve.reload();
    await serve.waitFor(() => /configuration reloaded/.test(serve.err()));
    await new Promise((r) => setTimeout(r, 150)); // log lines are written in batches of up to 100 ms
    expect(serve.err().match(/configuration reloaded: keys rotated for example\.test/g)).toHaveLength(1);
    expect(await tryLogin(port, DOMAIN, "alice", token("alice", DOMAIN, k2))).toBe("success");
    expect(await tryLogin(port, DOMAIN, "bob", token("bob", DOMAIN, k1))).toBe("not-authorized");

    serve.stop("SIGTERM");
    writeConfig(dir, { [DOMAIN]: [k1] });
    serve.reload();
    expect(await serve.exited).toBe(0);
    expect(serve.err()).toMatch(/x-token: SIGTERM received, closing streams/);
    expect(serve.err().match(/configuration reload/g)).toHaveLength(1);
  });

  test("serve --dev reloads its own config.json; a rotated demo-domain key says the demo needs a restart", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "x-token-reload-dev-"));
    folders.push(cwd);
    // XTOKEN_CONFIG is ignored with --dev, at start and at a reload.
    const serve = serveInProcess(["serve", "--dev"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_COMPONENT_PORT: "0", XTOKEN_CONFIG: "/nonexistent.json" }, cwd);
    await serve.waitFor(() => /Mint another/.test(serve.out()));
    serve.reload();
    await serve.waitFor(() => /configuration reloaded: no change\n/.test(serve.err()));
    const file = join(cwd, ".x-token-dev", "config.json");
    const config = JSON.parse(readFileSync(file, "utf8")) as { domains: Record<string, { keys: unknown[] }> };
    config.domains.localhost!.keys.unshift(freshKey());
    writeFileSync(file, JSON.stringify(config));
    serve.reload();
    await serve.waitFor(() => /restart to apply/.test(serve.err()));
    expect(serve.err()).toMatch(/configuration reloaded: keys rotated for localhost\n/);
    expect(serve.err()).toMatch(/ warn x-token: demo \(its tokens use localhost's keys from the start\) changed; restart to apply/);
    serve.stop("SIGTERM");
    expect(await serve.exited).toBe(0);
  });
});

describe("RunningServer.reload (in-process)", () => {
  test("direct TLS serves the new certificate; a certificate Node cannot use changes nothing", async () => {
    const t = await startTestServer({ directTls: true, requireTls: false });
    try {
      const handshake = async () => {
        const socket = tls.connect({ port: t.server.ports.directTls!, host: "127.0.0.1", servername: DOMAIN, rejectUnauthorized: false });
        await new Promise<void>((resolve, reject) => {
          socket.once("secureConnect", resolve);
          socket.once("error", reject);
        });
        const seen = socket.getPeerCertificate().fingerprint256;
        socket.destroy();
        return seen;
      };
      expect(await handshake()).toBe(fingerprint(t.caCert));
      const pem = await createSelfSignedCertificate([DOMAIN]);
      const other = await createSelfSignedCertificate([DOMAIN]);

      // Another certificate's key, and the other domain gone: refused whole, before anything changes.
      const { [OTHER]: _removed, ...onlyMain } = t.config.domains;
      expect(() => t.server.reload({ ...t.config, domains: onlyMain, tls: { cert: pem.cert, key: other.key } })).toThrow();
      expect(t.server.authority.hosts(OTHER)).toBe(true);
      expect(await handshake()).toBe(fingerprint(t.caCert));

      const report = t.server.reload({ ...t.config, tls: pem });
      expect(report).toEqual({ applied: ["certificate replaced"], needsRestart: [] });
      expect(await handshake()).toBe(fingerprint(pem.cert));
      expect(t.server.config.tls).toEqual(pem);
    } finally {
      await t.close();
    }
  });

  test("login limits apply to streams already open; other settings keep their running value and are reported", async () => {
    const t = await startTestServer({ requireTls: false, limits: { maxAuthFailuresPerConnection: 5 } });
    try {
      const client = await RawClient.connect(t.server.ports.c2s!);
      client.write(streamHeader(DOMAIN));
      await client.waitFor("</stream:features>");
      client.clear();
      client.write(saslAuth("alice", "not-a-token"));
      await client.waitFor("</failure>");
      expect(client.closed).toBe(false);

      const report = t.server.reload({
        ...t.config,
        limits: { ...t.config.limits, maxAuthFailuresPerConnection: 2, idleTimeoutSeconds: 300 },
        requireTls: true,
        listeners: { ...t.config.listeners, c2sPort: 1 },
      });
      expect(report).toEqual({ applied: ["limits maxAuthFailuresPerConnection, idleTimeoutSeconds"], needsRestart: ["listeners", "requireTls"] });
      expect(t.server.config.requireTls).toBe(false);
      expect(t.server.config.listeners.c2sPort).toBe(0);
      expect(t.server.config.limits.idleTimeoutSeconds).toBe(300);

      // The second failure on the stream opened before the reload is its last under the new limit.
      client.clear();
      client.write(saslAuth("alice", "not-a-token"));
      await client.waitFor("<policy-violation");
      client.destroy();
    } finally {
      await t.close();
    }
  });
});
