/**
 * Rules of the token endpoint (src/web/endpoint) that the mutation run (issue 23, `npm run
 * mutate`) found without a test of their own: the no-cache and no-sniff headers on every answer,
 * each bad option refused by name, a mint function that returns no token, the bodies of 405 and
 * 429, the preflight's headers, and a failure after the answer started (the connection is cut,
 * nothing more is written).
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import http from "node:http";
import { KeyError, type TokenKey } from "../src/index.js";
import { createTokenEndpoint, TokenEndpointOptionsError, type MintFunction } from "../src/web/index.js";
import { closeHttpServers, serveHttp } from "./helpers/http-server.js";

const KEYS: TokenKey[] = [{ tokenSecret: "endpoint-mutation-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
const alice = () => "alice@example.test";

afterAll(closeHttpServers);

function expectNoCache(res: Response): void {
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("pragma")).toBe("no-cache");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
}

describe("options", () => {
  test("the error is a TokenEndpointOptionsError by name", () => {
    const err = new TokenEndpointOptionsError("x");
    expect(err.name).toBe("TokenEndpointOptionsError");
    expect(err).toBeInstanceOf(Error);
  });

  test("authenticate and mint must be functions", () => {
    expect(() => createTokenEndpoint({ authenticate: "alice" as never, keys: KEYS })).toThrow(new TokenEndpointOptionsError("authenticate must be a function"));
    expect(() => createTokenEndpoint({ authenticate: alice, mint: "token" as never })).toThrow(new TokenEndpointOptionsError("mint must be a function"));
  });

  test("rateLimit needs a positive perSeconds; a fraction of a second is fine", () => {
    const message = "rateLimit needs a positive integer max and a positive perSeconds";
    expect(() => createTokenEndpoint({ authenticate: alice, keys: KEYS, rateLimit: { max: 1, perSeconds: 0 } })).toThrow(new TokenEndpointOptionsError(message));
    expect(() => createTokenEndpoint({ authenticate: alice, keys: KEYS, rateLimit: { max: 1, perSeconds: -1 } })).toThrow(new TokenEndpointOptionsError(message));
    expect(() => createTokenEndpoint({ authenticate: alice, keys: KEYS, rateLimit: { max: 1, perSeconds: 0.5 } })).not.toThrow();
  });

  test("a bad key is an options error naming the keys, with the KeyError as its cause", () => {
    let thrown: unknown;
    try {
      createTokenEndpoint({ authenticate: alice, keys: [{ tokenSecret: "", otpSeed: "" }] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TokenEndpointOptionsError);
    expect((thrown as Error).message).toMatch(/^keys: ./);
    expect((thrown as Error).cause).toBeInstanceOf(KeyError);
  });
});

describe("answers", () => {
  test("every answer, success or refusal, is no-store, no-cache and nosniff JSON", async () => {
    const base = await serveHttp(createTokenEndpoint({ authenticate: (req) => (req.headers["x-user"] ? alice() : null), keys: KEYS, rateLimit: { max: 1, perSeconds: 60 } }));
    const ok = await fetch(base, { headers: { "x-user": "1" } });
    expect(ok.status).toBe(200);
    expectNoCache(ok);
    const limited = await fetch(base, { headers: { "x-user": "1" } });
    expect(limited.status).toBe(429);
    expectNoCache(limited);
    expect(await limited.json()).toEqual({ error: "rate-limited" });
    expect(limited.headers.get("retry-after")).toBe("60");
    const put = await fetch(base, { method: "PUT", headers: { "x-user": "1" } });
    expect(put.status).toBe(405);
    expectNoCache(put);
    expect(await put.json()).toEqual({ error: "method-not-allowed" });
    expect(put.headers.get("allow")).toBe("GET, POST");
    const anonymous = await fetch(base);
    expectNoCache(anonymous);
  });

  test("a mint function that returns an empty string or no string: 500, no details", async () => {
    for (const bad of ["", undefined, 42] as unknown[]) {
      const mint = (() => bad) as unknown as MintFunction;
      const base = await serveHttp(createTokenEndpoint({ authenticate: alice, mint }));
      const res = await fetch(base);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: "internal-error" });
    }
    const base = await serveHttp(createTokenEndpoint({ authenticate: alice, mint: () => "t" }));
    expect(await (await fetch(base)).json()).toEqual({ jid: alice(), password: "t", token: "t" });
  });

  test("a preflight from a listed origin: methods, the allowed headers joined, a max age, no-store", async () => {
    const base = await serveHttp(createTokenEndpoint({ authenticate: alice, keys: KEYS, cors: { origins: ["https://app.example.com"], headers: ["X-CSRF-Token", "X-Other"] } }));
    const res = await fetch(base, { method: "OPTIONS", headers: { origin: "https://app.example.com" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(res.headers.get("access-control-allow-headers")).toBe("X-CSRF-Token, X-Other");
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.get("cache-control")).toBe("no-store");
    // With CORS on, other methods are told OPTIONS is allowed too.
    const put = await fetch(base, { method: "PUT" });
    expect(put.headers.get("allow")).toBe("GET, POST, OPTIONS");
  });

  test("a failure after the answer started cuts the connection and writes nothing more", async () => {
    const endpoint = createTokenEndpoint({
      authenticate: alice,
      mint: () => Promise.reject(new Error("signer down")),
    });
    const calls: string[] = [];
    const res = {
      headersSent: true,
      writeHead: () => (calls.push("writeHead"), res),
      end: () => (calls.push("end"), res),
      destroy: () => calls.push("destroy"),
    };
    endpoint({ method: "GET", headers: {}, url: "/" } as unknown as http.IncomingMessage, res as unknown as http.ServerResponse);
    for (let i = 0; i < 20 && calls.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(calls).toEqual(["destroy"]);
  });
});
