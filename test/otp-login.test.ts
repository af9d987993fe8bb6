/**
 * One-time password accounts on real sockets: a server on ephemeral ports with the SQLite
 * engine in a temp folder and a clock the test sets, clients doing STARTTLS then PLAIN with
 * PIN + code (codes from oathtool and the RFC vectors, never from src/core/otp), from chosen
 * 127.0.0.0/8 addresses for the per-address limit.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer, type ServerConfig } from "../src/server/index.js";
import { openSqliteStorage, type SqliteStorage } from "../src/stores/sqlite/index.js";
import { memoryStorage } from "../src/core/records/storage.js";
import { enrolOtpCredential, importOtpUsersFile } from "../src/auth/otp/index.js";
import { mintToken } from "../src/core/token/mint.js";
import { DEFAULT_LIMITS, DOMAIN, freshKey, testCertificate } from "./helpers/server.js";
import { plainOverTls } from "./helpers/plain-login.js";
import { oathHotp, oathTotp, oathtoolUnavailable } from "./helpers/oathtool.js";

const unavailable = oathtoolUnavailable();
if (unavailable) console.warn(`skipping the one-time password login tests: ${unavailable}`);
const withOathtool = unavailable ? describe.skip : describe;

const RFC_KEY_HEX = Buffer.from("12345678901234567890", "ascii").toString("hex");
const dir = mkdtempSync(join(tmpdir(), "x-token-otp-login-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

withOathtool("PLAIN with PIN + one-time password over TLS (SQLite, real sockets)", () => {
  let server: RunningServer;
  let storage: SqliteStorage;
  let ca = "";
  let clock = 1_700_000_000;
  const lines: string[] = [];
  const key = freshKey();
  let totpSecret: Buffer;
  let bobSecret: Buffer;
  const port = () => server.ports.c2s!;
  const failures = () => lines.filter((l) => l.startsWith("warn authentication failed"));

  beforeAll(async () => {
    const pem = await testCertificate();
    ca = pem.cert;
    storage = openSqliteStorage({ dir });
    // alice: a phone app (TOTP, PIN 2468) and a hardware token (HOTP, 8 digits, no PIN); bob: TOTP, no PIN.
    const phone = await enrolOtpCredential(storage.otp, { jid: `alice@${DOMAIN}`, pin: "2468", name: "phone" });
    totpSecret = Buffer.from(storage.otp.forAccount(`alice@${DOMAIN}`).find((c) => c.id === phone.credential.id)!.secret);
    await importOtpUsersFile(storage.otp, `HOTP/E/8 carol@${DOMAIN} - ${RFC_KEY_HEX} 0\n`);
    await enrolOtpCredential(storage.otp, { jid: `bob@${DOMAIN}` });
    bobSecret = Buffer.from(storage.otp.forAccount(`bob@${DOMAIN}`)[0]!.secret);
    const config: ServerConfig = {
      domains: { [DOMAIN]: { keys: [key], window: 1, nonceDigits: 32, disabledUsers: ["mallory"] } },
      listeners: { host: "127.0.0.1", c2sPort: 0, directTlsPort: null, httpPort: null, websocketPath: "/xmpp-websocket", componentHost: "127.0.0.1", componentPort: null },
      tls: pem,
      requireTls: true,
      allowPlainWithoutTls: false,
      // The per-address limit is exercised from its own address; others stay far from it.
      limits: { ...DEFAULT_LIMITS, maxAuthFailuresPerIpPerMinute: 4, maxAuthFailuresPerJidPerMinute: 1000 },
      trustedProxies: [],
      replayMaxEntries: 1000,
    };
    server = await startServer(config, { storage, now: () => clock, log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) } });
  });
  // Each test logs in from its own address, so failures on purpose stay under the per-address limit.
  let address = "127.0.0.1";
  let nextAddress = 20;
  const plain = (port: number, ca: string, localpart: string, password: string, { from = address, mechanism = "PLAIN" } = {}) =>
    plainOverTls(port, ca, localpart, password, { from, mechanism, domain: DOMAIN });
  beforeEach(() => {
    address = `127.0.0.${nextAddress++}`;
  });
  afterAll(async () => {
    await server?.close();
    storage?.close();
  });

  test("PIN + TOTP code logs in; the same code again is refused (otp-replayed); the log names the account and address, never the code or PIN", async () => {
    const code = oathTotp(totpSecret, clock);
    expect(await plain(port(), ca, "alice", `2468${code}`)).toBe("success");
    expect(lines).toContain(`info authenticated alice@${DOMAIN} from ${address} via PLAIN over tcp`);
    expect(await plain(port(), ca, "alice", `2468${code}`)).toBe("not-authorized");
    expect(failures().at(-1)).toBe(`warn authentication failed for alice@${DOMAIN} from ${address}: otp-replayed`);
    expect(lines.join("\n")).not.toContain(code);
    expect(lines.join("\n")).not.toContain("2468");
  });

  test("TOTP skew: a code one step behind or ahead logs in, two steps away does not; no code of a step at or before the last used", async () => {
    clock += 300;
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock - 60))).toBe("not-authorized");
    expect(failures().at(-1)).toBe(`warn authentication failed for bob@${DOMAIN} from ${address}: otp-invalid`);
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock - 30))).toBe("success");
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock + 30))).toBe("success");
    // The current step is now before the last used one: its code is refused.
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock))).toBe("not-authorized");
    expect(failures().at(-1)).toBe(`warn authentication failed for bob@${DOMAIN} from ${address}: otp-replayed`);
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock + 90))).toBe("not-authorized");
  });

  test("HOTP look-ahead: a code 4 values past the counter logs in and the counter moves past it; 5 past is refused", async () => {
    const codes = oathHotp(Buffer.from(RFC_KEY_HEX, "hex"), 0, { digits: 8, count: 12 });
    expect(await plain(port(), ca, "carol", codes[5]!)).toBe("not-authorized");
    expect(await plain(port(), ca, "carol", codes[4]!)).toBe("success");
    expect(storage.otp.forAccount(`carol@${DOMAIN}`)[0]!.counter).toBe(5);
    // Earlier codes are used up by the move.
    expect(await plain(port(), ca, "carol", codes[2]!)).toBe("not-authorized");
    expect(failures().at(-1)).toBe(`warn authentication failed for carol@${DOMAIN} from ${address}: otp-replayed`);
    expect(await plain(port(), ca, "carol", codes[9]!)).toBe("success");
    expect(storage.otp.forAccount(`carol@${DOMAIN}`)[0]!.counter).toBe(10);
  });

  test("a wrong PIN is refused and does not use the code up; the code alone, without the PIN, is refused", async () => {
    clock += 300;
    const code = oathTotp(totpSecret, clock);
    expect(await plain(port(), ca, "alice", `2469${code}`)).toBe("not-authorized");
    expect(await plain(port(), ca, "alice", code)).toBe("not-authorized");
    expect(await plain(port(), ca, "alice", `2468${code}`)).toBe("success");
  });

  test("another user's code is refused; so is a disabled account's, whatever its code", async () => {
    clock += 300;
    expect(await plain(port(), ca, "alice", `2468${oathTotp(bobSecret, clock)}`)).toBe("not-authorized");
    expect(await plain(port(), ca, "bob", oathTotp(totpSecret, clock))).toBe("not-authorized");
    expect(failures().at(-1)).toBe(`warn authentication failed for bob@${DOMAIN} from ${address}: otp-invalid`);
    await enrolOtpCredential(storage.otp, { jid: `mallory@${DOMAIN}`, secret: bobSecret });
    expect(await plain(port(), ca, "mallory", oathTotp(bobSecret, clock))).toBe("account-disabled");
  });

  test("an address over its failure limit is refused before any check, right code included; the owner from another address logs in", async () => {
    clock += 300;
    for (let i = 0; i < 4; i++) expect(await plain(port(), ca, "alice", `2468${String(i).padStart(6, "0")}`, { from: "127.0.0.9" })).toBe("not-authorized");
    const code = oathTotp(totpSecret, clock);
    expect(await plain(port(), ca, "alice", `2468${code}`, { from: "127.0.0.9" })).toBe("temporary-auth-failure");
    expect(failures().at(-1)).toBe(`warn authentication failed for (unknown) from 127.0.0.9: rate-limited`);
    // The refused attempt never reached the credentials: the code still logs in elsewhere.
    expect(await plain(port(), ca, "alice", `2468${code}`, { from: "127.0.0.10" })).toBe("success");
  });

  test("X-TOKEN and PLAIN with a token keep working for an account that has one-time password credentials", async () => {
    const now = Math.floor(Date.now() / 1000);
    clock = now;
    expect(await plain(port(), ca, "alice", mintToken({ jid: `alice@${DOMAIN}`, key: [key], now }), { mechanism: "X-TOKEN" })).toBe("success");
    expect(await plain(port(), ca, "alice", mintToken({ jid: `alice@${DOMAIN}`, key: [key], now }))).toBe("success");
    // X-TOKEN takes tokens only: PIN + code there is a malformed token.
    expect(await plain(port(), ca, "alice", `2468${oathTotp(totpSecret, clock)}`, { mechanism: "X-TOKEN" })).toBe("malformed-request");
    // An account without credentials: a password that is no token is malformed, as before.
    expect(await plain(port(), ca, "dave", "123456")).toBe("malformed-request");
  });

  test("a credential removed while the server runs refuses at the next login; one added logs in", async () => {
    clock += 300;
    storage.otp.remove(`bob@${DOMAIN}`);
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock))).toBe("malformed-request");
    await enrolOtpCredential(storage.otp, { jid: `bob@${DOMAIN}`, secret: bobSecret });
    expect(await plain(port(), ca, "bob", oathTotp(bobSecret, clock))).toBe("success");
  });
});

withOathtool("an account over its failure limit (memory engine)", () => {
  test("failures from many addresses: further failures are answered late and logged as over the limit; the right code still logs in at once", async () => {
    const pem = await testCertificate();
    const storage = memoryStorage();
    await enrolOtpCredential(storage.otp, { jid: `alice@${DOMAIN}` });
    const secret = Buffer.from(storage.otp.forAccount(`alice@${DOMAIN}`)[0]!.secret);
    const lines: string[] = [];
    const heldBack: number[] = [];
    const server = await startServer(
      {
        domains: { [DOMAIN]: { keys: [freshKey()], window: 1, nonceDigits: 32, disabledUsers: [] } },
        listeners: { host: "127.0.0.1", c2sPort: 0, directTlsPort: null, httpPort: null, websocketPath: "/xmpp-websocket", componentHost: "127.0.0.1", componentPort: null },
        tls: pem,
        requireTls: true,
        allowPlainWithoutTls: false,
        limits: { ...DEFAULT_LIMITS, maxAuthFailuresPerJidPerMinute: 2 },
        trustedProxies: [],
        replayMaxEntries: 1000,
      },
      // Which answers the server holds back, and for how long, seen without timing them.
      { storage, log: { info: (m) => lines.push(m), warn: (m) => lines.push(m) }, holdBack: async (seconds) => void heldBack.push(seconds) },
    );
    try {
      const port = server.ports.c2s!;
      for (let i = 0; i < 2; i++) expect(await plainOverTls(port, pem.cert, "alice", "000000", { from: `127.0.1.${i + 1}` })).toBe("not-authorized");
      expect(heldBack).toEqual([1]); // the failure that used up the account's count is the first answered late
      expect(await plainOverTls(port, pem.cert, "alice", "000001", { from: "127.0.1.9" })).toBe("not-authorized");
      expect(heldBack).toEqual([1, 1]);
      expect(lines.at(-1)).toBe(`authentication failed for alice@${DOMAIN} from 127.0.1.9: otp-invalid (the JID is over its failure limit)`);
      const code = oathTotp(secret, Date.now() / 1000);
      expect(await plainOverTls(port, pem.cert, "alice", code, { from: "127.0.1.10" })).toBe("success");
      expect(heldBack).toEqual([1, 1]); // the owner's right code: answered at once
    } finally {
      await server.close();
    }
  });
});
