/**
 * One-time password accounts without sockets: the matching arithmetic, the otpauth:// URI, the
 * users file, the records (memory and SQLite, two handles on one file racing), and the login
 * check (OtpVerifier). Codes come from Debian's oathtool (test/helpers/oathtool.ts) and the RFC
 * vectors, never from src/core/otp.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findHotpPair, hotpMatches, otpauthUri, parseUsersFile, totpMatches, formatUsersFileLine, UsersFileError } from "../src/core/otp/index.js";
import { MemoryOtpCredentials, OtpRecordsError, type OtpCredentialSpec, type OtpCredentials } from "../src/core/records/index.js";
import { openSqliteStorage, type SqliteStorage } from "../src/stores/sqlite/index.js";
import {
  OtpVerifier,
  OtpSetupError,
  enrolOtpCredential,
  exportOtpUsersFile,
  hashPin,
  importOtpUsersFile,
  listOtpCredentials,
  removeOtpCredentials,
  resyncHotpCredential,
} from "../src/auth/otp/index.js";
import { oathHotp, oathTotp, oathtoolUnavailable } from "./helpers/oathtool.js";
import { createExtauthAnswerer } from "../src/extauth/answer.js";
import { TokenAuthority } from "../src/auth/authority.js";
import { mintToken } from "../src/core/token/mint.js";
import { freshKey } from "./helpers/server.js";

const unavailable = oathtoolUnavailable();
if (unavailable) console.warn(`skipping the tests against oathtool: ${unavailable}`);
const withOathtool = unavailable ? describe.skip : describe;

const RFC_KEY = Buffer.from("12345678901234567890", "ascii");
/** RFC 4226 Appendix D. */
const RFC_HOTP = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];

