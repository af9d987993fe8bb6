import { afterAll, describe, expect, test } from "@jest/globals";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DEFAULT_LIMITS, loadConfig, parseConfig } from "../src/app/config/load.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const KEY = { tokenSecret: "a-config-secret-value", otpSeed: "XVGR73KMZH2M4XMY" };
const NO_TLS = { requireTls: false };
const SESSION_SECRET = "a-demo-session-secret-of-at-least-32-bytes";

function configError(raw: unknown, env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}): string {
  try {
    parseConfig(raw, env, (path) => {
      if (path in files) return files[path]!;
      throw Object.assign(new Error("missing"), { code: "ENOENT" });
    });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("accepted");
}

describe("configuration", () => {
  test("defaults around one domain", () => {
    const config = parseConfig({ domains: { "Example.COM": { keys: [KEY] } }, ...NO_TLS });
    expect(config.domains).toEqual({ "example.com": { keys: [KEY], window: 1, nonceDigits: 32, disabledUsers: [] } });
    expect(config.listeners).toEqual({ host: "127.0.0.1", c2sPort: 5222, directTlsPort: null, httpPort: 5280, websocketPath: "/xmpp-websocket", componentHost: "127.0.0.1", componentPort: null });
    expect(config.limits).toEqual(DEFAULT_LIMITS);
    expect(config.replayMaxEntries).toBe(100_000);
    expect(config.allowPlainWithoutTls).toBe(false);
    expect(config.demo).toBeNull();
  });

  test("inherited object keys: a domain named __proto__ stays a domain; demo.domain constructor is not configured (issue 7 #10)", () => {
    const config = parseConfig({ domains: JSON.parse(`{"__proto__": ${JSON.stringify({ keys: [KEY] })}}`), ...NO_TLS });
    expect(Object.getPrototypeOf(config.domains)).toBe(Object.prototype);
    expect(Object.keys(config.domains)).toEqual(["__proto__"]);
    expect(Object.hasOwn(config.domains, "__proto__")).toBe(true);
    // The same for a hosted component's domain.
    const withComponent = parseConfig({ domains: { "example.com": { keys: [KEY] } }, ...NO_TLS, components: JSON.parse('{"__proto__": {"secret": "component-secret"}}') });
    expect(Object.getPrototypeOf(withComponent.components!)).toBe(Object.prototype);
    expect(Object.keys(withComponent.components!)).toEqual(["__proto__"]);
    const demo = { users: [{ username: "a", passwordHash: "x" }], sessionSecret: SESSION_SECRET };
    for (const name of ["constructor", "toString"]) {
      expect(configError({ domains: { "example.com": { keys: [KEY] } }, ...NO_TLS, demo: { ...demo, domain: name } })).toBe(
        `config: demo.domain ${name.toLowerCase()} is not one of the configured domains`,
      );
    }
    // A secret named by an environment variable that only the prototype has is not set.
    expect(configError({ domains: { "example.com": { keys: [{ tokenSecretEnv: "constructor", otpSeed: KEY.otpSeed }] } }, ...NO_TLS })).toMatch(
      /environment variable constructor is not set/,
    );
  });

  test("a single domain from the environment, no file", () => {
    const config = parseConfig({}, {
      XTOKEN_DOMAIN: "chat.example.org",
      XTOKEN_SECRET: KEY.tokenSecret,
      XTOKEN_OTP_SEED: KEY.otpSeed,
      XMPP_HOST: "::1",
      XMPP_C2S_PORT: "15222",
      XMPP_HTTP_PORT: "0",
      XMPP_REQUIRE_TLS: "false",
    });
    expect(config.domains["chat.example.org"]?.keys).toEqual([KEY]);
    expect(config.listeners).toMatchObject({ host: "::1", c2sPort: 15222, httpPort: 0 });
    expect(config.requireTls).toBe(false);
  });

  test("environment overrides the file's listeners and TLS requirement", () => {
    const pem = { c: readFileSync("test/fixtures/tls/cert.pem", "utf8"), k: readFileSync("test/fixtures/tls/key.pem", "utf8") } as Record<string, string>;
    const config = parseConfig({ domains: { "a.example": { keys: [KEY] } }, listeners: { c2sPort: 1, httpPort: 2 }, requireTls: true, tls: { certFile: "c", keyFile: "k" } }, { XMPP_C2S_PORT: "3", XMPP_REQUIRE_TLS: "false" }, (p) => pem[p]!);
    expect(config.listeners.c2sPort).toBe(3);
    expect(config.listeners.httpPort).toBe(2);
    expect(config.requireTls).toBe(false);
    expect(config.tls).toEqual({ cert: pem.c, key: pem.k });
  });

  test("secrets from files and environment variables; key lists for rotation", () => {
    const config = parseConfig(
      { domains: { "a.example": { keys: [{ tokenSecretFile: "s", otpSeedEnv: "SEED" }, KEY], window: 2, nonceDigits: 24, disabledUsers: ["Mallory"] } }, ...NO_TLS },
      { SEED: "GEZDGNBVGY3TQOJQ" },
      (path) => (path === "s" ? "file-secret-of-enough-length\n" : ""),
    );
    expect(config.domains["a.example"]).toEqual({ keys: [{ tokenSecret: "file-secret-of-enough-length", otpSeed: "GEZDGNBVGY3TQOJQ" }, KEY], window: 2, nonceDigits: 24, disabledUsers: ["mallory"] });
  });

  test.each([
    ["no domain", {}, {}, /no domain configured/],
    ["typo at top level", { domain: {} }, {}, /^config: domain is not a known setting; did you mean "domains"\?/],
    ["wrong case, did you mean", { domains: { "a.b": { keys: [KEY] } }, requireTLS: false }, {}, /^config: requireTLS is not a known setting; did you mean "requireTls"\? \(known: /],
    ["nothing near: no guess", { domains: { "a.b": { keys: [KEY] } }, frobnicate: 1, ...NO_TLS }, {}, /^config: frobnicate is not a known setting \(known: /],
    ["typo in limits", { domains: { "a.b": { keys: [KEY] } }, limits: { maxStanzaByte: 1 }, ...NO_TLS }, {}, /limits.maxStanzaByte is not a known setting/],
    ["bad base32", { domains: { "a.b": { keys: [{ tokenSecret: "x", otpSeed: "ABC!" }] } }, ...NO_TLS }, {}, /^config: domains\["a.b"\].keys\[0\].otpSeed is not valid base32: invalid character at position 4$/],
    ["empty secret in the second key", { domains: { "a.b": { keys: [KEY, { tokenSecret: "", otpSeed: KEY.otpSeed }] } }, ...NO_TLS }, {}, /^config: domains\["a.b"\].keys\[1\].tokenSecret must be a non-empty string$/],
    ["bad env seed", {}, { XTOKEN_DOMAIN: "a.b", XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: "A1" }, /^config: XTOKEN_OTP_SEED is not valid base32: invalid character at position 2$/],
    ["unreadable secret file", { domains: { "a.b": { keys: [{ tokenSecretFile: "/nope/secret", otpSeed: KEY.otpSeed }] } }, ...NO_TLS }, {}, /keys\[0\].tokenSecretFile: cannot read \/nope\/secret \(ENOENT\)/],
    ["unknown key field", { domains: { "a.b": { keys: [{ ...KEY, otp_seed: "x" }] } }, ...NO_TLS }, {}, /keys\[0\].otp_seed is not a known setting/],
    ["port that is not an integer", { domains: { "a.b": { keys: [KEY] } }, listeners: { httpPort: "5280" }, ...NO_TLS }, {}, /listeners.httpPort must be an integer from 0 to 65535/],
    ["direct TLS without a certificate", { domains: { "a.b": { keys: [KEY] } }, listeners: { directTlsPort: 5223 }, ...NO_TLS }, {}, /directTlsPort needs a tls certificate/],
    ["negative limit", { domains: { "a.b": { keys: [KEY] } }, limits: { authTimeoutSeconds: 0 }, ...NO_TLS }, {}, /limits.authTimeoutSeconds must be an integer from 1/],
    ["replay store typo", { domains: { "a.b": { keys: [KEY] } }, replay: { max: 5 }, ...NO_TLS }, {}, /replay.max is not a known setting/],
    ["demo.secureCookie not a boolean", { domains: { "a.b": { keys: [KEY] } }, demo: { domain: "a.b", sessionSecret: SESSION_SECRET, users: [{ username: "a", passwordHash: "scrypt$16384$8$1$AAAA$AAAA" }], secureCookie: "yes" }, ...NO_TLS }, {}, /^config: demo.secureCookie must be true or false$/],
    ["demo for an unknown domain", { domains: { "a.b": { keys: [KEY] } }, demo: { domain: "c.d", sessionSecret: SESSION_SECRET, users: [] }, ...NO_TLS }, {}, /demo.domain c.d is not one of the configured domains/],
    ["demo user with a bad name", { domains: { "a.b": { keys: [KEY] } }, demo: { domain: "a.b", sessionSecret: SESSION_SECRET, users: [{ username: "a@b", passwordHash: "scrypt$16384$8$1$AAAA$AAAA" }] }, ...NO_TLS }, {}, /^config: demo.users\[0\].username is not a valid username/],
    ["one domain spelled twice", { domains: { "a.b": { keys: [KEY] }, "A.B": { keys: [KEY] } }, ...NO_TLS }, {}, /domains\["A.B"\] is the same domain as another entry \(a.b\)/],
    ["requireTls not a boolean", { domains: { "a.b": { keys: [KEY] } }, requireTls: "no" }, {}, /requireTls must be true or false/],
    ["no keys", { domains: { "a.b": { keys: [] } }, ...NO_TLS }, {}, /domains\["a.b"\].keys must be a non-empty list/],
    ["two sources for a secret", { domains: { "a.b": { keys: [{ ...KEY, tokenSecretEnv: "X" }] } }, ...NO_TLS }, {}, /needs exactly one of tokenSecret, tokenSecretFile, tokenSecretEnv/],
    ["missing env secret", { domains: { "a.b": { keys: [{ tokenSecretEnv: "NOPE", otpSeed: KEY.otpSeed }] } }, ...NO_TLS }, {}, /environment variable NOPE is not set/],
    ["bad port", { domains: { "a.b": { keys: [KEY] } }, listeners: { c2sPort: 70000 }, ...NO_TLS }, {}, /listeners.c2sPort must be an integer from 0 to 65535/],
    ["bad env port", { domains: { "a.b": { keys: [KEY] } }, ...NO_TLS }, { XMPP_C2S_PORT: "http" }, /XMPP_C2S_PORT must be a port number/],
    ["XMPP_REQUIRE_TLS not a boolean", { domains: { "a.b": { keys: [KEY] } }, ...NO_TLS }, { XMPP_REQUIRE_TLS: "maybe" }, /XMPP_REQUIRE_TLS must be true or false/],
    ["window out of range", { domains: { "a.b": { keys: [KEY], window: 11 } }, ...NO_TLS }, {}, /^config: domains\["a.b"\].window must be an integer from 0 to 10$/],
    ["nonceDigits below 16 (too few random digits)", { domains: { "a.b": { keys: [KEY], nonceDigits: 15 } }, ...NO_TLS }, {}, /^config: domains\["a.b"\].nonceDigits must be an integer from 16 to 128$/],
    ["nonceDigits \"any\" (digits would move between nonce and localpart)", { domains: { "a.b": { keys: [KEY], nonceDigits: "any" } }, ...NO_TLS }, {}, /^config: domains\["a.b"\].nonceDigits must be an integer from 16 to 128$/],
    ["nonceDigits 0", { domains: { "a.b": { keys: [KEY], nonceDigits: 0 } }, ...NO_TLS }, {}, /^config: domains\["a.b"\].nonceDigits must be an integer from 16 to 128$/],
    ["TLS required without a certificate", { domains: { "a.b": { keys: [KEY] } } }, {}, /requireTls is true but no tls certificate/],
    ["domain env without secrets", {}, { XTOKEN_DOMAIN: "a.b" }, /XTOKEN_SECRET and XTOKEN_OTP_SEED must be set/],
    ["invalid domain", { domains: { "a b": { keys: [KEY] } }, ...NO_TLS }, {}, /is not a valid domain/],
    ["certificate files that are not PEM", { domains: { "a.b": { keys: [KEY] } }, tls: { certFile: "cert", keyFile: "key" } }, {}, /tls.certFile and tls.keyFile are not a usable PEM certificate/],
  ])("%s is one clear ConfigError", (_what, raw, env, message) => {
    const text = configError(raw, env as NodeJS.ProcessEnv, { cert: "not a certificate", key: `not a key ${KEY.tokenSecret}` });
    expect(text).toMatch(/^config: /);
    expect(text).toMatch(message);
    expect(text).not.toContain(KEY.tokenSecret);
    expect(text).not.toContain("\n");
  });

  test("loadConfig reads a JSON file, with relative paths beside it", () => {
    const dir = tempDir("x-token-config-");
    writeFileSync(join(dir, "seed"), KEY.otpSeed);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ domains: { "a.example": { keys: [{ tokenSecret: KEY.tokenSecret, otpSeedFile: "seed" }] } }, requireTls: false }));
    expect(loadConfig({ file: join(dir, "config.json"), env: {} }).domains["a.example"]?.keys[0]?.otpSeed).toBe(KEY.otpSeed);
    writeFileSync(join(dir, "broken.json"), "{ nope");
    expect(() => loadConfig({ file: join(dir, "broken.json"), env: {} })).toThrow(/is not valid JSON/);
  });

  test("a JSON syntax error says where, never quoting the text (it may be a secret)", () => {
    const dir = tempDir("x-token-config-");
    const file = join(dir, "config.json");
    writeFileSync(file, `{\n  "domains": { "a.b": { "keys": [{ "tokenSecret": "${KEY.tokenSecret}" "otpSeed": "${KEY.otpSeed}" }] } }\n}`);
    let message = "";
    try {
      loadConfig({ file, env: {} });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^config: .*config\.json is not valid JSON/);
    expect(message).not.toContain(KEY.tokenSecret);
    expect(message).not.toContain(KEY.otpSeed);
    // Node 20 reports a position: the place is given as line and column of the file.
    if (/line/.test(message)) expect(message).toMatch(/\(line 2, column \d+\)$/);
  });
});
