/**
 * The demo's two-factor sign-in over real HTTP and real XMPP sockets (issue 19 section 4): the
 * demo app and a server share one SQLite storage (its `otp` credentials), one login policy and
 * one metrics hook, as `x-token serve` wires them. Codes come from oathtool (a second
 * implementation), at instants of a clock the test moves; the XMPP logins are PLAIN over
 * STARTTLS. Checked: enrolment (QR code and URI shown, stored only on a right code, which is used
 * up), password then code, the half session reaching nothing else, a code used once across the
 * web and XMPP (both ways), wrong codes (a log line with account and address and never the code,
 * metrics, a cap per sign-in), the policy's address limit and account slow-down (the owner's
 * right code still signs in), and the inactivity timeout of sessions, renewed past half of it;
 * and the compiled `x-token serve` wiring the same together from its configuration.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDemoApp, type DemoAppOptions } from "../src/web/demo/app.js";
import { parseConfig } from "../src/app/config/load.js";
import { hashPassword } from "../src/auth/password/scrypt-hash.js";
import { LoginLimiter } from "../src/auth/policy/login-limiter.js";
import { SessionStore } from "../src/web/demo/session.js";
import { enrolOtpCredential } from "../src/auth/otp/manage.js";
import { openSqliteStorage, type SqliteStorage } from "../src/stores/sqlite/index.js";
import { DEFAULT_LIMITS, saslAuth, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";
import { cli } from "./helpers/cli.js";
import { startServe } from "./helpers/serve-process.js";
import { plainOverTls } from "./helpers/plain-login.js";
import { oathTotp, oathtoolUnavailable } from "./helpers/oathtool.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import type { DemoConfig } from "../src/app/config/types.js";

const SESSION_SECRET = "a-session-secret-for-the-two-factor-test-0123456789";
const STEP = 30;
const time = { now: 1_800_000_015 }; // 15 s into a step
const clock = () => time.now;

let storage: SqliteStorage;
let xmpp: TestServer;
let demo: DemoConfig;
const servers: http.Server[] = [];
const logLines: string[] = [];
const events: { mechanism: string; result: string; reason: string }[] = [];
const metrics = { loginFinished: (e: { mechanism: string; result: "success" | "failure"; reason: string; seconds: number }) => void events.push({ mechanism: e.mechanism, result: e.result, reason: e.reason }) };
let policy: LoginLimiter;

const describeWithOathtool = oathtoolUnavailable() === null ? describe : describe.skip;

beforeAll(async () => {
  if (oathtoolUnavailable() !== null) return;
  storage = openSqliteStorage({ dir: tempDir("x-token-two-factor-") });
  policy = new LoginLimiter({ limits: DEFAULT_LIMITS });
  xmpp = await startTestServer({ storage, loginPolicy: policy, start: { now: clock, metrics } });
  demo = {
    domain: xmpp.domain,
    sessionSecret: SESSION_SECRET,
    users: await Promise.all(["alice", "bob", "carol", "dave", "frank"].map(async (username) => ({ username, passwordHash: await hashPassword(`${username}-pw`) }))),
  };
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await xmpp?.close();
  storage?.close();
  removeTempDirs();
});

/** The demo app wired as `x-token serve` wires it: the server's storage, policy and metrics. */
async function startDemo(options: Partial<DemoAppOptions> = {}): Promise<string> {
  const app = createDemoApp({
    demo,
    keys: xmpp.keys[xmpp.domain]!,
    otp: { credentials: storage.otp, accounts: xmpp.server.authority },
    loginPolicy: policy,
    metrics,
    log: { warn: (m) => logLines.push(`warn ${m}`), info: (m) => logLines.push(`info ${m}`) },
    failureLinesPerMinute: 1000,
    now: clock,
    ...options,
  });
  const server = http.createServer(app.handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function post(base: string, path: string, form: Record<string, string>, cookie?: string, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base, ...(cookie ? { cookie } : {}), ...headers },
    body: new URLSearchParams(form).toString(),
  });
}
const get = (base: string, path: string, cookie?: string) => fetch(`${base}${path}`, { redirect: "manual", headers: cookie ? { cookie } : {} });

