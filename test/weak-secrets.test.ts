/**
 * Issue 18 item 4: weak keys are refused. One rule (src/core/token/secret-strength.ts) for token
 * secrets, OTP seeds, the demo's session secret and component secrets; `x-token serve` and
 * `x-token mint` refuse to start with a weak key, with one line that says how to make a good one.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { base32Decode, base32Encode } from "../src/core/otp/base32.js";
import { KeyError, Keyring } from "../src/core/token/keys.js";
import { checkToken } from "../src/core/token/verify.js";
import { mintToken } from "../src/core/token/mint.js";
import {
  MIN_COMPONENT_SECRET_BYTES,
  MIN_DISTINCT_BYTES,
  MIN_OTP_SEED_BYTES,
  MIN_SESSION_SECRET_BYTES,
  MIN_TOKEN_SECRET_BYTES,
  secretWeakness,
} from "../src/core/token/secret-strength.js";
import { ConfigError, parseConfig } from "../src/app/config/load.js";
import { cli, spawnCli, watch } from "./helpers/cli.js";
import { login, startServe } from "./helpers/serve-process.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

/** mod_auth_token's documented example seed: 16 base32 characters, exactly 80 bits. */
const PROSODY_SEED = "XVGR73KMZH2M4XMY";
const GOOD_SECRET = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7";
const GOOD = { tokenSecret: GOOD_SECRET, otpSeed: PROSODY_SEED };
const DOMAIN = "example.test";
const HINT = "(make a strong one with x-token keygen)";

describe("the rule", () => {
  test("the minimums are 16 bytes (token secret, component secret), 10 bytes of seed, 32 bytes of session secret", () => {
    expect([MIN_TOKEN_SECRET_BYTES, MIN_OTP_SEED_BYTES, MIN_COMPONENT_SECRET_BYTES, MIN_SESSION_SECRET_BYTES, MIN_DISTINCT_BYTES]).toEqual([16, 10, 16, 32, 6]);
  });

  test.each([
    ["abc", 16, "is shorter than 16 bytes"],
    ["fifteen-bytes!!", 16, "is shorter than 16 bytes"],
    // Bytes, not characters: 8 two-byte characters are 16 bytes, 7 are not enough.
    ["éàüößçñø", 16, null],
    ["éàüößçñ", 16, "is shorter than 16 bytes"],
    [" ".repeat(20), 16, "is only whitespace"],
    [" \t\n \t\n \u00a0 \t\n \t\n \t\n ", 16, "is only whitespace"],
    ["a".repeat(20), 16, "has fewer than 6 different bytes"],
    ["ab".repeat(10), 16, "has fewer than 6 different bytes"],
    ["aabbccddeeaabbccddee", 16, "has fewer than 6 different bytes"],
    ["abcdef".repeat(3), 16, "is a short piece repeated"],
    ["passwordpassword", 16, "is a short piece repeated"],
    // A partial last repetition is still a repetition.
    ["abcdefgabcdefgabc", 16, "is a short piece repeated"],
    ["serve-test-secret", 16, null],
    ["abcdefghijklmnop", 16, null],
  ])("%j (minimum %i) -> %s", (secret, min, expected) => {
    expect(secretWeakness(secret, min)).toBe(expected);
  });

  test("OTP seeds are judged on their decoded bytes", () => {
    expect(secretWeakness(base32Decode(PROSODY_SEED), MIN_OTP_SEED_BYTES)).toBeNull();
    // RFC 6238's test seed, "1234567890" twice: public, and a piece repeated.
    expect(secretWeakness(Buffer.from("12345678901234567890"), MIN_OTP_SEED_BYTES)).toBe("is a short piece repeated");
    expect(secretWeakness(Buffer.alloc(10), MIN_OTP_SEED_BYTES)).toBe("has fewer than 6 different bytes");
    expect(secretWeakness(Buffer.from("fo"), MIN_OTP_SEED_BYTES)).toBe("is shorter than 10 bytes");
  });

  test("what x-token keygen makes always passes (2 000 keys)", () => {
    for (let i = 0; i < 2000; i++) {
      expect(secretWeakness(base32Encode(randomBytes(32)), MIN_TOKEN_SECRET_BYTES)).toBeNull();
      expect(secretWeakness(randomBytes(20), MIN_OTP_SEED_BYTES)).toBeNull();
      // Shorter random ones too: 10 random bytes of seed, 128 random bits as hex text.
      expect(secretWeakness(randomBytes(10), MIN_OTP_SEED_BYTES)).toBeNull();
      expect(secretWeakness(randomBytes(16).toString("hex"), MIN_TOKEN_SECRET_BYTES)).toBeNull();
    }
  });
});

