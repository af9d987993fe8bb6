import { afterAll, describe, expect, test } from "@jest/globals";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { base32Decode, checkToken } from "../src/index.js";
import { cli, runBinary } from "./helpers/cli.js";
import { vectors } from "./helpers/vectors.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const SECRET = "CLI-TEST-SECRET-DO-NOT-PRINT";
const SEED = "XVGR73KMZH2M4XMY";
const ENV = { XTOKEN_SECRET: SECRET, XTOKEN_OTP_SEED: SEED };
const AT = "1700000000";

/** A config file whose domain b.c has a good secret and a seed with "!" at position 4. */
function configWithBadSeed(): string {
  const dir = tempDir("x-token-cli-");
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify({ domains: { "b.c": { keys: [{ tokenSecret: SECRET, otpSeed: "XVG!73KMZH2M4XMY" }] } } }));
  return file;
}

function expectNoSecret(...texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(SEED);
  }
}

describe("x-token keygen", () => {
  test("fresh seed of 160 bits and secret of 256 bits, different every time", async () => {
    const a = await cli(["keygen", "--json"]);
    const b = await cli(["keygen", "--json"]);
    expect(a.code).toBe(0);
    const keyA = JSON.parse(a.stdout) as { otpSeed: string; tokenSecret: string };
    const keyB = JSON.parse(b.stdout) as { otpSeed: string; tokenSecret: string };
    expect(base32Decode(keyA.otpSeed).length).toBeGreaterThanOrEqual(20);
    expect(base32Decode(keyA.tokenSecret).length).toBeGreaterThanOrEqual(32);
    expect(keyA.otpSeed).not.toBe(keyB.otpSeed);
    expect(keyA.tokenSecret).not.toBe(keyB.tokenSecret);
  });

  test("plain output is ready to paste into Prosody and the environment", async () => {
    const { stdout, code } = await cli(["keygen"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^otp_seed = "[A-Z2-7]{32}"$/m);
    expect(stdout).toMatch(/^token_secret = "[A-Z2-7]{52}"$/m);
    expect(stdout).toMatch(/^export XTOKEN_OTP_SEED=[A-Z2-7]+$/m);
    expect(stdout).toMatch(/^export XTOKEN_SECRET=[A-Z2-7]+$/m);
  });
});

describe("x-token mint and verify", () => {
  test("mint prints only the token, which verifies for that JID", async () => {
    const minted = await cli(["mint", "--jid", "Alice@Example.com/phone", "--at", AT], ENV);
    expect(minted.code).toBe(0);
    expect(minted.stdout).toMatch(/^\d{40} [A-Za-z0-9+/]{43}=\n$/);
    const token = minted.stdout.trim();
    expect(checkToken(token, { jid: "alice@example.com", keys: { tokenSecret: SECRET, otpSeed: SEED }, now: Number(AT) }).ok).toBe(true);
    const verified = await cli(["verify", "--jid", "alice@example.com", "--token", token, "--at", AT], ENV);
    expect(verified).toEqual({ code: 0, stdout: "valid\n", stderr: "" });
  });

  test("--json gives jid, token and expiry", async () => {
    const { stdout } = await cli(["mint", "--jid", "bob@example.com", "--at", AT, "--json"], ENV);
    const parsed = JSON.parse(stdout) as { jid: string; token: string; expiresAt: number };
    expect(parsed.jid).toBe("bob@example.com");
    expect(parsed.expiresAt).toBe((Math.floor(Number(AT) / 30) + 2) * 30);
  });

  test("verify exits 1 with the reason", async () => {
    const token = (await cli(["mint", "--jid", "alice@example.com", "--at", AT], ENV)).stdout.trim();
    expect(await cli(["verify", "--jid", "bob@example.com", "--token", token, "--at", AT], ENV)).toMatchObject({ code: 1, stdout: "invalid: bad-signature\n" });
    expect(await cli(["verify", "--jid", "alice@example.com", "--token", token, "--at", String(Number(AT) + 90)], ENV)).toMatchObject({ code: 1, stdout: "invalid: otp-out-of-window\n" });
    expect(await cli(["verify", "--jid", "alice@example.com", "--token", "nonsense"], ENV)).toMatchObject({ code: 1, stdout: "invalid: malformed\n" });
    expect(await cli(["verify", "--jid", "alice@example.com", "--token", token, "--at", String(Number(AT) + 30), "--window", "0"], ENV)).toMatchObject({ code: 1 });
  });

  test("verify reads the token from standard input with --token -", async () => {
    const token = (await cli(["mint", "--jid", "alice@example.com", "--at", AT], ENV)).stdout;
    expect(await cli(["verify", "--jid", "alice@example.com", "--token", "-", "--at", AT], ENV, token)).toMatchObject({ code: 0, stdout: "valid\n" });
  });

  test("keys from a configuration file, chosen by the JID's domain", async () => {
    const dir = tempDir("x-token-cli-");
    writeFileSync(join(dir, "secret"), `${SECRET}\n`);
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ domains: { "Example.COM": { keys: [{ tokenSecretFile: "secret", otpSeed: SEED }] } } }));
    const token = (await cli(["mint", "--config", file, "--jid", "alice@example.com", "--at", AT])).stdout.trim();
    expect(checkToken(token, { jid: "alice@example.com", keys: { tokenSecret: SECRET, otpSeed: SEED }, now: Number(AT) }).ok).toBe(true);
    const other = await cli(["mint", "--config", file, "--jid", "alice@example.org"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^x-token: domain example\.org is not configured/);
    // Only the domains are read: TLS files the server would need (here missing) are not (issue 11 #4),
    // and XTOKEN_DOMAIN from the environment adds nothing.
    const withTls = join(dir, "with-tls.json");
    writeFileSync(withTls, JSON.stringify({ domains: { "example.com": { keys: [{ tokenSecretFile: "secret", otpSeed: SEED }] } }, tls: { certFile: "missing-cert.pem", keyFile: "missing-key.pem" }, requireTls: true }));
    const minted = await cli(["mint", "--config", withTls, "--jid", "alice@example.com", "--at", AT], { XTOKEN_DOMAIN: "example.org", XTOKEN_SECRET: SECRET, XTOKEN_OTP_SEED: SEED });
    expect([minted.code, minted.stderr]).toEqual([0, ""]);
    expect(checkToken(minted.stdout.trim(), { jid: "alice@example.com", keys: { tokenSecret: SECRET, otpSeed: SEED }, now: Number(AT) }).ok).toBe(true);
    const viaEnvDomain = await cli(["mint", "--config", withTls, "--jid", "alice@example.org"], { XTOKEN_DOMAIN: "example.org", XTOKEN_SECRET: SECRET, XTOKEN_OTP_SEED: SEED });
    expect(viaEnvDomain.stderr).toMatch(/^x-token: domain example\.org is not configured/);
    // Inherited object keys are no configured domains (issue 7 #10).
    for (const inherited of ["constructor", "__proto__", "tostring"]) {
      const result = await cli(["mint", "--config", file, "--jid", `alice@${inherited}`]);
      expect([result.code, result.stderr]).toEqual([2, `x-token: domain ${inherited} is not configured in ${file}\n`]);
    }
  });

  test("verify refuses a shifted nonce (1alice's token claimed for alice) as malformed, and says why on stderr", async () => {
    const shift = vectors.find((c) => c.name === "nonce-shift")!;
    const env = { XTOKEN_SECRET: shift.tokenSecret, XTOKEN_OTP_SEED: shift.otpSeed };
    const at = String(shift.mintedAt);
    expect(await cli(["verify", "--jid", shift.jid, "--token", shift.token, "--at", at], env)).toEqual({ code: 0, stdout: "valid\n", stderr: "" });
    const shifted = shift.shiftedToken as string;
    expect(await cli(["verify", "--jid", "alice@example.com", "--token", shifted, "--at", at], env)).toEqual({
      code: 1,
      stdout: "invalid: malformed\n",
      stderr: "x-token: the nonce has 33 digits; this domain accepts exactly 32 (nonceDigits)\n",
    });
    const garbage = await cli(["verify", "--jid", "alice@example.com", "--token", "nonsense-TOKEN-TEXT"], env);
    expect(garbage.stderr).toMatch(/^x-token: the token is not an 8-digit otp/);
    expect(garbage.stderr).not.toContain("nonsense-TOKEN-TEXT");
  });

  test("mint and verify follow the configured domain's nonceDigits", async () => {
    const dir = tempDir("x-token-cli-");
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ domains: { "example.com": { keys: [{ tokenSecret: SECRET, otpSeed: SEED }], nonceDigits: 20 } } }));
    const token = (await cli(["mint", "--config", file, "--jid", "alice@example.com", "--at", AT])).stdout.trim();
    expect(token).toMatch(/^\d{28} /);
    expect(await cli(["verify", "--config", file, "--jid", "alice@example.com", "--token", token, "--at", AT])).toMatchObject({ code: 0, stdout: "valid\n" });
    // The same token without the configuration: 32 digits are expected.
    expect(await cli(["verify", "--jid", "alice@example.com", "--token", token, "--at", AT], ENV)).toMatchObject({
      code: 1,
      stdout: "invalid: malformed\n",
      stderr: "x-token: the nonce has 20 digits; this domain accepts exactly 32 (nonceDigits)\n",
    });
  });
});

