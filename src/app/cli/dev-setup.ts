/**
 * `serve --dev`: a local development setup made once and kept in `.x-token-dev/`
 * (keys, a self-signed certificate, demo users), described by an ordinary config.json there,
 * so `x-token mint --config .x-token-dev/config.json` works against the same keys.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { base32Encode } from "../../core/otp/base32.js";
import { createSelfSignedCertificate } from "../tls/self-signed.js";
import { hashPassword } from "../../auth/password/scrypt-hash.js";
import { UsageError } from "./io.js";
import { isObject } from "../config/validators.js";

export const DEV_DIR = ".x-token-dev";
export const DEV_DOMAIN = "localhost";
export const DEV_USERS = ["alice", "bob"] as const;
/** The login-token component's domain, hosted by `serve --dev` and joined by `component --dev`. */
export const DEV_COMPONENT_DOMAIN = `tokens.${DEV_DOMAIN}`;

export interface DevSetup {
  dir: string;
  configFile: string;
  certFile: string;
  passwords: Record<string, string>;
  /** Settings this start added to a config.json made by an older version (to say so). */
  added: string[];
}

function writeSecret(file: string, text: string): void {
  // `wx` never overwrites: a second process racing us fails instead of mixing two setups.
  writeFileSync(file, text, { mode: 0o600, flag: "wx" });
}

/**
 * The development setup in `cwd`/.x-token-dev/, made on the first call. A folder where it cannot
 * be read or written is a usage error that names the folder (not a listening problem, not a bug).
 */
export async function ensureDevSetup(cwd: string): Promise<DevSetup> {
  try {
    return await devSetup(cwd);
  } catch (err) {
    const code = typeof err === "object" && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
    if (code === undefined || err instanceof UsageError) throw err;
    const why = code === "EACCES" || code === "EPERM" || code === "EROFS" ? "the folder is not writable for this user" : code;
    throw new UsageError(`--dev keeps its keys in ${join(cwd, DEV_DIR)}/ and cannot create them there (${why}); start it from a folder you can write to`);
  }
}