describe("keys", () => {
  test("a Keyring refuses a weak key, naming the key and field, never the value", () => {
    const cases: [object, RegExp][] = [
      [{ tokenSecret: "abc", otpSeed: PROSODY_SEED }, /^key 1: tokenSecret is shorter than 16 bytes \(make a strong one with x-token keygen\)$/],
      [{ tokenSecret: GOOD_SECRET, otpSeed: "MZXQ" }, /^key 1: otpSeed is shorter than 10 bytes once decoded \(make a strong one with x-token keygen\)$/],
      [{ tokenSecret: "x".repeat(40), otpSeed: PROSODY_SEED }, /^key 1: tokenSecret has fewer than 6 different bytes/],
      [{ tokenSecret: GOOD_SECRET, otpSeed: "A".repeat(32) }, /^key 1: otpSeed has fewer than 6 different bytes/],
    ];
    for (const [key, message] of cases) {
      try {
        new Keyring([key as never]);
        throw new Error("accepted");
      } catch (err) {
        expect(err).toBeInstanceOf(KeyError);
        expect((err as Error).message).toMatch(message);
        expect((err as Error).message).not.toContain("abc\"");
      }
    }
    // An old key further down the list is just as forgeable: refused too.
    expect(() => new Keyring([GOOD, { tokenSecret: "old", otpSeed: PROSODY_SEED }])).toThrow(/^key 2: tokenSecret/);
    expect(new Keyring([GOOD]).current).toBeDefined();
  });

  test("nothing mints with a weak key; checkToken still verifies given keys (published vectors use short ones)", () => {
    const weak = { tokenSecret: "k", otpSeed: PROSODY_SEED };
    expect(() => mintToken({ jid: `alice@${DOMAIN}`, key: weak })).toThrow(KeyError);
    expect(() => mintToken({ jid: `alice@${DOMAIN}`, key: [weak, GOOD] })).toThrow(/^key 1: tokenSecret is shorter than 16 bytes/);
    const token = mintToken({ jid: `alice@${DOMAIN}`, key: GOOD });
    expect(checkToken(token, { jid: `alice@${DOMAIN}`, keys: [GOOD] }).ok).toBe(true);
    expect(checkToken(token, { jid: `alice@${DOMAIN}`, keys: [weak, GOOD] })).toMatchObject({ ok: true, keyIndex: 1 });
  });
});