/** `name=value` of each Set-Cookie, by name ("" for a cleared one). */
function cookies(res: Response): Record<string, string> {
  return Object.fromEntries(res.headers.getSetCookie().map((c) => c.split(";")[0]!.split(/=(.*)/s).slice(0, 2) as [string, string]));
}

/** Base32 (RFC 4648), decoded here rather than with our own src/core/otp/base32. */
function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  return Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
}

const code = (key: Uint8Array, at = time.now) => oathTotp(key, at);
const plain = (user: string, password: string) => plainOverTls(xmpp.server.ports.c2s!, xmpp.caCert, user, password);

/** Signs in with the password; returns the response (303 to /chat or /code) and its cookies. */
async function password(base: string, user: string) {
  const res = await post(base, "/signin", { username: user, password: `${user}-pw` });
  expect(res.status).toBe(303);
  return { location: res.headers.get("location"), cookies: cookies(res) };
}

/** A signed-in user enrols through the pages; returns the key the page showed. */
async function enrol(base: string, user: string): Promise<Buffer> {
  const { cookies: c } = await password(base, user);
  const session = `xtoken_demo=${c.xtoken_demo}`;
  const page = await (await post(base, "/two-factor/start", {}, session)).text();
  const uri = /<code class="uri" id="uri">([^<]+)<\/code>/.exec(page)![1]!.replace(/&#38;/g, "&");
  const key = base32Decode(new URL(uri).searchParams.get("secret")!);
  const done = await post(base, "/two-factor/confirm", { code: code(key) }, session);
  expect(await done.text()).toContain("Two-factor sign-in is on");
  return key;
}

describeWithOathtool("two-factor sign-in of the demo", () => {
  test("enrolment: the page shows the QR code and the otpauth URI; only a right code stores the credential, and that code is used up", async () => {
    const base = await startDemo();
    const { location, cookies: c } = await password(base, "alice");
    expect(location).toBe("/chat"); // no credential yet: the password alone
    const session = `xtoken_demo=${c.xtoken_demo}`;
    const off = await (await get(base, "/two-factor", session)).text();
    expect(off).toContain("Off: your password alone signs you in.");
    expect(off).toContain('action="/two-factor/start"');
    // Not from our page: refused (CSRF), and nothing is shown.
    expect((await post(base, "/two-factor/start", {}, session, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post(base, "/two-factor/start", {})).headers.get("location")).toBe("/");

    const start = await post(base, "/two-factor/start", {}, session);
    expect(start.status).toBe(200);
    expect(start.headers.get("cache-control")).toBe("no-store");
    const page = await start.text();
    expect(page).toMatch(/<svg role="img" aria-label="QR code of the new credential" xmlns="http:\/\/www.w3.org\/2000\/svg" viewBox="0 0 \d+ \d+">/);
    const uri = /<code class="uri" id="uri">([^<]+)<\/code>/.exec(page)![1]!.replace(/&#38;/g, "&");
    const parsed = new URL(uri);
    expect(parsed.protocol).toBe("otpauth:");
    expect(parsed.host).toBe("totp");
    expect(decodeURIComponent(parsed.pathname)).toBe(`/${xmpp.domain}:alice@${xmpp.domain}`);
    expect(Object.fromEntries(parsed.searchParams)).toMatchObject({ issuer: xmpp.domain, algorithm: "SHA1", digits: "6", period: "30" });
    const key = base32Decode(parsed.searchParams.get("secret")!);
    expect(key.length).toBeGreaterThanOrEqual(16);
    // The key for typing by hand is the same secret, in groups of four.
    expect(/<code class="secret" id="secret">([^<]+)<\/code>/.exec(page)![1]!.replace(/ /g, "")).toBe(parsed.searchParams.get("secret"));
    expect(storage.otp.forAccount(`alice@${xmpp.domain}`)).toEqual([]);

    // A wrong code: the page again, saying so; nothing stored.
    const wrong = await post(base, "/two-factor/confirm", { code: code(key, time.now + 10 * STEP) }, session);
    expect(wrong.status).toBe(200);
    expect(await wrong.text()).toContain("That is not the code of this QR code.");
    expect(storage.otp.forAccount(`alice@${xmpp.domain}`)).toEqual([]);

    const right = code(key);
    const done = await post(base, "/two-factor/confirm", { code: right.replace(/(...)/, "$1 ") }, session); // as apps show it
    expect(await done.text()).toContain("Two-factor sign-in is on");
    const [stored] = storage.otp.forAccount(`alice@${xmpp.domain}`);
    expect(stored).toMatchObject({ kind: "totp", digits: 6, period: 30, pinHash: null, lastStep: Math.floor(time.now / STEP) });
    expect(Buffer.from(stored!.secret).equals(key)).toBe(true);
    expect(logLines).toContain(`info demo: alice@${xmpp.domain} turned two-factor sign-in on (credential totp)`);
    // The confirming code cannot log in afterwards, over XMPP or on the web.
    expect(await plain("alice", right)).toBe("not-authorized");
    const again = await password(base, "alice");
    expect(again.location).toBe("/code");
    expect((await post(base, "/code", { code: right }, `xtoken_demo_2fa=${again.cookies.xtoken_demo_2fa}`)).headers.get("location")).toBe("/code?failed=1");
    // The page now says it is on, and offers no second set-up.
    const on = await (await get(base, "/two-factor", session)).text();
    expect(on).toContain("On. After your password");
    expect((await post(base, "/two-factor/start", {}, session)).headers.get("location")).toBe("/two-factor");
    // A confirmation without a set-up shown: back to the page.
    expect((await post(base, "/two-factor/confirm", { code: right }, session)).headers.get("location")).toBe("/two-factor?expired=1");
  });

  test("password then code: the half session reaches only the code page; a right code signs in; each code works once across the web and XMPP", async () => {
    const base = await startDemo();
    const key = await enrol(base, "bob");
    time.now += STEP;
    const { location, cookies: c } = await password(base, "bob");
    expect(location).toBe("/code");
    expect(c.xtoken_demo).toBeUndefined();
    expect(c.xtoken_demo_2fa).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const half = `xtoken_demo_2fa=${c.xtoken_demo_2fa}`;
    // The half session is no session: no token, no chat, no set-up; the code page asks for the code.
    expect((await get(base, "/api/token", half)).status).toBe(401);
    expect((await get(base, "/chat", half)).headers.get("location")).toBe("/");
    expect((await post(base, "/two-factor/start", {}, half)).headers.get("location")).toBe("/");
    // Its cookie renamed into the session's is not a session either (signed apart).
    expect((await get(base, "/api/token", `xtoken_demo=${c.xtoken_demo_2fa}`)).status).toBe(401);
    const codePage = await (await get(base, "/code", half)).text();
    expect(codePage).toContain(`Password accepted for <strong>bob@${xmpp.domain}</strong>`);
    expect(codePage).toContain('autocomplete="one-time-code"');
    // Not from our page: refused.
    expect((await post(base, "/code", { code: code(key) }, half, { origin: "https://evil.example" })).status).toBe(403);

    const webCode = code(key);
    const ok = await post(base, "/code", { code: webCode }, half);
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/chat");
    const set = cookies(ok);
    expect(set.xtoken_demo_2fa).toBe(""); // cleared
    const session = `xtoken_demo=${set.xtoken_demo}`;
    expect(ok.headers.getSetCookie().find((h) => h.startsWith("xtoken_demo="))).toMatch(/; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/);
    expect((await get(base, "/api/token", session)).status).toBe(200);
    expect(events).toContainEqual({ mechanism: "web-otp", result: "success", reason: "ok" });
    // The half session ended with it.
    expect((await get(base, "/code", half)).headers.get("location")).toBe("/");

    // The web's code is used: XMPP refuses it. The next code logs in over XMPP, and is then used on the web too.
    expect(await plain("bob", webCode)).toBe("not-authorized");
    time.now += STEP;
    const xmppCode = code(key);
    expect(await plain("bob", xmppCode)).toBe("success");
    const second = await password(base, "bob");
    const refused = await post(base, "/code", { code: xmppCode }, `xtoken_demo_2fa=${second.cookies.xtoken_demo_2fa}`);
    expect(refused.headers.get("location")).toBe("/code?failed=1");
    const failedPage = await (await get(base, "/code?failed=1", `xtoken_demo_2fa=${second.cookies.xtoken_demo_2fa}`)).text();
    expect(failedPage).toContain("Wrong or already used code. Wait for the next code and try again.");
    expect(logLines).toContain(`warn authentication failed for bob@${xmpp.domain} from 127.0.0.1: otp-replayed (web-otp)`);
    expect(xmpp.logLines.some((l) => l.includes(`authentication failed for bob@${xmpp.domain} from 127.0.0.1: otp-replayed`))).toBe(true);
    // Cancel on the code page signs out of the half session.
    const cancel = await post(base, "/signout", {}, `xtoken_demo_2fa=${second.cookies.xtoken_demo_2fa}`);
    expect(cancel.headers.get("location")).toBe("/?signed-out=1");
    expect(cookies(cancel).xtoken_demo_2fa).toBe("");
  });

  test("a wrong code: one log line with account and address, never the code; metrics as XMPP's; five wrong codes end the sign-in", async () => {
    const base = await startDemo();
    const key = await enrol(base, "carol");
    time.now += STEP;
    const { cookies: c } = await password(base, "carol");
    const half = `xtoken_demo_2fa=${c.xtoken_demo_2fa}`;
    const wrongCodes = [1, 2, 3, 4, 5].map((n) => code(key, time.now + (n + 5) * STEP));
    const linesBefore = logLines.length;
    for (const [i, wrong] of wrongCodes.entries()) {
      const res = await post(base, "/code", { code: wrong }, half);
      expect(res.headers.get("location")).toBe(i < 4 ? "/code?failed=1" : "/?restart=too-many-codes");
    }
    const lines = logLines.slice(linesBefore);
    expect(lines).toEqual(wrongCodes.map(() => `warn authentication failed for carol@${xmpp.domain} from 127.0.0.1: otp-invalid (web-otp)`));
    for (const wrong of wrongCodes) expect(logLines.join("\n")).not.toContain(wrong);
    expect(events.filter((e) => e.mechanism === "web-otp" && e.reason === "otp-invalid").length).toBeGreaterThanOrEqual(5);
    // The sign-in is over: the right code no longer counts without the password again.
    expect((await post(base, "/code", { code: code(key) }, half)).headers.get("location")).toBe("/?restart=expired");
    expect(await (await get(base, "/?restart=too-many-codes")).text()).toContain("Too many wrong codes: sign in again");
    // A wrong password is logged the same way (no password in it), and counted.
    const bad = await post(base, "/signin", { username: "carol", password: "not-carols-password" });
    expect(bad.headers.get("location")).toBe("/?failed=1&user=carol");
    expect(logLines.at(-1)).toBe(`warn authentication failed for carol@${xmpp.domain} from 127.0.0.1: password-invalid (web-password)`);
    await post(base, "/signin", { username: "nobody-here", password: "x" });
    expect(logLines.at(-1)).toBe("warn authentication failed for (unknown) from 127.0.0.1: password-invalid (web-password)");
    expect(events.at(-1)).toEqual({ mechanism: "web-password", result: "failure", reason: "password-invalid" });
  });

  test("the one login policy: an address over its limit is refused; an account over its limit is slowed, and its owner's right code still signs in", async () => {
    const shared = new LoginLimiter({ limits: { maxAuthFailuresPerConnection: 5, maxAuthFailuresPerIpPerMinute: 3, maxAuthFailuresPerJidPerMinute: 2 }, holdBackSeconds: 0.2 });
    const base = await startDemo({ loginPolicy: shared, trustedProxies: ["127.0.0.1"], maxSignInAttemptsPerMinute: 1000 });
    const key = await enrol(base, "dave");
    time.now += STEP;
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    const half = async (ip: string) => `xtoken_demo_2fa=${cookies(await post(base, "/signin", { username: "dave", password: "dave-pw" }, undefined, from(ip))).xtoken_demo_2fa}`;
    // An attacker who has dave's password guesses codes from 192.0.2.1: three failures, then the address is refused, right code or not.
    const attacker = await half("192.0.2.1");
    for (let i = 0; i < 3; i++) await post(base, "/code", { code: code(key, time.now + (i + 9) * STEP) }, attacker, from("192.0.2.1"));
    const limited = await post(base, "/code", { code: code(key) }, attacker, from("192.0.2.1"));
    expect(limited.status).toBe(429);
    expect(await limited.text()).toContain("Too many failed sign-ins from here");
    expect((await post(base, "/signin", { username: "dave", password: "dave-pw" }, undefined, from("192.0.2.1"))).status).toBe(429);
    // The account is over its limit too: another address's failure is answered late and marked.
    const other = await half("192.0.2.2");
    const started = Date.now();
    await post(base, "/code", { code: code(key, time.now + 20 * STEP) }, other, from("192.0.2.2"));
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(logLines.at(-1)).toBe(`warn authentication failed for dave@${xmpp.domain} from 192.0.2.2: otp-invalid (web-otp) (the JID is over its failure limit)`);
    // dave, from his own address, with the right code: signed in at once, over-limit account or not.
    const owner = await half("198.51.100.7");
    const ok = await post(base, "/code", { code: code(key) }, owner, from("198.51.100.7"));
    expect(ok.headers.get("location")).toBe("/chat");
  });
});

describeWithOathtool("hostile or odd input on the code page, and credentials with a PIN", () => {
  test("PIN then code, as over XMPP: the page asks for both (hidden); the code alone or a wrong PIN is refused without using the code up", async () => {
    const key = randomBytes(20);
    await enrolOtpCredential(storage.otp, { jid: `erin@${xmpp.domain}`, secret: key, pin: "2468" });
    demo.users.push({ username: "erin", passwordHash: await hashPassword("erin-pw") });
    const pinBase = await startDemo(); // the users list is read at creation
    time.now += STEP;
    const { location, cookies: c } = await password(pinBase, "erin");
    expect(location).toBe("/code");
    const half = `xtoken_demo_2fa=${c.xtoken_demo_2fa}`;
    const page = await (await get(pinBase, "/code", half)).text();
    expect(page).toContain("Your credential has a PIN: type the PIN, then the code");
    expect(page).toMatch(/<input id="code" name="code" type="password" autocomplete="off"/);
    const now = code(key);
    expect((await post(pinBase, "/code", { code: now }, half)).headers.get("location")).toBe("/code?failed=1");
    expect((await post(pinBase, "/code", { code: `2469${now}` }, half)).headers.get("location")).toBe("/code?failed=1");
    expect((await post(pinBase, "/code", { code: `2468${now}` }, half)).headers.get("location")).toBe("/chat");
    expect(logLines.join("\n")).not.toContain("2468");
  });

  test("races: one code sent by two sign-ins at once signs in one of them; two confirmations of one set-up store one credential", async () => {
    demo.users.push({ username: "ivan", passwordHash: await hashPassword("ivan-pw") });
    const racing = await startDemo({ maxSignInAttemptsPerMinute: 1000 });
    const { cookies: c } = await password(racing, "ivan");
    const session = `xtoken_demo=${c.xtoken_demo}`;
    const page = await (await post(racing, "/two-factor/start", {}, session)).text();
    const uri = /<code class="uri" id="uri">([^<]+)<\/code>/.exec(page)![1]!.replace(/&#38;/g, "&");
    const key = base32Decode(new URL(uri).searchParams.get("secret")!);
    const confirmations = await Promise.all([0, 1, 2].map(() => post(racing, "/two-factor/confirm", { code: code(key) }, session)));
    const texts = await Promise.all(confirmations.map((r) => r.text()));
    expect(texts.filter((t) => t.includes("Two-factor sign-in is on"))).toHaveLength(1);
    expect(storage.otp.forAccount(`ivan@${xmpp.domain}`)).toHaveLength(1);

    time.now += STEP;
    // Three: a user's fourth sign-in waiting for its code would end the oldest (maxSessionsPerUser 3).
    const halves = await Promise.all([0, 1, 2].map(async () => `xtoken_demo_2fa=${(await password(racing, "ivan")).cookies.xtoken_demo_2fa}`));
    const next = code(key);
    const answers = await Promise.all(halves.map((half) => post(racing, "/code", { code: next }, half)));
    expect(answers.map((r) => r.headers.get("location")).sort()).toEqual(["/chat", "/code?failed=1", "/code?failed=1"]);
  });

  test("odd codes are refused as wrong codes, never thrown: other digits, signs, too long, a huge form", async () => {
    const base = await startDemo({ maxSignInAttemptsPerMinute: 1000 });
    const key = await enrol(base, "frank");
    time.now += STEP;
    const right = code(key);
    const odd = [
      "",
      " ",
      right.replace(/./g, (d) => String.fromCharCode(0x0660 + Number(d))), // Arabic-Indic digits
      right.replace(/./g, (d) => String.fromCharCode(0xff10 + Number(d))), // full-width digits
      `+${right.slice(1)}`,
      `${right}0`,
      `0${right}`,
      `${right}\u0000`,
      "9".repeat(79),
      `${right.slice(0, 3)}\t${right.slice(3)}`,
    ];
    for (const attempt of odd) {
      const { cookies: c } = await password(base, "frank");
      const res = await post(base, "/code", { code: attempt }, `xtoken_demo_2fa=${c.xtoken_demo_2fa}`);
      expect(res.headers.get("location")).toBe("/code?failed=1");
    }
    const { cookies: c } = await password(base, "frank");
    const half = `xtoken_demo_2fa=${c.xtoken_demo_2fa}`;
    expect((await post(base, "/code", { code: "1".repeat(5000) }, half)).status).toBe(413);
    // None of that used the code up.
    expect((await post(base, "/code", { code: right }, half)).headers.get("location")).toBe("/chat");
  });
});

describeWithOathtool("the inactivity timeout from the configuration", () => {
  test("demo.sessionIdleSeconds: parsed and bounded; the demo ends a session unused that long, and renews one in use", async () => {
    const passwordHash = await hashPassword("x");
    const file = (demoSection: Record<string, unknown>) => ({
      domains: { "example.test": { keys: [{ tokenSecret: "idle-config-test-secret-long-enough", otpSeed: "XVGR73KMZH2M4XMY" }] } },
      listeners: { c2sPort: null },
      demo: { domain: "example.test", sessionSecret: randomBytes(32).toString("hex"), users: [{ username: "alice", passwordHash }], ...demoSection },
    });
    expect(parseConfig(file({ sessionIdleSeconds: 600 })).demo?.sessionIdleSeconds).toBe(600);
    expect(parseConfig(file({})).demo?.sessionIdleSeconds).toBeUndefined();
    for (const bad of [59, 604801, "600", 1.5]) expect(() => parseConfig(file({ sessionIdleSeconds: bad }))).toThrow(/^config: demo\.sessionIdleSeconds must be an integer from 60 to 604800/);

    demo.users.push({ username: "henry", passwordHash: await hashPassword("henry-pw") });
    const base = await startDemo({ demo: { ...demo, sessionIdleSeconds: 600 } });
    const { location, cookies: c } = await password(base, "henry");
    expect(location).toBe("/chat");
    const session = `xtoken_demo=${c.xtoken_demo}`;
    time.now += 400;
    expect((await get(base, "/api/token", session)).status).toBe(200); // renewed: 200 s were left
    time.now += 599;
    expect((await get(base, "/api/token", session)).status).toBe(200);
    time.now += 600;
    expect((await get(base, "/api/token", session)).status).toBe(401);
    expect((await get(base, "/chat", session)).headers.get("location")).toBe("/");
  });
});

describe("enrolment as library calls", () => {
  test("startOtpEnrolment stores nothing; confirmOtpEnrolment stores on a code of it (HOTP: within maxOffset, the counter past it), null otherwise, and refuses a name taken meanwhile", async () => {
    const { MemoryOtpCredentials, OtpRecordsError } = await import("../src/core/records/otp.js");
    const { startOtpEnrolment, confirmOtpEnrolment } = await import("../src/auth/otp/manage.js");
    const credentials = new MemoryOtpCredentials();
    const secret = Buffer.from("12345678901234567890");
    const pending = await startOtpEnrolment(credentials, { jid: "Grace@Example.Test", kind: "hotp", secret, name: "token" });
    expect(credentials.all()).toEqual([]);
    expect(pending.uri).toBe("otpauth://hotp/example.test:grace@example.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=example.test&algorithm=SHA1&digits=6&counter=0");
    // RFC 4226 vectors: counter 0 755224, 2 359152, 6 287922.
    expect(confirmOtpEnrolment(credentials, pending, "287922", { maxOffset: 4 })).toBeNull();
    expect(confirmOtpEnrolment(credentials, pending, "12345", { maxOffset: 4 })).toBeNull();
    expect(confirmOtpEnrolment(credentials, pending, "359152", { maxOffset: 4 })).toMatchObject({ jid: "grace@example.test", name: "token", kind: "hotp", counter: 3 });
    expect(() => confirmOtpEnrolment(credentials, pending, "359152", { maxOffset: 4 })).toThrow(OtpRecordsError);
    expect(credentials.all()).toHaveLength(1);
  });
});

describe("sessions end after inactivity", () => {
  test("idleSeconds: a session unused that long ends; one in use is renewed only past half of it, in the records too, never past its lifetime", () => {
    const t = { now: 1_000_000 };
    const storage = openSqliteStorage({ dir: tempDir("x-token-idle-") });
    try {
      const records = storage.webSessions!;
      const renewals: number[] = [];
      const counted = { ...records, all: () => records.all(), add: (r: Parameters<typeof records.add>[0]) => records.add(r), remove: (id: string) => records.remove(id), removeExpired: (n: number) => records.removeExpired(n), renew: (id: string, at: number) => (renewals.push(at), records.renew!(id, at)) };
      const store = new SessionStore({ secret: SESSION_SECRET, lifetimeSeconds: 3000, idleSeconds: 1000, records: counted, now: () => t.now });
      const cookie = store.create("alice").split(";")[0]!;
      const req = { headers: { cookie } } as http.IncomingMessage;
      expect(records.all()[0]!.expiresAt).toBe(1_001_000);
      t.now += 400; // 600 s left: more than half, no renewal
      expect(store.user(req)).toBe("alice");
      expect(renewals).toEqual([]);
      t.now += 200; // 400 s left: renewed to now + 1000, stored
      expect(store.user(req)).toBe("alice");
      expect(renewals).toEqual([1_001_600]);
      expect(records.all()[0]!.expiresAt).toBe(1_001_600);
      expect(store.user(req)).toBe("alice");
      expect(renewals).toHaveLength(1); // one write per half-timeout, not per request
      // A new store over the records (a restart) knows the renewed end.
      t.now += 900;
      const restarted = new SessionStore({ secret: SESSION_SECRET, lifetimeSeconds: 3000, idleSeconds: 1000, records, now: () => t.now });
      expect(restarted.user(req)).toBe("alice");
      // Kept in use, it still ends at its creation plus the lifetime.
      for (let at = t.now; at < 1_003_000; at += 300) {
        t.now = at;
        expect(store.user(req)).toBe("alice");
      }
      t.now = 1_003_000;
      expect(store.user(req)).toBeNull();
      // Unused for the timeout: ended.
      t.now = 2_000_000;
      const other = { headers: { cookie: store.create("bob").split(";")[0]! } } as http.IncomingMessage;
      t.now += 999;
      expect(store.user(other)).toBe("bob");
      t.now += 1000;
      expect(store.user(other)).toBeNull();
    } finally {
      storage.close();
    }
  });
});

describeWithOathtool("x-token serve wires it", () => {
  test("the compiled serve: a credential added by x-token otp makes the demo ask for the code; the code is used once across the web and XMPP; the wrong code is in serve's log", async () => {
    const dir = tempDir("x-token-two-factor-serve-");
    const file = join(dir, "config.json");
    writeFileSync(
      file,
      JSON.stringify({
        domains: { "example.test": { keys: [{ tokenSecret: "two-factor-serve-test-secret-0123456789", otpSeed: "XVGR73KMZH2M4XMY" }] } },
        requireTls: false,
        allowPlainWithoutTls: true,
        otp: { issuer: "Serve Test" },
        demo: { domain: "example.test", sessionSecret: randomBytes(32).toString("hex"), users: [{ username: "alice", passwordHash: await hashPassword("alice-pw") }] },
      }),
    );
    const env = { XTOKEN_CONFIG: file, XTOKEN_DATA_DIR: join(dir, "data") };
    const added = await cli(["otp", "add", "--jid", "alice@example.test"], env);
    expect(added.code).toBe(0);
    const key = base32Decode(/secret=([A-Z2-7]+)/.exec(added.stdout)![1]!);
    const serve = await startServe(env);
    try {
      const base = `http://127.0.0.1:${serve.http}`;
      const signin = await post(base, "/signin", { username: "alice", password: "alice-pw" });
      expect(signin.headers.get("location")).toBe("/code");
      const half = `xtoken_demo_2fa=${cookies(signin).xtoken_demo_2fa}`;
      const wrong = oathTotp(key, Date.now() / 1000 + 3600);
      expect((await post(base, "/code", { code: wrong }, half)).headers.get("location")).toBe("/code?failed=1");
      const right = oathTotp(key, Date.now() / 1000);
      const ok = await post(base, "/code", { code: right }, half);
      expect(ok.headers.get("location")).toBe("/chat");
      expect((await get(base, "/api/token", `xtoken_demo=${cookies(ok).xtoken_demo}`)).status).toBe(200);
      expect(await plainOverTcp(serve.c2s, "alice", right)).toBe("not-authorized");
      await serve.stop();
      expect(serve.stderr()).toContain("authentication failed for alice@example.test from 127.0.0.1: otp-invalid (web-otp)");
      expect(serve.stderr()).toContain("authentication failed for alice@example.test from 127.0.0.1: otp-replayed");
      expect(serve.stderr() + serve.stdout()).not.toContain(wrong);
    } finally {
      await serve.stop();
    }
  }, 60_000);
});

/** PLAIN on a plain TCP stream (allowPlainWithoutTls), as a development client types a password. */
function plainOverTcp(port: number, localpart: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let received = "";
    let sent = false;
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`no answer: ${received}`))), 10_000);
    socket.on("error", reject);
    socket.on("connect", () => socket.write(streamHeader("example.test")));
    socket.on("data", (d) => {
      received += d.toString("utf8");
      if (!sent && received.includes("</stream:features>")) {
        sent = true;
        received = "";
        socket.write(saslAuth(localpart, password, "PLAIN"));
      } else if (sent && /<success|<\/failure>/.test(received)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received.includes("<success") ? "success" : (/<failure[^>]*><([a-z-]+)/.exec(received)?.[1] ?? received));
      }
    });
  });
}
