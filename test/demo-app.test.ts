/**
 * The demo web app over real HTTP (no browser): sign-in, the session cookie, CSRF, sign-out,
 * the token endpoint it mounts, headers and assets. The browser test drives the same app in Chromium.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDemoApp, DemoAppOptionsError, type DemoAppOptions } from "../src/web/demo/app.js";
import { hashPassword } from "../src/auth/password/scrypt-hash.js";
import { SessionStore } from "../src/web/demo/session.js";
import { checkToken } from "../src/core/token/verify.js";
import type { DemoConfig } from "../src/app/config/types.js";
import type { TokenKey } from "../src/core/token/keys.js";
import type { WebSessionRecord, WebSessionRecords } from "../src/core/records/web-sessions.js";

const KEYS: TokenKey[] = [{ tokenSecret: "demo-app-test-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
const SESSION_SECRET = "a-session-secret-for-the-demo-app-test-0123456789";
let demo: DemoConfig;
let assetsDir: string;
const servers: http.Server[] = [];

beforeAll(async () => {
  demo = {
    domain: "example.test",
    sessionSecret: SESSION_SECRET,
    users: [
      { username: "alice", passwordHash: await hashPassword("alice-pw") },
      { username: "bob", passwordHash: await hashPassword("bob-pw") },
    ],
  };
  assetsDir = mkdtempSync(join(tmpdir(), "x-token-assets-"));
  writeFileSync(join(assetsDir, "demo.js"), "console.log('bundle');");
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(assetsDir, { recursive: true, force: true });
});

async function start(options: Partial<DemoAppOptions> = {}): Promise<string> {
  const app = createDemoApp({ demo, keys: KEYS, assetsDir, ...options } as DemoAppOptions);
  const server = http.createServer(app.handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function post(base: string, path: string, form: Record<string, string>, headers: Record<string, string> = { origin: base }) {
  return fetch(`${base}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** Signs in and returns the cookie pair to send back (`name=value`). */