const dirs: string[] = [];
const opened: SqliteStorage[] = [];
afterAll(() => {
  for (const s of opened) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function sqlite(dir?: string): SqliteStorage {
  const folder = dir ?? mkdtempSync(join(tmpdir(), "x-token-otp-"));
  if (!dir) dirs.push(folder);
  const storage = openSqliteStorage({ dir: folder });
  opened.push(storage);
  return storage;
}

const spec = (over: Partial<OtpCredentialSpec> = {}): OtpCredentialSpec => ({
  jid: "alice@example.test",
  name: "phone",
  kind: "hotp",
  algorithm: "sha1",
  digits: 6,
  period: null,
  secret: RFC_KEY,
  pinHash: null,
  counter: 0,
  lastStep: null,
  ...over,
});

describe("where a code matches", () => {
  test("HOTP: RFC 4226 vectors at their counter values, every value of the range computed", () => {
    expect(hotpMatches(RFC_KEY, RFC_HOTP[7]!, 0, 9)).toEqual([7]);
    expect(hotpMatches(RFC_KEY, RFC_HOTP[7]!, 0, 6)).toEqual([]);
    expect(hotpMatches(RFC_KEY, "000000", 0, 9)).toEqual([]);
    expect(findHotpPair(RFC_KEY, RFC_HOTP[4]!, RFC_HOTP[5]!, 0, 10)).toBe(4);
    expect(findHotpPair(RFC_KEY, RFC_HOTP[4]!, RFC_HOTP[6]!, 0, 10)).toBeNull();
    expect(() => hotpMatches(RFC_KEY, "1", 5, 4)).toThrow();
  });

  test("TOTP: RFC 6238 vector (T = 1, 59 s) with one step of skew either side, and none beyond", () => {
    const code = "94287082";
    expect(totpMatches(RFC_KEY, code, 59, { period: 30, digits: 8 })).toEqual([1]);
    expect(totpMatches(RFC_KEY, code, 89, { period: 30, digits: 8 })).toEqual([1]);
    expect(totpMatches(RFC_KEY, code, 30 * 3, { period: 30, digits: 8 })).toEqual([]);
    expect(totpMatches(RFC_KEY, code, 5, { period: 30, digits: 8 })).toEqual([1]);
  });

  withOathtool("against oathtool", () => {
    test("random keys: HOTP look-ahead, resync pairs, TOTP of 30 and 60 s, 6 and 8 digits, SHA-1/256/512", () => {
      for (let i = 0; i < 4; i++) {
        const key = randomBytes(20);
        const digits = i % 2 === 0 ? 6 : 8;
        const codes = oathHotp(key, 100, { digits, count: 6 });
        codes.forEach((code, n) => expect(hotpMatches(key, code, 100, 105, { digits })).toContain(100 + n));
        expect(findHotpPair(key, codes[3]!, codes[4]!, 50, 100, { digits })).toBe(103);
        const now = 1_700_000_000 + i * 977;
        for (const period of [30, 60]) {
          for (const algorithm of ["sha1", "sha256", "sha512"] as const) {
            const code = oathTotp(key, now - period, { digits, period, algorithm });
            expect(totpMatches(key, code, now, { period, digits, algorithm })).toContain(Math.floor(now / period) - 1);
          }
        }
      }
    });
  });
});

describe("otpauth:// URI", () => {
  test("Google Authenticator's key URI format: label issuer:account, base32 secret, parameters", () => {
    const secret = Buffer.from("12345678901234567890", "ascii");
    expect(otpauthUri({ kind: "totp", issuer: "example.test", account: "alice@example.test", secret, algorithm: "sha1", digits: 6, period: 30 })).toBe(
      "otpauth://totp/example.test:alice@example.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=example.test&algorithm=SHA1&digits=6&period=30",
    );
    expect(otpauthUri({ kind: "hotp", issuer: "My Server", account: "bob@example.test", secret, algorithm: "sha1", digits: 8, counter: 7 })).toBe(
      "otpauth://hotp/My%20Server:bob@example.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20Server&algorithm=SHA1&digits=8&counter=7",
    );
  });
});

describe("the users file (mod_authn_otp, pam_oath)", () => {
  const KEY = "3132333435363738393031323334353637383930";
  test("every TYPE, PIN or none, counters, LASTOTP and LASTTIME; comments and blank lines", () => {
    const text = [
      "# users",
      "",
      `HOTP alice - ${KEY}`,
      `HOTP/E bob 1234 ${KEY} 5`,
      `HOTP/E/8 carol - ${KEY} 12 123456`,
      `HOTP/T30 dave - ${KEY}`,
      `HOTP/T30/8 erin 0000 ${KEY} 0 12345678 2009-06-12T17:52:32Z`,
      `HOTP/T60/6 frank - ${KEY} 0 - 2009-06-12T17:52:32L`,
      `HOTP/T60/8 grace@other.test - ${KEY.toUpperCase()}`,
      "   ",
    ].join("\n");
    const entries = parseUsersFile(text);
    expect(entries.map((e) => [e.line, e.user, e.kind, e.digits, e.period, e.pin, e.counter])).toEqual([
      [3, "alice", "hotp", 6, null, null, 0],
      [4, "bob", "hotp", 6, null, "1234", 5],
      [5, "carol", "hotp", 8, null, null, 12],
      [6, "dave", "totp", 6, 30, null, 0],
      [7, "erin", "totp", 8, 30, "0000", 0],
      [8, "frank", "totp", 6, 60, null, 0],
      [9, "grace@other.test", "totp", 8, 60, null, 0],
    ]);
    expect(entries[4]!.lastTime).toBe(Date.UTC(2009, 5, 12, 17, 52, 32) / 1000);
    expect(entries[5]!.lastTime).toBe(new Date(2009, 5, 12, 17, 52, 32).getTime() / 1000);
    expect(entries.every((e) => Buffer.from(e.key).equals(RFC_KEY))).toBe(true);
  });

  test.each([
    ["TOTP alice - 00", "line 2: TYPE must be"],
    ["HOTP/E/7 alice - 00", "line 2: only 6 or 8 digits"],
    ["HOTP/T45 alice - 00", "line 2: time tokens must have a step of 30 or 60"],
    ["HOTP alice - 0g0g", "line 2: KEY must be an even number of hex digits"],
    ["HOTP alice - 012", "line 2: KEY must be an even number of hex digits"],
    ["HOTP alice -", "line 2: expected TYPE USER PIN KEY"],
    ["HOTP alice - 00 -1", "line 2: COUNTER must be a non-negative integer"],
    ["HOTP/T30 alice - 00 3", "line 2: a time offset"],
    ["HOTP/T30 alice - 00 0 123456 yesterday", "line 2: LASTTIME must look like"],
    ["HOTP/T30 alice - 00 0 123456 2009-02-30T00:00:00Z", "line 2: LASTTIME is not a valid date"],
    ["HOTP alice - 00 0 1 2 3", "line 2: expected at most 7 fields"],
  ])("%s is refused: %s (and the error repeats nothing of the line)", (line, message) => {
    let error: unknown;
    try {
      parseUsersFile(`HOTP ok - ${KEY}\n${line}\n`);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsersFileError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain("alice");
  });

  test("lines are written as the tools read them: HOTP/E/N and HOTP/TNN/N, LASTOTP and local LASTTIME", () => {
    expect(formatUsersFileLine({ kind: "hotp", digits: 6, period: null, user: "a@x", pin: "-", key: RFC_KEY, counter: 3, lastStep: null })).toBe(
      `HOTP/E/6 a@x - ${Buffer.from(RFC_KEY).toString("hex")} 3 ${RFC_HOTP[2]}`,
    );
    expect(formatUsersFileLine({ kind: "hotp", digits: 6, period: null, user: "a@x", pin: "-", key: null, counter: 0, lastStep: null })).toBe("HOTP/E/6 a@x - - 0");
    const line = formatUsersFileLine({ kind: "totp", digits: 8, period: 30, user: "a@x", pin: "-", key: RFC_KEY, counter: 0, lastStep: 1 });
    const [entry] = parseUsersFile(line);
    expect(line.split(" ").slice(0, 6)).toEqual(["HOTP/T30/8", "a@x", "-", Buffer.from(RFC_KEY).toString("hex"), "0", "94287082"]);
    expect(entry!.lastTime).toBe(30);
  });
});

describe.each([
  ["memory", () => new MemoryOtpCredentials() as OtpCredentials],
  ["SQLite", () => sqlite().otp],
])("OTP records (%s)", (_name, make) => {
  test("add, names unique per account, list, remove one or all", () => {
    const records = make();
    const a = records.add(spec());
    expect(a.id).toBeGreaterThan(0);
    expect(() => records.add(spec())).toThrow(OtpRecordsError);
    records.add(spec({ name: "yubikey" }));
    records.add(spec({ jid: "bob@example.test" }));
    expect(records.forAccount("alice@example.test").map((c) => c.name)).toEqual(["phone", "yubikey"]);
    expect(records.all().map((c) => `${c.jid}/${c.name}`)).toEqual(["alice@example.test/phone", "alice@example.test/yubikey", "bob@example.test/phone"]);
    expect(Buffer.from(records.forAccount("bob@example.test")[0]!.secret).equals(RFC_KEY)).toBe(true);
    expect(records.remove("alice@example.test", "phone")).toBe(1);
    expect(records.remove("alice@example.test")).toBe(1);
    expect(records.remove("alice@example.test")).toBe(0);
  });

  test("the HOTP counter moves once past a code; a TOTP step is taken once, and no earlier step after it", () => {
    const records = make();
    const h = records.add(spec());
    expect(records.advanceCounter(h.id, 3)).toBe(true);
    expect(records.forAccount(h.jid)[0]!.counter).toBe(4);
    expect(records.advanceCounter(h.id, 3)).toBe(false);
    expect(records.advanceCounter(h.id, 2)).toBe(false);
    expect(records.advanceCounter(h.id, 4)).toBe(true);
    const t = records.add(spec({ name: "app", kind: "totp", period: 30 }));
    expect(records.claimStep(t.id, 100)).toBe(true);
    expect(records.claimStep(t.id, 100)).toBe(false);
    expect(records.claimStep(t.id, 99)).toBe(false);
    expect(records.claimStep(t.id, 101)).toBe(true);
    expect(records.advanceCounter(9999, 1)).toBe(false);
  });

  test("an import is all or nothing: over an account with credentials it is refused whole, unless replace", () => {
    const records = make();
    records.add(spec({ jid: "bob@example.test" }));
    expect(() => records.importAll([spec({ jid: "carol@example.test" }), spec({ jid: "bob@example.test" })], { replace: false })).toThrow(/bob@example\.test/);
    expect(records.forAccount("carol@example.test")).toEqual([]);
    expect(() => records.importAll([spec({ jid: "carol@example.test" }), spec({ jid: "carol@example.test" })], { replace: false })).toThrow(OtpRecordsError);
    expect(records.forAccount("carol@example.test")).toEqual([]);
    expect(records.importAll([spec({ jid: "carol@example.test" }), spec({ jid: "bob@example.test", name: "new" })], { replace: true })).toEqual({ added: 2, replacedAccounts: 1 });
    expect(records.forAccount("bob@example.test").map((c) => c.name)).toEqual(["new"]);
  });
});

describe("SQLite: two handles on one file (as two processes)", () => {
  test("a counter move and a step claim succeed for one of them; both see credentials the other added", () => {
    const first = sqlite();
    const second = sqlite(join(first.path, ".."));
    const h = first.otp.add(spec());
    expect(second.otp.forAccount(h.jid)).toHaveLength(1);
    const results = [first.otp.advanceCounter(h.id, 2), second.otp.advanceCounter(h.id, 2)];
    expect(results.filter(Boolean)).toHaveLength(1);
    const t = second.otp.add(spec({ name: "app", kind: "totp", period: 30 }));
    expect([second.otp.claimStep(t.id, 7), first.otp.claimStep(t.id, 7)].filter(Boolean)).toHaveLength(1);
    expect(first.otp.remove(h.jid)).toBe(2);
    expect(second.otp.forAccount(h.jid)).toEqual([]);
  });
});

describe("the login check (OtpVerifier)", () => {
  const jid = "alice@example.test";
  function verifier(records: OtpCredentials, now = () => 1_000_000, maxOffset?: number) {
    return new OtpVerifier({ credentials: records, now, ...(maxOffset === undefined ? {} : { maxOffset }) });
  }

  test("an account without credentials is not this check's (null)", async () => {
    expect(await verifier(new MemoryOtpCredentials()).check("alice", "example.test", "123456")).toBeNull();
  });

  test("HOTP with a PIN: look-ahead up to maxOffset, the counter moves past the code, a used code and a wrong PIN are refused", async () => {
    const records = new MemoryOtpCredentials();
    records.add(spec({ pinHash: await hashPin("4711") }));
    const v = verifier(records);
    // Counter 0: RFC codes 0..4 are in reach, 5 is not.
    expect(await v.check("alice", "example.test", `4711${RFC_HOTP[5]}`)).toEqual({ ok: false, reason: "otp-invalid" });
    // A wrong PIN with a right code: refused, and the code is not used up.
    expect(await v.check("alice", "example.test", `4712${RFC_HOTP[3]}`)).toEqual({ ok: false, reason: "otp-invalid" });
    expect(records.forAccount(jid)[0]!.counter).toBe(0);
    expect(await v.check("alice", "example.test", RFC_HOTP[3]!)).toEqual({ ok: false, reason: "otp-invalid" });
    expect(await v.check("alice", "example.test", `4711${RFC_HOTP[3]}`)).toEqual({ ok: true, jid });
    expect(records.forAccount(jid)[0]!.counter).toBe(4);
    expect(await v.check("alice", "example.test", `4711${RFC_HOTP[3]}`)).toEqual({ ok: false, reason: "otp-replayed" });
    expect(await v.check("alice", "example.test", `4711${RFC_HOTP[2]}`)).toEqual({ ok: false, reason: "otp-replayed" });
    // Now 4..8 are in reach.
    expect(await v.check("alice", "example.test", `4711${RFC_HOTP[8]}`)).toEqual({ ok: true, jid });
    expect(records.forAccount(jid)[0]!.counter).toBe(9);
  });

  test("maxOffset 0: only the counter's own code", async () => {
    const records = new MemoryOtpCredentials();
    records.add(spec());
    const v = verifier(records, undefined, 0);
    expect((await v.check("alice", "example.test", RFC_HOTP[1]!))!.ok).toBe(false);
    expect((await v.check("alice", "example.test", RFC_HOTP[0]!))!.ok).toBe(true);
  });

  test("TOTP: the step before and after now are accepted, two away is not; a step at or before the last used is refused", async () => {
    const records = new MemoryOtpCredentials();
    records.add(spec({ kind: "totp", period: 30, digits: 8 }));
    // RFC 6238: 94287082 is step 1 (0..59 s); 07081804 is step 37037036 (1111111109 s).
    const at = (t: number) => verifier(records, () => t);
    expect(await at(59 + 60).check("alice", "example.test", "94287082")).toEqual({ ok: false, reason: "otp-invalid" });
    expect(await at(59 + 30).check("alice", "example.test", "94287082")).toEqual({ ok: true, jid });
    expect(await at(59).check("alice", "example.test", "94287082")).toEqual({ ok: false, reason: "otp-replayed" });
    expect(await at(1111111109 - 30).check("alice", "example.test", "07081804")).toEqual({ ok: true, jid });
    expect(records.forAccount(jid)[0]!.lastStep).toBe(37037036);
  });

  test("two logins racing with one code: one success", async () => {
    const records = sqlite().otp;
    records.add(spec());
    const v = verifier(records);
    const verdicts = await Promise.all([1, 2, 3].map(() => v.check("alice", "example.test", RFC_HOTP[0]!)));
    expect(verdicts.filter((x) => x!.ok)).toHaveLength(1);
    expect(verdicts.filter((x) => !x!.ok).map((x) => (x as { reason: string }).reason)).toEqual(["otp-replayed", "otp-replayed"]);
  });

  test("several credentials: either one's code logs in; a code of another account's credential does not", async () => {
    const records = new MemoryOtpCredentials();
    const other = Buffer.from("another secret of 20b", "ascii");
    records.add(spec());
    records.add(spec({ name: "token2", secret: other }));
    records.add(spec({ jid: "bob@example.test", secret: Buffer.from("bob's own secret 20b", "ascii") }));
    const v = verifier(records);
    expect(await v.check("bob", "example.test", RFC_HOTP[0]!)).toEqual({ ok: false, reason: "otp-invalid" });
    expect(await v.check("alice", "example.test", RFC_HOTP[0]!)).toEqual({ ok: true, jid });
  });

  test("the account rules come first: a disabled account or a domain not hosted is refused as for tokens", async () => {
    const records = new MemoryOtpCredentials();
    records.add(spec());
    const v = new OtpVerifier({ credentials: records, accounts: { accountProblem: (l) => (l === "alice" ? "account-disabled" : null) } });
    expect(await v.check("alice", "example.test", RFC_HOTP[0]!)).toEqual({ ok: false, reason: "account-disabled" });
    expect(records.forAccount(jid)[0]!.counter).toBe(0);
  });

  test("a store that fails is otp-store-error, never an exception", async () => {
    const failing = { forAccount: () => { throw new Error("disk I/O error"); } } as unknown as OtpCredentials;
    expect(await verifier(failing).check("alice", "example.test", "123456")).toEqual({ ok: false, reason: "otp-store-error" });
  });
});

describe("managing credentials (library calls)", () => {
  test("enrol: a random secret of 20 bytes, its URI, a summary without secrets; names and rules", async () => {
    const records = new MemoryOtpCredentials();
    const e = await enrolOtpCredential(records, { jid: "Alice@Example.TEST", pin: "2468" });
    expect(e.credential).toMatchObject({ jid: "alice@example.test", name: "totp", kind: "totp", digits: 6, period: 30, hasPin: true, algorithm: "sha1" });
    expect(e.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(e.uri).toBe(`otpauth://totp/example.test:alice@example.test?secret=${e.secret}&issuer=example.test&algorithm=SHA1&digits=6&period=30`);
    expect(JSON.stringify(e.credential)).not.toContain("scrypt");
    const second = await enrolOtpCredential(records, { jid: "alice@example.test", kind: "hotp", digits: 8, name: "yubikey" });
    expect(second.uri).toContain("otpauth://hotp/example.test:alice@example.test?");
    expect(second.uri).toContain("&digits=8&counter=0");
    expect((await enrolOtpCredential(records, { jid: "alice@example.test" })).credential.name).toBe("totp-2");
    await expect(enrolOtpCredential(records, { jid: "alice@example.test", secret: randomBytes(15) })).rejects.toThrow(OtpSetupError);
    await expect(enrolOtpCredential(records, { jid: "alice@example.test", kind: "hotp", algorithm: "sha256" })).rejects.toThrow(/SHA-1/);
    await expect(enrolOtpCredential(records, { jid: "alice@example.test", pin: "12" })).rejects.toThrow(/PIN/);
    await expect(enrolOtpCredential(records, { jid: "alice@example.test/phone" })).rejects.toThrow(OtpSetupError);
    expect(listOtpCredentials(records, "alice@example.test").map((c) => c.name)).toEqual(["totp", "yubikey", "totp-2"]);
    expect(removeOtpCredentials(records, "alice@example.test", "yubikey")).toBe(1);
    expect(() => removeOtpCredentials(records, "alice@example.test", "yubikey")).toThrow(OtpSetupError);
  });

  test("resync: two consecutive codes far ahead of the counter find it; both are used up", async () => {
    const records = new MemoryOtpCredentials();
    records.add(spec());
    expect(resyncHotpCredential(records, { jid: "alice@example.test", first: RFC_HOTP[6]!, second: RFC_HOTP[7]! })).toEqual({ name: "phone", counter: 8 });
    const v = new OtpVerifier({ credentials: records });
    expect((await v.check("alice", "example.test", RFC_HOTP[7]!))!.ok).toBe(false);
    expect((await v.check("alice", "example.test", RFC_HOTP[8]!))!.ok).toBe(true);
    expect(() => resyncHotpCredential(records, { jid: "alice@example.test", first: RFC_HOTP[1]!, second: RFC_HOTP[3]! })).toThrow(/not consecutive/);
  });

  test("import then export with secrets gives the same file; without secrets no key nor PIN hash is written", async () => {
    const records = new MemoryOtpCredentials();
    const key = Buffer.from(RFC_KEY).toString("hex");
    const result = await importOtpUsersFile(records, `HOTP alice 1234 ${key} 3\nHOTP/T30/8 bob@example.test - ${key} 0 - 2009-06-12T17:52:32Z\nHOTP/T60 carol - 0102030405\n`, { domain: "example.test" });
    expect(result.added).toBe(3);
    expect(result.warnings).toEqual([expect.stringMatching(/^line 3: carol@example\.test's key has only 5 bytes/)]);
    const exported = exportOtpUsersFile(records, { withSecrets: true }).text;
    expect(exported).toMatch(/^HOTP\/E\/6 alice@example\.test scrypt\$\S+ 3132\S+ 3 359152$/m);
    const again = new MemoryOtpCredentials();
    await importOtpUsersFile(again, exported);
    expect(exportOtpUsersFile(again, { withSecrets: true }).text).toBe(exported);
    const bare = exportOtpUsersFile(records).text;
    expect(bare).not.toContain(key);
    expect(bare).not.toContain("scrypt");
    expect(bare).toMatch(/^HOTP\/E\/6 alice@example\.test \* - 3 -$/m);
  });
});

describe("x-token extauth's answer (no ejabberd): the same check as PLAIN", () => {
  test("PIN + code once, a token for the same account, a disabled account; the log has no code", async () => {
    const records = new MemoryOtpCredentials();
    records.add(spec({ pinHash: await hashPin("2468") }));
    records.add(spec({ jid: "mallory@example.test" }));
    const key = freshKey();
    const authority = new TokenAuthority({ domains: { "example.test": { keys: [key], disabledUsers: ["mallory"] } } });
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
    const answer = createExtauthAnswerer({ authority, otp: new OtpVerifier({ credentials: records, accounts: authority }), log });
    const ask = (user: string, password: string) => answer({ command: "auth", user, server: "example.test", password });
    expect(await ask("Alice", `2468${RFC_HOTP[1]}`)).toBe(true);
    expect(await ask("alice", `2468${RFC_HOTP[1]}`)).toBe(false);
    expect(await ask("alice", mintToken({ jid: "alice@example.test", key: [key] }))).toBe(true);
    expect(await ask("mallory", RFC_HOTP[0]!)).toBe(false);
    expect(await ask("bob", "123456")).toBe(false);
    expect(lines).toEqual([
      "auth accepted for alice@example.test",
      "auth refused for alice@example.test: otp-replayed",
      "auth accepted for alice@example.test",
      "auth refused for mallory@example.test: account-disabled",
      "auth refused for bob@example.test: malformed",
    ]);
    // Without otp (as before): PIN + code is no token.
    const tokensOnly = createExtauthAnswerer({ authority, log });
    expect(await tokensOnly({ command: "auth", user: "alice", server: "example.test", password: `2468${RFC_HOTP[2]}` })).toBe(false);
  });
});
