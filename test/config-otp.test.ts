/**
 * The `otp` section of the configuration (issue 19): maxOffset and issuer, their defaults in
 * one place (DEFAULT_OTP_SETTINGS), XTOKEN_OTP_MAX_OFFSET over the file, every bad value one
 * ConfigError naming the setting; and the settings in use: `x-token otp add` writes the issuer,
 * a server's HOTP look-ahead follows maxOffset (PLAIN over STARTTLS, codes from oathtool).
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../src/app/config/load.js";
import { DEFAULT_OTP_SETTINGS } from "../src/app/config/otp.js";
import { DEFAULT_MAX_OFFSET } from "../src/auth/otp/verifier.js";
import { enrolOtpCredential } from "../src/auth/otp/manage.js";
import { memoryStorage } from "../src/core/records/storage.js";
import { cli } from "./helpers/cli.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import { startTestServer } from "./helpers/server.js";
import { plainOverTls } from "./helpers/plain-login.js";
import { oathHotp, oathtoolUnavailable } from "./helpers/oathtool.js";

afterAll(removeTempDirs);

const DOMAINS = { domains: { "example.test": { keys: [{ tokenSecret: "config-otp-test-secret-long-enough", otpSeed: "XVGR73KMZH2M4XMY" }] } }, listeners: { c2sPort: null } };
const parse = (otp: unknown, env: NodeJS.ProcessEnv = {}) => parseConfig(otp === undefined ? DOMAINS : { ...DOMAINS, otp }, env).otp;

describe("the otp section", () => {
  test("defaults, from one place: the verifier's look-ahead and no issuer (each credential's domain)", () => {
    expect(DEFAULT_OTP_SETTINGS).toEqual({ maxOffset: DEFAULT_MAX_OFFSET, issuer: null });
    expect(DEFAULT_MAX_OFFSET).toBe(4);
    expect(parse(undefined)).toEqual(DEFAULT_OTP_SETTINGS);
    expect(parse(null)).toEqual(DEFAULT_OTP_SETTINGS);
    expect(parse({})).toEqual(DEFAULT_OTP_SETTINGS);
  });

  test("maxOffset and issuer from the file; XTOKEN_OTP_MAX_OFFSET wins over the file (an empty one counts as unset)", () => {
    expect(parse({ maxOffset: 10, issuer: "Example Chat" })).toEqual({ maxOffset: 10, issuer: "Example Chat" });
    expect(parse({ maxOffset: 0 })).toEqual({ maxOffset: 0, issuer: null });
    expect(parse({ maxOffset: 10 }, { XTOKEN_OTP_MAX_OFFSET: "2" })).toEqual({ maxOffset: 2, issuer: null });
    expect(parse(undefined, { XTOKEN_OTP_MAX_OFFSET: "100" })?.maxOffset).toBe(100);
    expect(parse({ maxOffset: 7 }, { XTOKEN_OTP_MAX_OFFSET: "" })?.maxOffset).toBe(7);
  });

  test("every bad value is one ConfigError naming the setting, never a stack trace", () => {
    const bad: [unknown, NodeJS.ProcessEnv, RegExp][] = [
      [{ maxOffset: 101 }, {}, /^config: otp\.maxOffset must be an integer from 0 to 100/],
      [{ maxOffset: -1 }, {}, /^config: otp\.maxOffset/],
      [{ maxOffset: 1.5 }, {}, /^config: otp\.maxOffset/],
      [{ maxOffset: "4" }, {}, /^config: otp\.maxOffset/],
      [{ issuer: "" }, {}, /^config: otp\.issuer must be a non-empty string/],
      [{ issuer: "a:b" }, {}, /^config: otp\.issuer: the issuer must be 1 to 64 characters, with no .:./],
      [{ issuer: "x".repeat(65) }, {}, /^config: otp\.issuer/],
      [{ issuer: "line\nbreak" }, {}, /^config: otp\.issuer/],
      [{ issuer: 7 }, {}, /^config: otp\.issuer/],
      [{ maxOfset: 4 }, {}, /otp.*maxOfset/],
      ["4", {}, /^config: otp/],
      [undefined, { XTOKEN_OTP_MAX_OFFSET: "101" }, /^config: XTOKEN_OTP_MAX_OFFSET must be an integer from 0 to 100$/],
      [undefined, { XTOKEN_OTP_MAX_OFFSET: "four" }, /^config: XTOKEN_OTP_MAX_OFFSET/],
      [undefined, { XTOKEN_OTP_MAX_OFFSET: "-1" }, /^config: XTOKEN_OTP_MAX_OFFSET/],
    ];
    for (const [otp, env, message] of bad) {
      let thrown: unknown;
      try {
        parse(otp, env);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toMatch(message);
    }
  });
});

const withOathtool = oathtoolUnavailable() === null ? describe : describe.skip;

withOathtool("the otp settings in use", () => {
  test("x-token otp add writes the configured issuer into the URI; --issuer wins", async () => {
    const dir = tempDir("x-token-config-otp-");
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({ ...DOMAINS, otp: { issuer: "Example Chat" } }));
    const env = { XTOKEN_DATA_DIR: join(dir, "data") };
    const added = await cli(["otp", "add", "--config", file, "--jid", "alice@example.test"], env);
    expect(added.stderr).not.toMatch(/error/i);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^otpauth:\/\/totp\/Example%20Chat:alice@example\.test\?secret=[A-Z2-7]+&issuer=Example%20Chat&/);
    const other = await cli(["otp", "add", "--config", file, "--jid", "bob@example.test", "--issuer", "Other"], env);
    expect(other.stdout).toMatch(/^otpauth:\/\/totp\/Other:bob@example\.test\?secret=[A-Z2-7]+&issuer=Other&/);
  });

  test("the server's HOTP look-ahead is the configured maxOffset", async () => {
    const key = Buffer.from("12345678901234567890");
    for (const maxOffset of [0, 2]) {
      const storage = memoryStorage();
      await enrolOtpCredential(storage.otp, { jid: "alice@example.test", kind: "hotp", secret: key });
      const t = await startTestServer({ storage, start: { otp: { maxOffset } } });
      try {
        const codes = oathHotp(key, 0, { count: 4 });
        // One value past the look-ahead: refused; at its edge: accepted.
        expect(await plainOverTls(t.server.ports.c2s!, t.caCert, "alice", codes[maxOffset + 1]!)).toBe("not-authorized");
        expect(await plainOverTls(t.server.ports.c2s!, t.caCert, "alice", codes[maxOffset]!)).toBe("success");
      } finally {
        await t.close();
      }
    }
  });
});
