/**
 * `x-token otp` on a real data directory (in-process and as the compiled binary), and a real
 * `x-token serve` on the same directory across a SIGKILL: a code used before the restart stays
 * used. Codes come from oathtool and the RFC vectors.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli, runBinary } from "./helpers/cli.js";
import { startServe, type ServeProcess } from "./helpers/serve-process.js";
import { plainOverTls } from "./helpers/plain-login.js";
import { oathHotp, oathTotp, oathtoolUnavailable } from "./helpers/oathtool.js";
import { base32Decode } from "../src/core/otp/base32.js";

const unavailable = oathtoolUnavailable();
if (unavailable) console.warn(`skipping the x-token otp tests: ${unavailable}`);
const withOathtool = unavailable ? describe.skip : describe;

const DOMAIN = "example.test";
const KEY = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: "otp-cli-test-secret-of-enough-length", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY" };
const RFC_HEX = Buffer.from("12345678901234567890", "ascii").toString("hex");
const folders: string[] = [];
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});
function folder(): string {
  const f = mkdtempSync(join(tmpdir(), "x-token-otp-cli-"));
  folders.push(f);
  return f;
}
const envFor = (dataDir: string) => ({ ...KEY, XTOKEN_DATA_DIR: dataDir });
const secretOf = (uri: string) => base32Decode(/secret=([A-Z2-7]+)/.exec(uri)![1]!);

withOathtool("x-token otp", () => {
  test("add prints the otpauth URI (and a QR code with --qr); list shows no secret; --pin is read, never printed; remove", async () => {
    const data = folder();
    const env = envFor(data);
    const added = await cli(["otp", "add", "--jid", `Alice@${DOMAIN}`, "--pin", "--name", "phone"], env, "2468\n");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^otpauth:\/\/totp\/example\.test:alice@example\.test\?secret=[A-Z2-7]{32}&issuer=example\.test&algorithm=SHA1&digits=6&period=30\n$/);
    expect(added.stderr).toContain("added alice@example.test  phone  TOTP 6 digits, 30 s, PIN");
    expect(added.stdout + added.stderr).not.toContain("2468");
    const qr = await cli(["otp", "add", "--jid", `alice@${DOMAIN}`, "--hotp", "--digits", "8", "--name", "yubikey", "--qr"], env);
    expect(qr.code).toBe(0);
    expect(qr.stdout).toMatch(/[▀▄█]{20}/);
    expect(qr.stdout).toMatch(/otpauth:\/\/hotp\/example\.test:alice@example\.test\?secret=[A-Z2-7]+&issuer=example\.test&algorithm=SHA1&digits=8&counter=0\n$/);
    const list = await cli(["otp", "list"], env);
    expect(list.stdout.split("\n").filter(Boolean)).toEqual([
      expect.stringMatching(/^alice@example\.test {2}phone {2}TOTP 6 digits, 30 s, PIN, added \d{4}-\d\d-\d\d$/),
      expect.stringMatching(/^alice@example\.test {2}yubikey {2}HOTP 8 digits, next counter 0, no PIN, added /),
    ]);
    expect(list.stdout).not.toContain(/secret=([A-Z2-7]+)/.exec(added.stdout)![1]!);
    expect((await cli(["otp", "add", "--jid", `alice@${DOMAIN}`, "--name", "phone"], env)).stderr).toContain('already has a credential named "phone"');
    expect((await cli(["otp", "add", "--jid", "alice@elsewhere.test"], env)).stderr).toContain("elsewhere.test is not a domain of this configuration");
    expect((await cli(["otp", "add", "--jid", `alice@${DOMAIN}`, "--pin"], env, "12\n")).stderr).toContain("a PIN has 4 to 64 characters");
    expect((await cli(["otp", "remove", "--jid", `alice@${DOMAIN}`, "--name", "yubikey"], env)).stderr).toContain("removed 1 credential of alice@example.test");
    expect((await cli(["otp", "remove", "--jid", `alice@${DOMAIN}`, "--name", "yubikey"], env)).code).toBe(2);
    expect((await cli(["otp", "list"], { ...env, XTOKEN_STORAGE: "memory" })).stderr).toContain("the storage engine is memory");
  });

  test("import: every TYPE; a bad line is named and nothing is written; an account with credentials needs --replace", async () => {
    const data = folder();
    const env = envFor(data);
    const file = join(data, "..", `${data.split("/").pop()}-users.oath`);
    folders.push(file);
    const good = [
      "# every type",
      `HOTP alice 1234 ${RFC_HEX}`,
      `HOTP/E bob - ${RFC_HEX} 3`,
      `HOTP/E/8 carol - ${RFC_HEX} 0`,
      `HOTP/T30 dave - ${RFC_HEX}`,
      `HOTP/T30/8 erin@${DOMAIN} - ${RFC_HEX} 0`,
      `HOTP/T60/6 frank - ${RFC_HEX} 0 - 2020-01-01T00:00:00Z`,
      `HOTP/T60 grace - 0a0b0c`,
    ];
    writeFileSync(file, [...good, `HOTP/T45 heidi - ${RFC_HEX}`].join("\n"));
    const bad = await cli(["otp", "import", file], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`x-token: otp: ${file}: line 9: time tokens must have a step of 30 or 60 seconds (T30, T60); nothing was imported\n`);
    expect((await cli(["otp", "list"], env)).stdout).toBe("");
    writeFileSync(file, good.join("\n"));
    const ok = await cli(["otp", "import", file], env);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("warning: line 8: grace@example.test's key has only 3 bytes");
    expect(ok.stderr).toContain(`imported 7 credentials from ${file}`);
    expect(ok.stderr).not.toContain(RFC_HEX);
    const list = (await cli(["otp", "list"], env)).stdout;
    expect(list).toContain("bob@example.test  imported  HOTP 6 digits, next counter 3, no PIN");
    expect(list).toContain("alice@example.test  imported  HOTP 6 digits, next counter 0, PIN");
    expect(list).toContain("frank@example.test  imported  TOTP 6 digits, 60 s, no PIN");
    expect(list.split("\n").filter(Boolean)).toHaveLength(7);
    const again = await cli(["otp", "import", file], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already have credentials (give --replace to replace them): alice@example.test, bob@example.test");
    expect((await cli(["otp", "import", file, "--replace"], env)).stderr).toContain("replacing those of 7 accounts");
  });

  test("export round-trips with --with-secrets (file 0600); without, no key and no PIN hash; resync reads two codes", async () => {
    const data = folder();
    const env = envFor(data);
    const file = join(data, "in.oath");
    writeFileSync(file, `HOTP/E/6 alice@${DOMAIN} 1234 ${RFC_HEX} 2\nHOTP/T30/8 bob@${DOMAIN} - ${RFC_HEX} 0 - 2020-01-01T00:00:00Z\n`);
    expect((await cli(["otp", "import", file], env)).code).toBe(0);
    expect((await cli(["otp", "export", "--with-secrets"], env)).stderr).toContain("give --output FILE");
    const out = join(data, "out.oath");
    expect((await cli(["otp", "export", "--with-secrets", "--output", out], env)).code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const exported = readFileSync(out, "utf8");
    expect(exported).toMatch(new RegExp(`^HOTP/E/6 alice@example\\.test scrypt\\$\\S+ ${RFC_HEX} 2 ${oathHotp(Buffer.from(RFC_HEX, "hex"), 1)[0]}$`, "m"));
    const other = folder();
    expect((await cli(["otp", "import", out], envFor(other))).code).toBe(0);
    const out2 = join(other, "out.oath");
    expect((await cli(["otp", "export", "--with-secrets", "--output", out2], envFor(other))).code).toBe(0);
    expect(readFileSync(out2, "utf8")).toBe(exported);
    const bare = await cli(["otp", "export"], env);
    expect(bare.stdout).not.toContain(RFC_HEX);
    expect(bare.stdout).not.toContain("scrypt");
    // resync: codes 40 and 41 put the counter at 42.
    const codes = oathHotp(Buffer.from(RFC_HEX, "hex"), 40, { count: 2 });
    const resync = await cli(["otp", "resync", "--jid", `alice@${DOMAIN}`], env, `${codes[0]}\n${codes[1]}\n`);
    expect(resync.stderr).toContain('alice@example.test "imported" resynchronised: the next counter value expected is 42');
    expect(resync.stderr).not.toContain(codes[0]!);
    expect((await cli(["otp", "resync", "--jid", `bob@${DOMAIN}`], env, "12345678\n87654321\n")).stderr).toContain("bob@example.test has no HOTP credential");
  });

  test("a real serve: a credential added while it runs logs in over TLS; the code is refused after a SIGKILL restart; the counter survives", async () => {
    const data = folder();
    const fixtures = new URL("./fixtures/tls/", import.meta.url).pathname;
    const config = join(data, "config.json");
    writeFileSync(config, JSON.stringify({ tls: { certFile: join(fixtures, "cert.pem"), keyFile: join(fixtures, "key.pem") } }));
    const env = { ...envFor(data), XTOKEN_CONFIG: config };
    const ca = readFileSync(join(fixtures, "cert.pem"), "utf8");
    let serve: ServeProcess = await startServe(env);
    try {
      // Through the compiled binary, as an operator would, while serve holds the directory.
      const added = await runBinary(["otp", "add", "--jid", `alice@${DOMAIN}`, "--pin"], env, "2468\n");
      expect(added.code).toBe(0);
      const totpKey = secretOf(added.stdout);
      const writeFile = join(data, "hotp.oath");
      writeFileSync(writeFile, `HOTP bob - ${RFC_HEX}\n`);
      expect((await runBinary(["otp", "import", writeFile], env)).code).toBe(0);
      const code = oathTotp(totpKey, Date.now() / 1000);
      const hotp = oathHotp(Buffer.from(RFC_HEX, "hex"), 0, { count: 3 });
      expect(await plainOverTls(serve.c2s, ca, "alice", `2468${code}`)).toBe("success");
      expect(await plainOverTls(serve.c2s, ca, "bob", hotp[1]!)).toBe("success");
      const exited = new Promise((resolve) => serve.child.once("exit", resolve));
      serve.child.kill("SIGKILL");
      await exited;
      serve = await startServe(env);
      expect(await plainOverTls(serve.c2s, ca, "alice", `2468${code}`)).toBe("not-authorized");
      expect(await plainOverTls(serve.c2s, ca, "bob", hotp[1]!)).toBe("not-authorized");
      expect(await plainOverTls(serve.c2s, ca, "bob", hotp[0]!)).toBe("not-authorized");
      expect(await plainOverTls(serve.c2s, ca, "bob", hotp[2]!)).toBe("success");
      await serve.stop();
      expect(serve.stderr()).toMatch(/authentication failed for bob@example\.test from 127\.0\.0\.1: otp-replayed/);
      expect(serve.stderr() + serve.stdout()).not.toContain(code);
    } finally {
      await serve.stop();
    }
  });
});
