import { afterEach, describe, expect, test } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { checkToken, mintToken, type TokenKey } from "../src/index.js";
import { createTokenEndpoint, TokenEndpointOptionsError } from "../src/web/index.js";

const KEYS: TokenKey[] = [{ tokenSecret: "endpoint-test-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
/** The "app's session": a header stands in for a cookie here; the demo uses a real signed cookie. */
const whoIsSignedIn = (req: http.IncomingMessage) => (req.headers["x-test-user"] as string | undefined) ?? null;

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function nodeServer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function expectTokenFor(base: string, path: string, user: string): Promise<void> {
  const res = await fetch(`${base}${path}`, { headers: { "x-test-user": user } });
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { jid: string; password: string; token: string; expiresAt: number };
  expect(body.jid).toBe(user.toLowerCase());
  expect(body.password).toBe(body.token);
  expect(checkToken(body.token, { jid: body.jid, keys: KEYS }).ok).toBe(true);
}

describe("token endpoint", () => {
  test("plain node:http", async () => {
    const endpoint = createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS });
    const base = await nodeServer((req, res) => (req.url === "/xmpp-token" ? endpoint(req, res) : res.writeHead(404).end()));
    await expectTokenFor(base, "/xmpp-token", "Alice@example.com");
  });

  test("Express", async () => {
    const app = express();
    const endpoint = createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS });
    app.all("/xmpp-token", (req, res) => endpoint(req, res));
    const base = await nodeServer(app);
    await expectTokenFor(base, "/xmpp-token", "bob@example.com");
  });

  test("Fastify", async () => {
    const app = Fastify();
    const endpoint = createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS });
    app.all("/xmpp-token", (request, reply) => {
      reply.hijack();
      endpoint(request.raw, reply.raw);
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    closers.push(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    await expectTokenFor(base, "/xmpp-token", "carol@example.com");
  });

  test("nonceDigits: tokens minted from keys have the server's nonce length (and their expiry)", async () => {
    const base = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, nonceDigits: 20 }));
    const body = (await (await fetch(base, { headers: { "x-test-user": "alice@example.com" } })).json()) as { token: string; expiresAt?: number };
    expect(body.token).toMatch(/^\d{28} /);
    expect(body.expiresAt).toEqual(expect.any(Number));
    expect(checkToken(body.token, { jid: "alice@example.com", keys: KEYS, nonceDigits: 20 }).ok).toBe(true);
    expect(() => createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, nonceDigits: 8 })).toThrow(TokenEndpointOptionsError);
    // The window is checked at creation too, by the core's one rule.
    expect(() => createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, window: 11 })).toThrow(new TokenEndpointOptionsError("window must be an integer from 0 to 10"));
  });

  test("nobody signed in -> 401; other methods -> 405 with Allow", async () => {
    const base = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS }));
    const anonymous = await fetch(base);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("cache-control")).toBe("no-store");
    const put = await fetch(base, { method: "PUT", headers: { "x-test-user": "alice@example.com" } });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST");
  });

  test("per-user rate limit -> 429 with Retry-After, other users unaffected", async () => {
    const base = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, rateLimit: { max: 2, perSeconds: 60 } }));
    const as = (user: string) => fetch(base, { headers: { "x-test-user": user } });
    expect((await as("alice@example.com")).status).toBe(200);
    expect((await as("alice@example.com")).status).toBe(200);
    const third = await as("alice@example.com");
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("60");
    expect((await as("bob@example.com")).status).toBe(200);
  });

  test("CORS: only listed origins, preflight answered, credentials only when configured", async () => {
    const base = await nodeServer(
      createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, cors: { origins: ["https://app.example.com"], credentials: true } }),
    );
    const allowed = await fetch(base, { headers: { origin: "https://app.example.com", "x-test-user": "alice@example.com" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    expect(allowed.headers.get("vary")).toBe("Origin");
    const other = await fetch(base, { headers: { origin: "https://evil.example", "x-test-user": "alice@example.com" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(base, { method: "OPTIONS", headers: { origin: "https://app.example.com" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET, POST");
  });

  test("a failing authenticate callback -> 500 without details", async () => {
    const base = await nodeServer(
      createTokenEndpoint({
        authenticate: () => {
          throw new Error("database password is hunter2");
        },
        keys: KEYS,
      }),
    );
    const res = await fetch(base);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"error":"internal-error"}');
  });
  test("POST works too; an async authenticate; expiresAt is when the server stops accepting the token", async () => {
    const at = 1_700_000_000;
    const base = await nodeServer(
      createTokenEndpoint({ authenticate: async (req) => whoIsSignedIn(req), keys: KEYS, now: () => at }),
    );
    const res = await fetch(base, { method: "POST", headers: { "x-test-user": "Alice@Example.com" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { jid: string; token: string; expiresAt: number };
    expect(body.jid).toBe("alice@example.com");
    const checked = checkToken(body.token, { jid: "alice@example.com", keys: KEYS, now: at });
    expect(checked.ok && checked.expiresAt).toBe(body.expiresAt);
    expect(body.expiresAt).toBeGreaterThan(at);
    expect(checkToken(body.token, { jid: "alice@example.com", keys: KEYS, now: body.expiresAt + 1 }).ok).toBe(false);
  });

  test("a single key, or a mint function of the app's own", async () => {
    const single = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, key: KEYS[0]! }));
    const fromKey = (await (await fetch(single, { headers: { "x-test-user": "dora@example.com" } })).json()) as { token: string };
    expect(checkToken(fromKey.token, { jid: "dora@example.com", keys: KEYS }).ok).toBe(true);

    const asked: [string, number][] = [];
    const custom = await nodeServer(
      createTokenEndpoint({
        authenticate: whoIsSignedIn,
        mint: async (jid, now) => {
          asked.push([jid, now]);
          return mintToken({ jid, key: KEYS, now });
        },
        now: () => 1_700_000_000,
      }),
    );
    const res = await fetch(custom, { headers: { "x-test-user": "Erin@Example.com" } });
    const body = (await res.json()) as { jid: string; token: string; password: string; expiresAt?: number };
    expect(asked).toEqual([["erin@example.com", 1_700_000_000]]);
    expect(body.password).toBe(body.token);
    expect(body.expiresAt).toBeUndefined();
    expect(checkToken(body.token, { jid: "erin@example.com", keys: KEYS, now: 1_700_000_000 }).ok).toBe(true);
  });

  test("a failing mint function or an authenticate answer that is not a JID -> 500 without details", async () => {
    const failingMint = await nodeServer(
      createTokenEndpoint({
        authenticate: whoIsSignedIn,
        mint: () => {
          throw new Error("signer secret is s3cret");
        },
      }),
    );
    const res = await fetch(failingMint, { headers: { "x-test-user": "alice@example.com" } });
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"error":"internal-error"}');

    const noToken = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, mint: () => undefined as unknown as string }));
    expect((await fetch(noToken, { headers: { "x-test-user": "alice@example.com" } })).status).toBe(500);

    const notAJid = await nodeServer(createTokenEndpoint({ authenticate: () => "no spaces allowed@example.com", keys: KEYS }));
    const bad = await fetch(notAJid);
    expect(bad.status).toBe(500);
    expect(await bad.text()).toBe('{"error":"internal-error"}');
  });

  test("bad options are refused when the endpoint is made", () => {
    const authenticate = whoIsSignedIn;
    expect(() => createTokenEndpoint({ authenticate } as never)).toThrow(TokenEndpointOptionsError);
    expect(() => createTokenEndpoint({ authenticate, keys: KEYS, mint: () => "x" } as never)).toThrow(/exactly one of key, keys or mint/);
    expect(() => createTokenEndpoint({ authenticate, keys: KEYS, rateLimit: { max: 0, perSeconds: 60 } })).toThrow(/rateLimit/);
    expect(() => createTokenEndpoint({ authenticate, keys: KEYS, cors: { origins: ["https://app.example.com/"] } })).toThrow(/cors origin/);
    expect(() => createTokenEndpoint({ authenticate, keys: KEYS, cors: { origins: ["*"] } })).toThrow(/cors origin/);
  });

  test("the rate limit window moves with the clock; memory is bounded by maxUsers", async () => {
    let now = 1_700_000_000;
    const base = await nodeServer(
      createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, rateLimit: { max: 1, perSeconds: 60, maxUsers: 2 }, now: () => now }),
    );
    const as = async (user: string) => (await fetch(base, { headers: { "x-test-user": user } })).status;
    expect(await as("alice@example.com")).toBe(200);
    expect(await as("alice@example.com")).toBe(429);
    now += 61;
    expect(await as("alice@example.com")).toBe(200);
    expect(await as("alice@example.com")).toBe(429);
    // Two other users push alice out of the bounded table: she is counted afresh.
    expect(await as("bob@example.com")).toBe(200);
    expect(await as("carol@example.com")).toBe(200);
    expect(await as("alice@example.com")).toBe(200);
  });

  test("CORS: no credentials header unless configured; unlisted preflights get no allowance; OPTIONS without CORS is 405", async () => {
    const withCors = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS, cors: { origins: ["http://localhost:3000"], headers: ["X-CSRF-Token"] } }));
    const listed = await fetch(withCors, { headers: { origin: "http://localhost:3000", "x-test-user": "alice@example.com" } });
    expect(listed.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(listed.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await fetch(withCors, { method: "OPTIONS", headers: { origin: "http://localhost:3000", "access-control-request-method": "POST" } });
    expect(preflight.headers.get("access-control-allow-headers")).toBe("X-CSRF-Token");
    const unlisted = await fetch(withCors, { method: "OPTIONS", headers: { origin: "http://localhost:4000", "access-control-request-method": "GET" } });
    expect(unlisted.status).toBe(204);
    expect(unlisted.headers.get("access-control-allow-origin")).toBeNull();
    expect(unlisted.headers.get("access-control-allow-methods")).toBeNull();
    expect(unlisted.headers.get("vary")).toBe("Origin");
    const deleted = await fetch(withCors, { method: "DELETE" });
    expect(deleted.status).toBe(405);
    expect(deleted.headers.get("allow")).toBe("GET, POST, OPTIONS");

    const noCors = await nodeServer(createTokenEndpoint({ authenticate: whoIsSignedIn, keys: KEYS }));
    const options = await fetch(noCors, { method: "OPTIONS", headers: { origin: "http://localhost:3000" } });
    expect(options.status).toBe(405);
    expect(options.headers.get("access-control-allow-origin")).toBeNull();
    const cross = await fetch(noCors, { headers: { origin: "http://localhost:3000", "x-test-user": "alice@example.com" } });
    expect(cross.status).toBe(200);
    expect(cross.headers.get("access-control-allow-origin")).toBeNull();
  });
});