async function devSetup(cwd: string): Promise<DevSetup> {
  const dir = join(cwd, DEV_DIR);
  const configFile = join(dir, "config.json");
  const passwordsFile = join(dir, "demo-passwords.json");
  const setup = { dir, configFile, certFile: join(dir, "cert.pem") };
  if (existsSync(configFile)) {
    const added = upgradeDevConfig(dir, configFile);
    // Deleted on purpose (docs/client.md: a certificate from an older version): made anew.
    if (!existsSync(join(dir, "cert.pem")) && !existsSync(join(dir, "key.pem"))) await writeCertificate(dir);
    // The passwords file is a convenience for printing; the hashes in config.json are what count.
    let passwords: Record<string, string> = {};
    try {
      passwords = JSON.parse(readFileSync(passwordsFile, "utf8")) as Record<string, string>;
    } catch {
      passwords = {};
    }
    return { ...setup, passwords, added };
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    // config.json is written last, so this is a setup interrupted half-way: never overwrite secrets.
    throw new UsageError(`${DEV_DIR}/ has no config.json (an interrupted first start?); delete the folder and start again`);
  }
  mkdirSync(dir, { mode: 0o700 }); // not recursive: cwd exists (and recursive mkdir can spin on /proc)
  chmodSync(dir, 0o700);
  await writeCertificate(dir);
  writeSecret(join(dir, "token-secret"), base32Encode(randomBytes(32)));
  writeSecret(join(dir, "otp-seed"), base32Encode(randomBytes(20)));
  writeSecret(join(dir, "session-secret"), randomBytes(32).toString("base64"));
  const passwords = Object.fromEntries(DEV_USERS.map((user) => [user, randomBytes(9).toString("base64url")]));
  writeSecret(passwordsFile, `${JSON.stringify(passwords, null, 2)}\n`);
  const users = await Promise.all(DEV_USERS.map(async (username) => ({ username, passwordHash: await hashPassword(passwords[username]!) })));
  const config = {
    domains: { [DEV_DOMAIN]: { keys: [{ tokenSecretFile: "token-secret", otpSeedFile: "otp-seed" }] } },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    demo: { domain: DEV_DOMAIN, sessionSecretFile: "session-secret", users },
    ...DEV_LOOPBACK_SETTING,
    ...DEV_PRESENCE_SETTING,
    ...devComponentSections(dir),
  };
  // The config file is written last: its presence means the setup is complete.
  writeSecret(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return { ...setup, passwords, added: [] };
}

/** The development certificate: localhost, 127.0.0.1 and ::1 (see docs/client.md). */
async function writeCertificate(dir: string): Promise<void> {
  const pem = await createSelfSignedCertificate([DEV_DOMAIN]);
  writeFileSync(join(dir, "cert.pem"), pem.cert, { mode: 0o644 });
  writeSecret(join(dir, "key.pem"), pem.key);
}

/**
 * The demo page talks to ws://127.0.0.1 (there is no wss:// in development): its stream counts as
 * TLS-protected only because this configuration says so (a loopback address alone never does).
 */
const DEV_LOOPBACK_SETTING = { loopbackWebSocketIsSecure: true } as const;

/** The demo page lists who is online on the domain: everyone sees everyone's presence there. */
const DEV_PRESENCE_SETTING = { presenceBroadcast: "domain" } as const;

/**
 * The login-token component's sections (see docs/component.md): the server hosts
 * tokens.localhost, `x-token component --dev` joins it; one secret file for both.
 */
function devComponentSections(dir: string): Record<string, unknown> {
  const secretFile = join(dir, "component-secret");
  if (!existsSync(secretFile)) writeSecret(secretFile, randomBytes(24).toString("base64url"));
  return {
    components: { [DEV_COMPONENT_DOMAIN]: { secretFile: "component-secret" } },
    tokenComponent: {
      service: "xmpp://127.0.0.1:5347",
      domain: DEV_COMPONENT_DOMAIN,
      secretFile: "component-secret",
      websocketUrl: "ws://127.0.0.1:5280/xmpp-websocket",
    },
  };
}

/**
 * A setup made by an older version gets what it lacks, once, so the demo keeps working after an
 * upgrade (the file is ours: generated here). A setting the user wrote, `false` included, stays.
 * Returns the names of the settings added.
 */
function upgradeDevConfig(dir: string, configFile: string): string[] {
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(configFile, "utf8"));
  } catch {
    return []; // loading it says what is wrong, with the line and column
  }
  if (!isObject(config)) return [];
  const additions: Record<string, unknown> = {};
  // Before loopbackWebSocketIsSecure existed, a loopback WebSocket always counted as secure.
  if (!("loopbackWebSocketIsSecure" in config)) Object.assign(additions, DEV_LOOPBACK_SETTING);
  // Before presenceBroadcast existed, presence always went to the whole domain (the demo's list).
  if (!("presenceBroadcast" in config)) Object.assign(additions, DEV_PRESENCE_SETTING);
  if (!("components" in config) && !("tokenComponent" in config)) Object.assign(additions, devComponentSections(dir));
  const added = Object.keys(additions);
  if (added.length > 0) writeFileSync(configFile, `${JSON.stringify({ ...config, ...additions }, null, 2)}\n`, { mode: 0o600 });
  return added;
}

/**
 * Where a running `serve --dev` really listens (ports from the environment, or picked by the
 * system with 0), kept in `.x-token-dev/running.json` while it runs, so `component --dev` joins
 * it there and hands out the right WebSocket URL.
 */
export interface DevRuntime {
  pid: number;
  /** The component listener, as `xmpp://host:port`; null when the server has none. */
  componentService: string | null;
  /** The WebSocket endpoint, as `ws://host:port/path`; null without an HTTP port. */
  websocketUrl: string | null;
}

const RUNTIME_FILE = "running.json";

/** Records a running dev server; the function returned removes the record (if it is still this one's). */
export function writeDevRuntime(dir: string, runtime: DevRuntime): () => void {
  const file = join(dir, RUNTIME_FILE);
  writeFileSync(file, `${JSON.stringify(runtime)}\n`, { mode: 0o600 });
  return () => {
    if (readRuntimeFile(file)?.pid === runtime.pid) rmSync(file, { force: true });
  };
}

/** The dev server running from this folder, or null (none, or one that ended without removing its record). */
export function readDevRuntime(dir: string): DevRuntime | null {
  const runtime = readRuntimeFile(join(dir, RUNTIME_FILE));
  if (!runtime) return null;
  try {
    process.kill(runtime.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return null; // ESRCH: gone
  }
  return runtime;
}

function readRuntimeFile(file: string): DevRuntime | null {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as unknown;
    if (!isObject(value) || typeof value.pid !== "number") return null;
    const text = (v: unknown) => (typeof v === "string" ? v : null);
    return { pid: value.pid, componentService: text(value.componentService), websocketUrl: text(value.websocketUrl) };
  } catch {
    return null;
  }
}
