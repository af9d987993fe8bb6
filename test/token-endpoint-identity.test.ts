/**
 * The token endpoint mints for the signed-in user and nobody else (issue 23): whatever the
 * request names — a `?jid=` query, a `jid` in a form or JSON body, a header — the answer is the
 * session's user's token, and that token fails for the user the request named. Both the endpoint
 * a backend mounts (src/web/endpoint) and the demo app's /api/token (its cookie session).
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import { checkToken, type TokenKey } from "../src/index.js";
import { createTokenEndpoint, type MintFunction } from "../src/web/index.js";
import { createDemoApp, type DemoAppOptions } from "../src/web/demo/app.js";
import { hashPassword } from "../src/auth/password/scrypt-hash.js";
import { closeHttpServers, serveHttp } from "./helpers/http-server.js";

const KEYS: TokenKey[] = [{ tokenSecret: "identity-test-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
const ALICE = "alice@example.test";
const BOB = "bob@example.test";

afterAll(closeHttpServers);

/** Every way a request could name another user: the answer must ignore all of them. */
function attempts(path: string, auth: Record<string, string>): { what: string; url: string; init: RequestInit }[] {
  const other = { jid: BOB, username: "bob", user: "bob", to: BOB };
  return [
    { what: "query jid", url: `${path}?jid=${encodeURIComponent(BOB)}`, init: { headers: auth } },
    { what: "query username and user", url: `${path}?username=bob&user=bob&jid=bob`, init: { headers: auth } },
    {
      what: "form body",
      url: path,
      init: { method: "POST", headers: { ...auth, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(other).toString() },
    },
    { what: "JSON body", url: path, init: { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(other) } },
    {
      what: "headers",
      url: path,
      init: { headers: { ...auth, "x-jid": BOB, "x-xmpp-jid": BOB, "x-user": BOB, jid: BOB, "x-forwarded-user": BOB, "x-remote-user": BOB } },
    },
    {
      what: "everything at once",
      url: `${path}?jid=${encodeURIComponent(BOB)}`,
      init: { method: "POST", headers: { ...auth, "x-jid": BOB, "content-type": "application/json" }, body: JSON.stringify(other) },
    },
  ];
}

/** The answer is alice's token: for alice it verifies, for bob it does not. */
async function expectAlicesToken(res: Response, what: string): Promise<void> {
  expect({ what, status: res.status }).toEqual({ what, status: 200 });
  const body = (await res.json()) as { jid: string; token: string; password: string };
  expect({ what, jid: body.jid }).toEqual({ what, jid: ALICE });
  expect(body.password).toBe(body.token);
  expect({ what, forBob: checkToken(body.token, { jid: BOB, keys: KEYS }).ok }).toEqual({ what, forBob: false });
  expect({ what, forAlice: checkToken(body.token, { jid: ALICE, keys: KEYS }).ok }).toEqual({ what, forAlice: true });
}

describe("the endpoint a backend mounts", () => {
  const signedIn = (req: http.IncomingMessage) => (req.headers["x-session-user"] === "alice" ? ALICE : null);
  const AUTH = { "x-session-user": "alice" };

  test("keys: a request naming bob gets alice's token", async () => {
    const base = await serveHttp(createTokenEndpoint({ authenticate: signedIn, keys: KEYS, rateLimit: { max: 1000, perSeconds: 60 } }));
    for (const { what, url, init } of attempts("/token", AUTH)) await expectAlicesToken(await fetch(`${base}${url}`, init), what);
  });

  test("a mint function is asked for alice only", async () => {
    const asked: string[] = [];
    const mint: MintFunction = (jid) => (asked.push(jid), `token-for-${jid}`);
    const base = await serveHttp(createTokenEndpoint({ authenticate: signedIn, mint, rateLimit: { max: 1000, perSeconds: 60 } }));
    const cases = attempts("/token", AUTH);
    for (const { what, url, init } of cases) {
      const res = await fetch(`${base}${url}`, init);
      expect({ what, status: res.status }).toEqual({ what, status: 200 });
      expect(await res.json()).toEqual({ jid: ALICE, password: `token-for-${ALICE}`, token: `token-for-${ALICE}` });
    }
    expect(asked).toEqual(cases.map(() => ALICE));
  });

  test("nobody signed in: naming a user gets no token", async () => {
    const base = await serveHttp(createTokenEndpoint({ authenticate: signedIn, keys: KEYS }));
    for (const { what, url, init } of attempts("/token", {})) {
      const res = await fetch(`${base}${url}`, init);
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      expect(await res.json()).toEqual({ error: "not-signed-in" });
    }
  });

  test("the per-user limit counts alice's tokens whoever the request names", async () => {
    const base = await serveHttp(createTokenEndpoint({ authenticate: signedIn, keys: KEYS, rateLimit: { max: 1, perSeconds: 60 } }));
    await expectAlicesToken(await fetch(`${base}/token`, { headers: AUTH }), "first");
    const named = await fetch(`${base}/token?jid=${encodeURIComponent(BOB)}`, { headers: { ...AUTH, "x-jid": BOB } });
    expect(named.status).toBe(429);
  });
});

describe("the demo app's /api/token", () => {
  let base: string;
  let cookie: string;

  beforeAll(async () => {
    const demo = {
      domain: "example.test",
      sessionSecret: "a-session-secret-for-the-identity-test-0123456789",
      users: [
        { username: "alice", passwordHash: await hashPassword("alice-pw") },
        { username: "bob", passwordHash: await hashPassword("bob-pw") },
      ],
    };
    const app = createDemoApp({ demo, keys: KEYS, tokenRateLimit: { max: 1000, perSeconds: 60 } } as DemoAppOptions);
    base = await serveHttp(app.handler);
    const res = await fetch(`${base}/signin`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
      body: new URLSearchParams({ username: "alice", password: "alice-pw" }).toString(),
    });
    expect(res.status).toBe(303);
    cookie = res.headers.get("set-cookie")!.split(";")[0]!;
  });

  test("signed in as alice, a request naming bob gets alice's token", async () => {
    for (const { what, url, init } of attempts("/api/token", { cookie })) await expectAlicesToken(await fetch(`${base}${url}`, init), what);
  });

  test("without the cookie, naming alice or bob gets nothing", async () => {
    for (const { what, url, init } of attempts("/api/token", {})) {
      expect({ what, status: (await fetch(`${base}${url}`, init)).status }).toEqual({ what, status: 401 });
    }
    const res = await fetch(`${base}/api/token?jid=${encodeURIComponent(ALICE)}&username=alice`);
    expect(res.status).toBe(401);
  });
});