async function signIn(base: string, username = "alice", password = `${username}-pw`): Promise<string> {
  const res = await post(base, "/signin", { username, password });
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/chat");
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

const get = (base: string, path: string, cookie?: string) =>
  fetch(`${base}${path}`, { redirect: "manual", headers: cookie ? { cookie } : {} });

describe("demo app", () => {
  test("sign-in sets a signed HttpOnly SameSite=Strict cookie with an expiry; the endpoint then mints for that user", async () => {
    const base = await start();
    const res = await post(base, "/signin", { username: "alice", password: "alice-pw" });
    const setCookie = res.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/^xtoken_demo=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/);
    const cookie = setCookie.split(";")[0]!;
    const token = await get(base, "/api/token", cookie);
    expect(token.status).toBe(200);
    expect(token.headers.get("cache-control")).toBe("no-store");
    const body = (await token.json()) as { jid: string; token: string; password: string };
    expect(body.jid).toBe("alice@example.test");
    expect(checkToken(body.token, { jid: "alice@example.test", keys: KEYS }).ok).toBe(true);
    expect(checkToken(body.token, { jid: "bob@example.test", keys: KEYS }).ok).toBe(false);
    expect((await get(base, "/", cookie)).headers.get("location")).toBe("/chat");
  });

  test("wrong password, unknown user, or no form: no cookie, back to the sign-in page saying so", async () => {
    const base = await start();
    // The username typed comes back to the form (issue 22 item 16), never the password.
    const forms: [Record<string, string>, string][] = [
      [{ username: "alice", password: "bob-pw" }, "/?failed=1&user=alice"],
      [{ username: "mallory", password: "alice-pw" }, "/?failed=1&user=mallory"],
      [{ username: "<b>&\"x", password: "x" }, `/?failed=1&user=${encodeURIComponent('<b>&"x')}`],
      [{}, "/?failed=1"],
    ];
    for (const [form, location] of forms) {
      const res = await post(base, "/signin", form);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(location);
      expect(res.headers.get("location")).not.toContain("pw");
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    const page = await (await get(base, "/?failed=1&user=alice")).text();
    expect(page).toContain("Wrong username or password.");
    expect(page).toMatch(/<input id="username" [^>]*value="alice">/);
    expect(page).toMatch(/<input id="password" [^>]*autofocus>/);
    // Shown escaped, and only as a value.
    const hostile = await (await get(base, `/?failed=1&user=${encodeURIComponent('"><script>x</script>')}`)).text();
    expect(hostile).not.toContain("<script>x");
    expect(hostile).toContain('value="&#34;&#62;&#60;script&#62;x&#60;/script&#62;"');
    expect((await get(base, "/api/token")).status).toBe(401);
  });

  test("sign-ins are limited per client address -> 429, even with the right password next", async () => {
    const base = await start({ maxSignInAttemptsPerMinute: 2 });
    await post(base, "/signin", { username: "alice", password: "x" });
    await post(base, "/signin", { username: "alice", password: "y" });
    const limited = await post(base, "/signin", { username: "alice", password: "alice-pw" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(limited.headers.get("set-cookie")).toBeNull();
  });

  test("40 concurrent wrong passwords against a limit of 10: exactly 10 reach the password hash", async () => {
    const base = await start({ maxSignInAttemptsPerMinute: 10 });
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => post(base, "/signin", { username: "alice", password: `wrong-${i}` })));
    const statuses = answers.map((res) => res.status);
    // 303 "/?failed=1" is the answer after a scrypt; 429 comes before the form is even read.
    expect(statuses.filter((status) => status === 303)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(30);
  });

  test("successful sign-ins count too: they cannot be repeated without limit", async () => {
    const base = await start({ maxSignInAttemptsPerMinute: 3 });
    for (let i = 0; i < 3; i++) await signIn(base);
    expect((await post(base, "/signin", { username: "alice", password: "alice-pw" })).status).toBe(429);
  });

  test("behind a trusted proxy the limit keys on the forwarded client address", async () => {
    const base = await start({ maxSignInAttemptsPerMinute: 2, trustedProxies: ["127.0.0.1"] });
    const from = (address: string) => ({ origin: base, "x-forwarded-for": address });
    await post(base, "/signin", { username: "alice", password: "x" }, from("192.0.2.1"));
    await post(base, "/signin", { username: "alice", password: "y" }, from("192.0.2.1"));
    expect((await post(base, "/signin", { username: "alice", password: "alice-pw" }, from("192.0.2.1"))).status).toBe(429);
    // Another client behind the same proxy is not locked out by the first one's failures.
    expect((await post(base, "/signin", { username: "bob", password: "bob-pw" }, from("192.0.2.2"))).status).toBe(303);
  });

  test("X-Forwarded-For from a peer that is not a trusted proxy is ignored: it cannot reset the limit", async () => {
    const base = await start({ maxSignInAttemptsPerMinute: 2 });
    for (const address of ["192.0.2.1", "192.0.2.2"]) {
      await post(base, "/signin", { username: "alice", password: "x" }, { origin: base, "x-forwarded-for": address });
    }
    const fresh = await post(base, "/signin", { username: "alice", password: "alice-pw" }, { origin: base, "x-forwarded-for": "192.0.2.3" });
    expect(fresh.status).toBe(429);
  });

  test("a user's repeated sign-ins end only that user's oldest sessions, never another user's", async () => {
    const base = await start({ maxSignInAttemptsPerMinute: 100, maxSessionsPerUser: 3 });
    const bob = await signIn(base, "bob");
    const alice = [];
    for (let i = 0; i < 5; i++) alice.push(await signIn(base, "alice"));
    expect((await get(base, "/api/token", bob)).status).toBe(200);
    expect((await get(base, "/api/token", alice[0])).status).toBe(401);
    expect((await get(base, "/api/token", alice[1])).status).toBe(401);
    expect((await get(base, "/api/token", alice[4])).status).toBe(200);
  });

  test("CSRF: sign-in and sign-out posts without our Origin are refused", async () => {
    const base = await start();
    const cookie = await signIn(base);
    const foreign: Record<string, string>[] = [{}, { origin: "http://evil.example" }, { origin: "null" }];
    for (const headers of foreign) {
      expect((await post(base, "/signin", { username: "alice", password: "alice-pw" }, headers)).status).toBe(403);
      const signout = await post(base, "/signout", {}, { ...headers, cookie });
      expect(signout.status).toBe(403);
      expect(signout.headers.get("set-cookie")).toBeNull();
    }
    // The session survived the forged sign-outs.
    expect((await get(base, "/api/token", cookie)).status).toBe(200);
  });

  test("sign-out clears the cookie and ends the session server-side: the old cookie no longer works", async () => {
    const base = await start();
    const cookie = await signIn(base);
    const res = await post(base, "/signout", {}, { origin: base, cookie });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/^xtoken_demo=; .*Max-Age=0$/);
    // The sign-in page then confirms it (issue 22 item 16).
    expect(res.headers.get("location")).toBe("/?signed-out=1");
    expect(await (await get(base, "/?signed-out=1")).text()).toContain('<p class="notice" role="status">You are signed out.');
    expect((await get(base, "/api/token", cookie)).status).toBe(401);
    expect((await get(base, "/chat", cookie)).headers.get("location")).toBe("/");
  });

  test("a forged or altered cookie is refused", async () => {
    const base = await start();
    const cookie = await signIn(base);
    const [name, value] = cookie.split("=") as [string, string];
    const [id, signature] = value.split(".") as [string, string];
    const flipped = signature.slice(0, -2) + (signature.at(-2) === "A" ? "B" : "A") + signature.at(-1);
    for (const forged of [`${name}=${id}.${flipped}`, `${name}=${id}`, `${name}=${id}.`, `${name}=x${id}.${signature}`, `${name}=.${signature}`]) {
      expect((await get(base, "/api/token", forged)).status).toBe(401);
    }
    // Signed with another secret: also refused.
    const otherBase = await start({ demo: { ...demo, sessionSecret: `${SESSION_SECRET}-other` } });
    const otherCookie = await signIn(otherBase);
    expect((await get(base, "/api/token", otherCookie)).status).toBe(401);
  });

  test("sessions expire", async () => {
    let now = 1_700_000_000;
    const base = await start({ now: () => now, sessionSeconds: 600 });
    const cookie = await signIn(base);
    now += 599;
    expect((await get(base, "/api/token", cookie)).status).toBe(200);
    now += 2;
    expect((await get(base, "/api/token", cookie)).status).toBe(401);
  });

  test("secureCookie: a __Host- cookie marked Secure", async () => {
    const base = await start({ secureCookie: true });
    const res = await post(base, "/signin", { username: "bob", password: "bob-pw" });
    expect(res.headers.get("set-cookie")).toMatch(/^__Host-xtoken_demo=[^;]+; HttpOnly; SameSite=Strict; Path=\/; Secure; Max-Age=\d+$/);
  });

  test("pages: strict CSP, no inline script or style, the user's JID and the WebSocket endpoint for the script", async () => {
    const base = await start({ websocketUrl: "wss://xmpp.example.test/xmpp-websocket" });
    const cookie = await signIn(base, "bob");
    const res = await get(base, "/chat", cookie);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+ wss:\/\/xmpp\.example\.test;/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const page = await res.text();
    expect(page).toContain('data-jid="bob@example.test"');
    expect(page).toContain('data-websocket="wss://xmpp.example.test/xmpp-websocket"');
    for (const script of page.match(/<script[^>]*>/g) ?? []) expect(script).toMatch(/ src="\/assets\/[a-z-]+\.js"/);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
  });

  test("assets: only the bundle's own files, with their types; no paths outside", async () => {
    const base = await start();
    const js = await get(base, "/assets/demo.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await js.text()).toBe("console.log('bundle');");
    expect((await get(base, "/assets/demo.css")).status).toBe(404); // listed, but not in this assetsDir
    for (const path of ["/assets/../package.json", "/assets/%2e%2e%2fpackage.json", "/assets/constructor", "/assets/"]) {
      expect((await get(base, path)).status).toBe(404);
    }
  });

  test("other methods and paths; oversize forms -> 413; unsigned pages redirect to sign-in", async () => {
    const base = await start();
    expect((await fetch(`${base}/chat`, { method: "DELETE" })).status).toBe(405);
    expect((await get(base, "/nope")).status).toBe(404);
    expect((await get(base, "/chat")).headers.get("location")).toBe("/");
    expect((await get(base, "/strophe")).headers.get("location")).toBe("/");
    expect((await post(base, "/signin", { username: "alice", password: "x".repeat(5000) })).status).toBe(413);
  });

  test("the token endpoint's own rules apply: 405, per-user rate limit", async () => {
    const base = await start({ tokenRateLimit: { max: 1, perSeconds: 60 } });
    const cookie = await signIn(base);
    expect((await fetch(`${base}/api/token`, { method: "PUT", headers: { cookie } })).status).toBe(405);
    expect((await get(base, "/api/token", cookie)).status).toBe(200);
    expect((await get(base, "/api/token", cookie)).status).toBe(429);
  });

  test("bad options are refused when the app is made", () => {
    expect(() => createDemoApp({ demo, websocketPath: "/ws" } as DemoAppOptions)).toThrow(DemoAppOptionsError);
    expect(() => createDemoApp({ demo: { ...demo, users: [] }, keys: KEYS })).toThrow(/at least one user/);
    expect(() => createDemoApp({ demo, keys: KEYS, websocketUrl: "http://x/ws" })).toThrow(/websocketUrl/);
    expect(() => createDemoApp({ demo: { ...demo, sessionSecret: "short" }, keys: KEYS })).toThrow(/at least 32 characters/);
  });
});

describe("demo sessions", () => {
  test("when the store is full, a user's new session ends their own oldest, not other users'", () => {
    let now = 1_700_000_000;
    const store = new SessionStore({ secret: SESSION_SECRET, maxSessions: 4, maxSessionsPerUser: 2, now: () => now });
    const request = (setCookie: string) => ({ headers: { cookie: setCookie.split(";")[0] } }) as never;
    const bob = store.create("bob");
    const carol = store.create("carol");
    const alice = Array.from({ length: 20 }, () => (now++, store.create("alice")));
    expect(store.user(request(bob))).toBe("bob");
    expect(store.user(request(carol))).toBe("carol");
    expect(alice.map((cookie) => store.user(request(cookie)))).toEqual([...Array(18).fill(null), "alice", "alice"]);
    expect(store.size).toBe(4);
    expect(() => new SessionStore({ secret: SESSION_SECRET, maxSessionsPerUser: 0 })).toThrow(RangeError);
  });
});

describe("demo app with sessionRecords", () => {
  /** Records in memory that can be made to fail, as a full or read-only database would. */
  function records() {
    const rows: WebSessionRecord[] = [];
    const state = { failing: false };
    const fail = (what: string) => {
      if (state.failing) throw new Error(`${what}: database or disk is full`);
    };
    const store: WebSessionRecords = {
      all: () => [...rows],
      add: (record) => (fail("add"), void rows.push(record)),
      remove: (idHash) => {
        fail("remove");
        const at = rows.findIndex((r) => r.idHash === idHash);
        if (at >= 0) rows.splice(at, 1);
      },
      removeExpired: (now) => {
        for (let i = rows.length - 1; i >= 0; i--) if (rows[i]!.expiresAt <= now) rows.splice(i, 1);
      },
    };
    return { rows, state, store };
  }

  test("a sign-in kept in the records works in a new app over them (a restart); sign-out removes it", async () => {
    const kept = records();
    const cookie = await signIn(await start({ sessionRecords: kept.store }));
    expect(kept.rows).toHaveLength(1);
    expect(kept.rows[0]!.username).toBe("alice");
    expect(JSON.stringify(kept.rows)).not.toContain(cookie.split("=")[1]!.split(".")[0]!);
    const restarted = await start({ sessionRecords: kept.store });
    expect((await get(restarted, "/api/token", cookie)).status).toBe(200);
    expect((await post(restarted, "/signout", {}, { origin: restarted, cookie })).status).toBe(303);
    expect(kept.rows).toEqual([]);
    expect((await get(await start({ sessionRecords: kept.store }), "/api/token", cookie)).status).toBe(401);
  });

  test("records that fail: sign-in answers 503 with a page saying so and no cookie; sign-out answers 503 and the session stays", async () => {
    const kept = records();
    const warnings: string[] = [];
    const base = await start({ sessionRecords: kept.store, log: { warn: (line) => warnings.push(line) } });
    const cookie = await signIn(base);
    kept.state.failing = true;

    const refused = await post(base, "/signin", { username: "bob", password: "bob-pw" });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("set-cookie")).toBeNull();
    expect(refused.headers.get("retry-after")).toBe("30");
    expect(refused.headers.get("content-security-policy")).toContain("default-src 'none'");
    const page = await refused.text();
    expect(page).toContain("Sign-in failed");
    expect(page).toContain("could not save your sign-in");
    expect(page).not.toContain("disk is full"); // the reason goes to the log, not to the browser
    expect(warnings).toEqual(["demo: sign-in of bob refused: the sign-in could not be stored: add: database or disk is full"]);

    const signOut = await post(base, "/signout", {}, { origin: base, cookie });
    expect(signOut.status).toBe(503);
    expect(signOut.headers.get("set-cookie")).toBeNull();
    expect(await signOut.text()).toContain("You are still signed in");
    expect((await get(base, "/api/token", cookie)).status).toBe(200);

    kept.state.failing = false;
    expect((await post(base, "/signout", {}, { origin: base, cookie })).status).toBe(303);
    expect((await get(base, "/api/token", cookie)).status).toBe(401);
    expect(kept.rows).toEqual([]);
  });
});