describe("the configuration names the setting, in one line with the hint, and never prints the secret", () => {
  const BASE = { requireTls: false, domains: { [DOMAIN]: { keys: [GOOD] } } };
  const SESSION = "a-demo-session-secret-of-at-least-32-bytes";
  const USERS = [{ username: "alice", passwordHash: "scrypt$16384$8$1$AAAA$AAAA" }];
  const COMPONENT = "tokens.example.test";
  const WEAK = ["abc", "aaaaaaaaaaaaaaaaaaaa", "abababababababababab", "                    ", "abcdefabcdefabcdefab"];

  function refusal(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string {
    try {
      parseConfig(raw, env, () => {
        throw Object.assign(new Error("missing"), { code: "ENOENT" });
      });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error("accepted");
  }

  function expectRefused(message: string, setting: string, secret: string): void {
    expect(message.startsWith(`config: ${setting} `)).toBe(true);
    expect(message.endsWith(HINT)).toBe(true);
    expect(message).not.toContain("\n");
    if (secret.trim() !== "") expect(message).not.toContain(secret);
  }

  test.each(WEAK)("token secret %j", (weak) => {
    expectRefused(refusal({ ...BASE, domains: { [DOMAIN]: { keys: [{ tokenSecret: weak, otpSeed: PROSODY_SEED }] } } }), `domains["${DOMAIN}"].keys[0].tokenSecret`, weak);
    expectRefused(refusal({}, { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: weak, XTOKEN_OTP_SEED: PROSODY_SEED, XMPP_REQUIRE_TLS: "false" }), "XTOKEN_SECRET", weak);
  });

  test.each(["MZXQ", "AAAAAAAAAAAAAAAA", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "MFRGGZDFMFRGGZDFMFRGGZDF"])("OTP seed %s", (weak) => {
    expectRefused(refusal({ ...BASE, domains: { [DOMAIN]: { keys: [GOOD, { tokenSecret: GOOD_SECRET.toLowerCase(), otpSeed: weak }] } } }), `domains["${DOMAIN}"].keys[1].otpSeed`, weak);
    expectRefused(refusal({}, { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: GOOD_SECRET, XTOKEN_OTP_SEED: weak, XMPP_REQUIRE_TLS: "false" }), "XTOKEN_OTP_SEED", weak);
  });

  test("mod_auth_token's example seed with a 16-byte secret is accepted", () => {
    expect(parseConfig({}, { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: "sixteen-bytes-ok", XTOKEN_OTP_SEED: PROSODY_SEED, XMPP_REQUIRE_TLS: "false" }).domains[DOMAIN]).toBeDefined();
  });

  test.each([...WEAK, "s".repeat(40), "0123456789abcdef".repeat(3), "short but not repeated"])("demo session secret %j", (weak) => {
    expectRefused(refusal({ ...BASE, demo: { domain: DOMAIN, sessionSecret: weak, users: USERS } }), "demo.sessionSecret", weak);
  });

  test.each(WEAK)("component secrets %j (components, tokenComponent, XTOKEN_COMPONENT_SECRET)", (weak) => {
    expectRefused(refusal({ ...BASE, components: { [COMPONENT]: { secret: weak } } }), `components["${COMPONENT}"].secret`, weak);
    expectRefused(refusal({ ...BASE, tokenComponent: { service: "xmpp://127.0.0.1:5347", domain: COMPONENT, secret: weak } }), "tokenComponent.secret", weak);
    expectRefused(refusal(BASE, { XTOKEN_COMPONENT_SERVICE: "xmpp://127.0.0.1:5347", XTOKEN_COMPONENT_DOMAIN: COMPONENT, XTOKEN_COMPONENT_SECRET: weak }), "XTOKEN_COMPONENT_SECRET", weak);
  });

  test("good secrets everywhere are accepted", () => {
    const config = parseConfig({
      ...BASE,
      demo: { domain: DOMAIN, sessionSecret: SESSION, users: USERS },
      components: { [COMPONENT]: { secret: "component-secret" } },
      tokenComponent: { service: "xmpp://127.0.0.1:5347", domain: COMPONENT, secret: "component-secret" },
    });
    expect(config.components![COMPONENT]!.secret).toBe("component-secret");
  });
});

/** A TCP port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

describe("x-token serve and x-token mint (real processes and sockets)", () => {
  test("serve refuses the attacker's 3-letter secret and 2-byte seed: exit 2, one line, nothing listening", async () => {
    const port = await freePort();
    for (const [env, line] of [
      [{ XTOKEN_SECRET: "abc", XTOKEN_OTP_SEED: PROSODY_SEED }, `x-token: config: XTOKEN_SECRET is shorter than 16 bytes ${HINT}`],
      [{ XTOKEN_SECRET: GOOD_SECRET, XTOKEN_OTP_SEED: "MZXQ" }, `x-token: config: XTOKEN_OTP_SEED is shorter than 10 bytes once decoded ${HINT}`],
      [{ XTOKEN_SECRET: "aaaaaaaaaaaaaaaaaaaa", XTOKEN_OTP_SEED: PROSODY_SEED }, `x-token: config: XTOKEN_SECRET has fewer than 6 different bytes ${HINT}`],
    ] as const) {
      const child = spawnCli(["serve"], { XTOKEN_DOMAIN: DOMAIN, ...env, XMPP_C2S_PORT: String(port), XMPP_HTTP_PORT: "0", XMPP_REQUIRE_TLS: "false" });
      const output = watch(child);
      // A server that starts anyway is stopped here, so the test fails rather than hangs.
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([output.exited, new Promise<string>((resolve) => (timer = setTimeout(() => resolve("still running"), 10_000)))]);
      clearTimeout(timer);
      if (code === "still running") {
        try {
          expect(await connects(port)).toBe(false);
        } finally {
          child.kill("SIGKILL");
          await output.exited;
        }
      }
      expect(code).toBe(2);
      expect(output.text().trim()).toBe(line);
      expect(output.text()).not.toContain(env.XTOKEN_SECRET === GOOD_SECRET ? env.XTOKEN_OTP_SEED : env.XTOKEN_SECRET);
      expect(await connects(port)).toBe(false);
    }
  });

  test("serve with mod_auth_token's example seed and a 16-byte secret starts, and a minted token logs in", async () => {
    const secret = "sixteen-bytes-ok";
    const on = await startServe({ XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: secret, XTOKEN_OTP_SEED: PROSODY_SEED, XMPP_REQUIRE_TLS: "false" });
    try {
      const minted = await cli(["mint", "--jid", `alice@${DOMAIN}`], { XTOKEN_SECRET: secret, XTOKEN_OTP_SEED: PROSODY_SEED });
      expect(minted.code).toBe(0);
      expect(await login(on.c2s, DOMAIN, "alice", minted.stdout.trim())).toBe("success");
    } finally {
      await on.stop();
    }
  });

  test("mint refuses a weak key (environment, --config, --insecure-secret-arg) with one line and no token", async () => {
    const weak = await cli(["mint", "--jid", `alice@${DOMAIN}`], { XTOKEN_SECRET: "abc", XTOKEN_OTP_SEED: PROSODY_SEED });
    expect(weak).toEqual({ code: 2, stdout: "", stderr: `x-token: XTOKEN_SECRET is shorter than 16 bytes ${HINT}\n` });
    const argv = await cli(["mint", "--jid", `alice@${DOMAIN}`, "--insecure-secret-arg", "--token-secret", GOOD_SECRET, "--otp-seed", "AAAAAAAAAAAAAAAA"]);
    expect(argv.code).toBe(2);
    expect(argv.stdout).toBe("");
    expect(argv.stderr).toBe(`x-token: --otp-seed has fewer than 6 different bytes once decoded ${HINT}\n`);
    const dir = tempDir("x-token-weak-");
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ domains: { [DOMAIN]: { keys: [{ tokenSecret: "passwordpassword", otpSeed: PROSODY_SEED }] } } }));
    const fromFile = await cli(["mint", "--config", file, "--jid", `alice@${DOMAIN}`]);
    expect(fromFile).toEqual({ code: 2, stdout: "", stderr: `x-token: config: domains["${DOMAIN}"].keys[0].tokenSecret is a short piece repeated ${HINT}\n` });
  });
});
