import { afterEach, describe, expect, test } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { checkToken, createTokenEndpoint, type TokenKey } from "../src/index.js";

const KEYS: TokenKey[] = [{ tokenSecret: "endpoint-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
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
});