describe("usage and configuration errors: exit 2, one line, no secret", () => {
  test.each([
    ["unknown flag", ["mint", "--jid", "a@b.c", "--frobnicate"], ENV, /Unknown option '--frobnicate'/],
    ["unknown command", ["mintt"], ENV, /unknown command "mintt"/],
    ["inherited name as command", ["constructor"], ENV, /unknown command "constructor"/],
    ["prototype name as command", ["__proto__"], ENV, /unknown command "__proto__"/],
    ["missing secret", ["mint", "--jid", "a@b.c"], {}, /no keys: set XTOKEN_SECRET and XTOKEN_OTP_SEED/],
    ["bad base32 seed", ["mint", "--jid", "a@b.c"], { XTOKEN_SECRET: SECRET, XTOKEN_OTP_SEED: "XVGR73KMZH2M4XM1" }, /^x-token: XTOKEN_OTP_SEED is not valid base32: invalid character at position 16$/m],
    ["empty secret on argv", ["mint", "--jid", "a@b.c", "--insecure-secret-arg", "--token-secret", "", "--otp-seed", SEED], {}, /mint: --token-secret is empty/],
    ["unknown option on verify", ["verify", "--jid", "a@b.c", "--token", "x", "--secret", SECRET], ENV, /Unknown option '--secret'/],
    ["missing token", ["verify", "--jid", "a@b.c"], ENV, /--token is required/],
    ["stray positional argument", ["keygen", "extra"], {}, /keygen: /],
    ["bad config key in a config file", ["mint", "--jid", "a@b.c", "--config", "CONFIG_WITH_BAD_SEED"], {}, /^x-token: config: domains\["b.c"\].keys\[0\].otpSeed is not valid base32: invalid character at position 4$/m],
    ["bad JID", ["mint", "--jid", "not a jid"], ENV, /--jid is not a valid JID/],
    ["missing JID", ["mint"], ENV, /--jid is required/],
    ["bad time", ["mint", "--jid", "a@b.c", "--at", "yesterday"], ENV, /--at must be a unix time in seconds/],
    ["bad window", ["verify", "--jid", "a@b.c", "--token", "x", "--window=-1"], ENV, /^x-token: --window must be an integer from 0 to 10\n$/],
    ["negative window as a separate argument", ["verify", "--jid", "a@b.c", "--token", "x", "--window", "-1"], ENV, /^x-token: --window must be an integer from 0 to 10\n$/],
    ["negative time as a separate argument", ["mint", "--jid", "a@b.c", "--at", "-5"], ENV, /^x-token: --at must be a unix time in seconds\n$/],
    ["secret on argv without the explicit flag", ["mint", "--jid", "a@b.c", "--token-secret", SECRET, "--otp-seed", SEED], {}, /--insecure-secret-arg/],
    ["missing config file", ["mint", "--jid", "a@b.c", "--config", "/nonexistent/x-token.json"], {}, /cannot read \/nonexistent\/x-token.json \(ENOENT\)/],
    // Issue 22 item 13: careless input is a usage error, never silently something else.
    ["a repeated --jid (not the last one taken)", ["mint", "--jid", "a@b.c", "--jid", "b@b.c"], ENV, /^x-token: mint: --jid is given more than once \(see x-token mint --help\)$/m],
    ["a repeated --jid, = form", ["verify", "--jid=a@b.c", "--token", "x", "--jid=b@b.c"], ENV, /verify: --jid is given more than once/],
    ["--config \"\" (not the environment's keys)", ["mint", "--jid", "a@b.c", "--config", ""], ENV, /^x-token: mint: --config is empty/m],
    ["--config= on serve", ["serve", "--config="], ENV, /serve: --config is empty/],
    ["--config \"\" on extauth", ["extauth", "--config", ""], ENV, /extauth: --config is empty/],
    ["--config \"\" on component", ["component", "--config", ""], ENV, /component: --config is empty/],
    ["a bad XMPP_TRUSTED_PROXIES names the variable", ["serve"], { ...ENV, XTOKEN_DOMAIN: "example.com", XMPP_REQUIRE_TLS: "false", XMPP_TRUSTED_PROXIES: "127.0.0.1,not-an-address" }, /^x-token: config: XMPP_TRUSTED_PROXIES: /],
    // docs/cli.md and verify --help: a JID that cannot be prepared is a usage error (exit 2), not "invalid: invalid-jid".
    ["verify with a JID that cannot be prepared", ["verify", "--jid", "a@b@c", "--token", "x"], ENV, /^x-token: --jid is not a valid JID/],
  ])("%s", async (_what, argv, env, message) => {
    const args = (argv as string[]).map((a) => (a === "CONFIG_WITH_BAD_SEED" ? configWithBadSeed() : a));
    const result = await cli(args, env as NodeJS.ProcessEnv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^x-token: /);
    expect(result.stderr).toMatch(message);
    expectNoSecret(result.stderr);
  });

  test("a secret on argv works with --insecure-secret-arg, with a warning", async () => {
    const result = await cli(["mint", "--jid", "a@b.c", "--insecure-secret-arg", "--token-secret", SECRET, "--otp-seed", SEED]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: secrets given on the command line/);
    expectNoSecret(result.stderr);
  });

  test("verify --help: no sentence broken across lines, and what a bad --jid does", async () => {
    const { stdout } = await cli(["verify", "--help"]);
    expect(stdout).toContain(`"--token -" reads the token from standard input.`);
    expect(stdout).toMatch(/A --jid that is not a valid JID is a usage error: exit 2/);
    expect(stdout).not.toMatch(/invalid-jid/);
    // Every line of prose that does not end a sentence is followed by more of it, not by a blank line.
    expect(stdout).not.toMatch(/reads the token\n/);
  });

  test("docs/cli.md says the same as verify does for a bad --jid", () => {
    const doc = readFileSync(new URL("../docs/cli.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("## `x-token verify"), doc.indexOf("\n## ", doc.indexOf("## `x-token verify") + 5));
    expect(section).toMatch(/exit 2 and one line on stderr for a `--jid` that is not a valid JID/);
    expect(section).not.toMatch(/`invalid-jid`/);
  });

  test("--help on every command", async () => {
    for (const command of ["keygen", "mint", "verify", "serve", "hash-password"]) {
      const result = await cli([command, "--help"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: (echo .* \\| )?x-token ${command}`));
    }
    expect((await cli(["--help"])).stdout).toMatch(/Commands:/);
  });
});

describe("x-token --version", () => {
  test("prints package.json's version, in-process and from the binary", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect(await cli(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    expect(await cli(["-v"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    expect(await runBinary(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });
});

describe("the compiled binary", () => {
  test("T=$(x-token mint ...) gets exactly the token; a bad flag exits 2", async () => {
    const minted = await runBinary(["mint", "--jid", "alice@example.com"], ENV);
    expect(minted.code).toBe(0);
    expect(minted.stdout.trim()).toMatch(/^\d{40} [A-Za-z0-9+/]{43}=$/);
    const verified = await runBinary(["verify", "--jid", "alice@example.com", "--token", "-"], ENV, minted.stdout);
    expect(verified).toMatchObject({ code: 0, stdout: "valid\n" });
    const bad = await runBinary(["mint", "--nope"], ENV);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  test("errors from the binary: exit 2, one line, no stack trace, no secret", async () => {
    for (const [argv, env] of [
      [["mint", "--jid", "a@b.c"], { XTOKEN_SECRET: SECRET, XTOKEN_OTP_SEED: `${SEED}!` }],
      [["verify", "--jid", "not a jid", "--token", "x"], ENV],
      [["mint", "--jid", "a@b.c", "--token-secret", SECRET, "--otp-seed", SEED], {}],
      [["serve"], { XTOKEN_DOMAIN: "b.c", XTOKEN_SECRET: SECRET, XTOKEN_OTP_SEED: SEED }],
    ] as [string[], NodeJS.ProcessEnv][]) {
      const result = await runBinary(argv, env);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^x-token: [^\n]+\n$/);
      expectNoSecret(result.stderr);
    }
  });

  test("keygen from the binary gives keys mint and verify accept", async () => {
    const key = JSON.parse((await runBinary(["keygen", "--json"])).stdout) as { otpSeed: string; tokenSecret: string };
    const env = { XTOKEN_SECRET: key.tokenSecret, XTOKEN_OTP_SEED: key.otpSeed };
    const token = (await runBinary(["mint", "--jid", "carol@example.net", "--at", AT], env)).stdout;
    expect(await runBinary(["verify", "--jid", "carol@example.net", "--token", "-", "--at", AT], env, token)).toEqual({ code: 0, stdout: "valid\n", stderr: "" });
  });
});
