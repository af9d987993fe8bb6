/**
 * Revocation (issue 20 item 4, docs/revocation.md) in one process, on real sockets: the library
 * call ends every stream of the account (TCP and WebSocket, bound or not) and no other account's,
 * refuses its tokens minted before the not-before time at step granularity (the edges tested on
 * both sides), removes its FAST tokens, counts metrics and logs one line; a stream whose login
 * raced the revocation ends when it binds. The HTTP endpoint: no or a wrong secret 401, a peer not
 * allowed 403, GET 405, a body over the bound 413, not JSON 415/400, the right call 200.
 */
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import http from "node:http";
import { mintedBefore, acceptedFrom } from "../src/core/token/not-before.js";
import { memoryStorage } from "../src/core/records/storage.js";
import { RevocationError, RevocationEndpointError, createRevocationEndpoint } from "../src/server/index.js";
import { PrometheusMetrics } from "../src/metrics/prometheus.js";
import { parseRevocation } from "../src/app/config/revocation.js";
import { ConfigError } from "../src/app/config/validators.js";
import { DOMAIN, RawClient, WsClient, alive, loginRaw, saslAuth, startTestServer, streamHeader, wsOpen, type TestServer, type TestServerOptions } from "./helpers/server.js";
import { login as tcpLogin } from "./helpers/serve-process.js";

const SECRET = "Zq3v9LrT1mX8kP2wYb6nHc4sJd7fGa0e";
const servers: TestServer[] = [];
const clients: { destroy(): void }[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(options: TestServerOptions = {}): Promise<TestServer> {
  const t = await startTestServer({ requireTls: false, allowPlainWithoutTls: true, ...options });
  servers.push(t);
  return t;
}

async function tcp(t: TestServer, localpart: string) {
  const session = await loginRaw(t, localpart);
  clients.push(session.client);
  return session.client;
}

async function ws(t: TestServer, localpart: string): Promise<WsClient> {
  const client = await WsClient.connect(t.server.ports.http!);
  clients.push({ destroy: () => client.close() });
  client.send(wsOpen());
  await client.next(/<mechanism>X-TOKEN<\/mechanism>/);
  client.send(saslAuth(localpart, t.mint(localpart)));
  await client.next(/<success/);
  client.send(wsOpen());
  await client.next(/<bind /);
  client.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  await client.next(/<jid>/);
  return client;
}

/** A ping answered proves the stream is alive. */
const login = (t: TestServer, localpart: string, token: string) => tcpLogin(t.server.ports.c2s!, DOMAIN, localpart, token);
const mintAt = (t: TestServer, localpart: string, now: number) => t.mint(localpart, { now });
const STEP = 30;

describe("the not-before rule (core/token/not-before.ts)", () => {
  test("a step that starts at or after notBefore is accepted; any other is refused", () => {
    expect(mintedBefore(100, null)).toBe(false);
    expect(mintedBefore(100, 100 * STEP)).toBe(false); // on the boundary: nothing refused wrongly
    expect(mintedBefore(99, 100 * STEP)).toBe(true);
    expect(mintedBefore(100, 100 * STEP + 1)).toBe(true); // the step holds a second before it
    expect(mintedBefore(101, 100 * STEP + 29)).toBe(false);
    expect(acceptedFrom(100 * STEP)).toBe(100 * STEP);
    expect(acceptedFrom(100 * STEP + 1)).toBe(101 * STEP);
    expect(acceptedFrom(100 * STEP + 29)).toBe(101 * STEP);
  });
});

describe("RunningServer.revokeAccount", () => {
  test("ends every stream of alice (TCP and WebSocket, bound or only authenticated) and none of bob's, with one log line and metrics", async () => {
    const metrics = new PrometheusMetrics({ allowFrom: ["127.0.0.1"], streams: () => ({}), processMetrics: false });
    const t = await server({ start: { metrics } });
    const aliceTcp = await tcp(t, "alice");
    const aliceWs = await ws(t, "alice");
    // Authenticated, not bound yet: found by its account all the same.
    const aliceUnbound = await RawClient.connect(t.server.ports.c2s!);
    clients.push(aliceUnbound);
    aliceUnbound.write(streamHeader());
    await aliceUnbound.waitFor("</stream:features>");
    aliceUnbound.write(saslAuth("alice", t.mint("alice")));
    await aliceUnbound.waitFor("<success");
    const bob = await tcp(t, "bob");
    const bobWs = await ws(t, "bob");

    const report = await t.server.revokeAccount("Alice@Example.Test");
    expect(report).toMatchObject({ jid: "alice@example.test", streamsEnded: 3, fastTokensRevoked: 0, announced: true });
    for (const client of [aliceTcp, aliceUnbound]) {
      const text = await client.waitFor("</stream:stream>");
      expect(text).toMatch(/<stream:error[^>]*><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/><text[^>]*>this account's sign-in was revoked/);
      await client.waitForClose();
    }
    expect(await aliceWs.next(/<stream:error/)).toContain("<not-authorized");
    await aliceWs.waitForClose();
    await alive(bob, "bob-1");
    expect(bobWs.closeCode).toBeNull();
    const lines = t.logLines.filter((l) => l.includes("revoked alice@example.test"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/by the library\): tokens minted before \S+Z refused; ended 3 stream\(s\), removed 0 FAST token\(s\) here$/);
    const text = await metrics.registry.metrics();
    expect(text).toContain('xtoken_revocations_total{source="library"} 1');
    expect(text).toContain("xtoken_revoked_streams_total 3");
  });

  // The server's clock is fixed 12 s into a step, so every token below is inside its window
  // whenever the test runs: a refusal is the revocation's, never the window's.
  const start = 1_800_000_000 - (1_800_000_000 % STEP);
  const fixedClock = { now: () => start + 12 };

  test("tokens minted before notBefore are refused at step granularity; the next step's are accepted", async () => {
    const t = await server({ start: fixedClock });
    // notBefore 10 s into the current step: tokens of that step are refused, before or after it.
    const notBefore = start + 10;
    const report = await t.server.revokeAccount(`alice@${DOMAIN}`, { notBefore });
    expect(report.notBefore).toBe(notBefore);
    expect(report.acceptedFrom).toBe(start + STEP);
    expect(await login(t, "alice", mintAt(t, "alice", start - STEP))).toBe("not-authorized");
    expect(await login(t, "alice", mintAt(t, "alice", start + 5))).toBe("not-authorized");
    // Minted 5 s after the revocation, in its step: refused too (the documented rounding, < 30 s).
    expect(await login(t, "alice", mintAt(t, "alice", start + 15))).toBe("not-authorized");
    expect(t.logLines.filter((l) => /authentication failed for alice@example\.test from .*: revoked$/.test(l))).toHaveLength(3);
    // The next step's token is minted after notBefore: accepted (the window admits one step ahead).
    expect(await login(t, "alice", mintAt(t, "alice", start + STEP))).toBe("success");
    // Another account is untouched.
    expect(await login(t, "bob", mintAt(t, "bob", start + 5))).toBe("success");
  });

  test("a notBefore on a step boundary refuses only the steps before it", async () => {
    const t = await server({ start: fixedClock });
    await t.server.revokeAccount(`alice@${DOMAIN}`, { notBefore: start });
    expect(await login(t, "alice", mintAt(t, "alice", start - 1))).toBe("not-authorized");
    expect(await login(t, "alice", mintAt(t, "alice", start))).toBe("success");
    expect((await t.server.revokeAccount(`bob@${DOMAIN}`)).notBefore).toBe(start + 12); // now, by the server's clock
  });

  test("the default notBefore is now rounded up to the second: a token minted earlier in that second is refused", async () => {
    const t = await server({ start: { now: () => start + 59.25 } });
    const report = await t.server.revokeAccount(`alice@${DOMAIN}`);
    expect(report.notBefore).toBe(start + 60);
    expect(report.acceptedFrom).toBe(start + 60);
    expect(await login(t, "alice", mintAt(t, "alice", start + 59.1))).toBe("not-authorized");
    expect(await login(t, "alice", mintAt(t, "alice", start + 60))).toBe("success");
  });

  test("revoking again never moves notBefore back", async () => {
    const t = await server();
    const now = Math.floor(Date.now() / 1000);
    expect((await t.server.revokeAccount(`alice@${DOMAIN}`, { notBefore: now })).notBefore).toBe(now);
    expect((await t.server.revokeAccount(`alice@${DOMAIN}`, { notBefore: now - 3600 })).notBefore).toBe(now);
  });

  test("removes the account's FAST tokens, not another's", async () => {
    const storage = memoryStorage();
    const token = { verifier: new Uint8Array(32).fill(1), responder: new Uint8Array(32).fill(2), issuedAt: 1, expiresAt: 2 ** 40 };
    storage.fast.issue({ account: `alice@${DOMAIN}`, agentHash: "a".repeat(64), mechanism: "HT-SHA-256-NONE" }, token);
    storage.fast.issue({ account: `bob@${DOMAIN}`, agentHash: "a".repeat(64), mechanism: "HT-SHA-256-NONE" }, token);
    const t = await server({ storage });
    expect((await t.server.revokeAccount(`alice@${DOMAIN}`)).fastTokensRevoked).toBe(1);
    expect(storage.fast.find({ account: `alice@${DOMAIN}`, agentHash: "a".repeat(64), mechanism: "HT-SHA-256-NONE" }).new).toBeNull();
    expect(storage.fast.find({ account: `bob@${DOMAIN}`, agentHash: "a".repeat(64), mechanism: "HT-SHA-256-NONE" }).new).not.toBeNull();
  });

  test("a caller's mistake is a RevocationError and records nothing", async () => {
    const t = await server();
    const now = Math.floor(Date.now() / 1000);
    for (const [jid, options] of [
      ["alice@unknown.test", {}],
      [`alice@${DOMAIN}/phone`, {}],
      [DOMAIN, {}],
      ["al ice@@example.test", {}],
      [`alice@${DOMAIN}`, { notBefore: now + 2 * 86_400 }],
      [`alice@${DOMAIN}`, { notBefore: -1 }],
      [`alice@${DOMAIN}`, { notBefore: 1.5 }],
    ] as const) {
      await expect(t.server.revokeAccount(jid, options)).rejects.toBeInstanceOf(RevocationError);
    }
    expect(await t.server.storage.revocations.notBefore(`alice@${DOMAIN}`)).toBeNull();
  });

  test("a store that cannot record the revocation refuses it, and nothing else is done", async () => {
    const storage = memoryStorage();
    storage.revocations.revoke = () => {
      throw new Error("disk full");
    };
    const t = await server({ storage });
    const alice = await tcp(t, "alice");
    await expect(t.server.revokeAccount(`alice@${DOMAIN}`)).rejects.toThrow("disk full");
    await alive(alice, "still-1");
  });

  test("a store that cannot say whether the account is revoked refuses the login (fail closed)", async () => {
    const storage = memoryStorage();
    storage.revocations.notBefore = () => {
      throw new Error("unreadable");
    };
    const t = await server({ storage });
    expect(await login(t, "alice", t.mint("alice"))).toBe("temporary-auth-failure");
  });

  test("a stream still logging in when its account is revoked ends as soon as it authenticates; a new connection afterwards stays", async () => {
    const t = await server();
    const racing = await RawClient.connect(t.server.ports.c2s!);
    clients.push(racing);
    racing.write(streamHeader());
    await racing.waitFor("</stream:features>");
    const bobOld = await RawClient.connect(t.server.ports.c2s!);
    clients.push(bobOld);
    bobOld.write(streamHeader());
    await bobOld.waitFor("</stream:features>");
    const report = await t.server.revokeAccount(`alice@${DOMAIN}`);
    // Its login reads a token the revocation does not refuse (minted in the next step): only the
    // authentication, which came after the revocation arrived while it was not authenticated,
    // ends it (its login might have read the time before the revocation was written).
    racing.clear();
    racing.write(saslAuth("alice", mintAt(t, "alice", report.acceptedFrom)));
    expect(await racing.waitFor("</stream:stream>")).toMatch(/<success[^>]*\/>[\s\S]*<not-authorized/);
    await racing.waitForClose();
    expect(t.logLines.filter((l) => l.includes("ended a stream of alice@example.test that logged in while the account was being revoked; removed 0 FAST token(s) here"))).toHaveLength(1);
    // Another account's login on a connection as old is not touched.
    bobOld.clear();
    bobOld.write(saslAuth("bob", t.mint("bob")));
    await bobOld.waitFor("<success");
    bobOld.clear();
    bobOld.write(streamHeader());
    await bobOld.waitFor("</stream:features>");
    bobOld.write("<iq type='set' id='bind-3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    await bobOld.waitFor("<jid>");
    await alive(bobOld, "bob-old-1");
    // A connection opened after the revocation with a token minted after it is not touched.
    const fresh = await RawClient.connect(t.server.ports.c2s!);
    clients.push(fresh);
    fresh.write(streamHeader());
    await fresh.waitFor("</stream:features>");
    fresh.clear();
    fresh.write(saslAuth("alice", mintAt(t, "alice", report.acceptedFrom)));
    await fresh.waitFor("<success");
    fresh.clear();
    fresh.write(streamHeader());
    await fresh.waitFor("</stream:features>");
    fresh.write("<iq type='set' id='bind-2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    await fresh.waitFor("<jid>");
    await alive(fresh, "fresh-1");
  });
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, { method = "POST", path = "/x-token/revoke", headers = {}, body, from = "127.0.0.1", chunks }: { method?: string; path?: string; headers?: Record<string, string>; body?: string; from?: string; chunks?: Buffer[] }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, localAddress: from }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on("error", reject);
    });
    // The server may answer and close before a huge body is sent: that is the point.
    req.on("error", (err) => (("code" in err && err.code === "EPIPE") || ("code" in err && err.code === "ECONNRESET") ? undefined : reject(err)));
    if (chunks) {
      for (const chunk of chunks) req.write(chunk);
      req.end();
    } else req.end(body);
  });
}

const json = { "Content-Type": "application/json" };
const bearer = (secret: string) => ({ ...json, Authorization: `Bearer ${secret}` });
const revokeBody = (jid = `alice@${DOMAIN}`) => JSON.stringify({ jid });

describe("the HTTP endpoint", () => {
  test("no secret, a wrong one (any length, any scheme): 401, and nothing is revoked", async () => {
    const t = await server({ start: { revocationEndpoint: { secret: SECRET } } });
    const alice = await tcp(t, "alice");
    const port = t.server.ports.http!;
    const wrong = [json, bearer(""), bearer("x"), bearer(SECRET.slice(0, -1)), bearer(`${SECRET}x`), bearer(`${SECRET.slice(0, -1)}X`), { ...json, Authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString("base64")}` }, { ...json, Authorization: `bearer  ${SECRET}` }];
    for (const headers of wrong) {
      const answer = await request(port, { headers, body: revokeBody() });
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="x-token revocation"');
      expect(JSON.parse(answer.body)).toMatchObject({ error: "unauthorized" });
    }
    await alive(alice, "a-1");
    expect(await t.server.storage.revocations.notBefore(`alice@${DOMAIN}`)).toBeNull();
    // One line per refused call (bounded per address, like failed logins), never the secret sent.
    const refused = t.logLines.filter((l) => l.startsWith("warn revocation refused from 127.0.0.1: "));
    expect(refused).toEqual(["warn revocation refused from 127.0.0.1: no secret", ...Array(wrong.length - 1).fill("warn revocation refused from 127.0.0.1: wrong secret")]);
    expect(t.logLines.join("\n")).not.toContain(SECRET.slice(0, 8));
  });

  test("the right secret: 200 with the report, and alice's streams end", async () => {
    const t = await server({ start: { revocationEndpoint: { secret: SECRET } } });
    const alice = await tcp(t, "alice");
    const bob = await tcp(t, "bob");
    const answer = await request(t.server.ports.http!, { headers: bearer(SECRET), body: JSON.stringify({ jid: `alice@${DOMAIN}`, notBefore: Math.floor(Date.now() / 1000) }) });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(answer.body)).toMatchObject({ jid: `alice@${DOMAIN}`, streamsEnded: 1, announced: true });
    expect(await alice.waitFor("</stream:stream>")).toContain("<not-authorized");
    await alive(bob, "b-1");
    expect(t.logLines.filter((l) => l.includes(`revoked alice@${DOMAIN} (by the HTTP endpoint (from 127.0.0.1))`))).toHaveLength(1);
    // And never the secret in a log line.
    expect(t.logLines.join("\n")).not.toContain(SECRET);
  });

  test("GET and other methods: 405 with Allow (after the secret: 401 without it)", async () => {
    const t = await server({ start: { revocationEndpoint: { secret: SECRET } } });
    const port = t.server.ports.http!;
    for (const method of ["GET", "PUT", "DELETE", "HEAD"]) {
      const answer = await request(port, { method, headers: bearer(SECRET) });
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe("POST");
    }
    expect((await request(port, { method: "GET" })).status).toBe(401);
  });

  test("a body over 4096 bytes is refused with 413, declared or streamed, and nothing is revoked", async () => {
    const t = await server({ start: { revocationEndpoint: { secret: SECRET } } });
    const port = t.server.ports.http!;
    const big = JSON.stringify({ jid: `alice@${DOMAIN}`, pad: "x".repeat(5000) });
    expect((await request(port, { headers: bearer(SECRET), body: big })).status).toBe(413);
    // Chunked, no Content-Length: counted as it arrives; a megabyte is never read whole.
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 0x20));
    expect((await request(port, { headers: { ...bearer(SECRET), "Transfer-Encoding": "chunked" }, chunks })).status).toBe(413);
    expect(await t.server.storage.revocations.notBefore(`alice@${DOMAIN}`)).toBeNull();
  });

  test("what is not a revocation: 415 for another type, 400 for bad JSON, fields or JIDs", async () => {
    const t = await server({ start: { revocationEndpoint: { secret: SECRET } } });
    const port = t.server.ports.http!;
    expect((await request(port, { headers: { Authorization: `Bearer ${SECRET}`, "Content-Type": "text/plain" }, body: revokeBody() })).status).toBe(415);
    for (const body of ["{", "[]", "null", '"alice"', JSON.stringify({ jid: 5 }), JSON.stringify({ jid: `alice@${DOMAIN}`, admin: true }), JSON.stringify({ jid: `alice@${DOMAIN}`, notBefore: "soon" }), revokeBody("alice@elsewhere.test"), revokeBody(`alice@${DOMAIN}/res`), "", JSON.stringify({ jid: `alice@${DOMAIN}`, notBefore: 1e15 })]) {
      const answer = await request(port, { headers: bearer(SECRET), body });
      expect([answer.status, body]).toEqual([400, body]);
      expect(JSON.parse(answer.body).error).toBe("bad-request");
    }
    expect(await t.server.storage.revocations.notBefore(`alice@${DOMAIN}`)).toBeNull();
  });

  test("other paths are not the endpoint's (the next handler's 404)", async () => {
    const t = await server({ start: { revocationEndpoint: { secret: SECRET } } });
    expect((await request(t.server.ports.http!, { path: "/x-token/revoke/", headers: bearer(SECRET), body: revokeBody() })).status).toBe(404);
    expect((await request(t.server.ports.http!, { path: "/revoke", headers: bearer(SECRET), body: revokeBody() })).status).toBe(404);
  });

  test("an allow-list: a peer not on it gets 403 (loopback included), one on it needs no secret", async () => {
    const t = await server({ start: { revocationEndpoint: { allowFrom: ["127.0.0.2"] } } });
    const port = t.server.ports.http!;
    const refused = await request(port, { headers: json, body: revokeBody(), from: "127.0.0.1" });
    expect(refused.status).toBe(403);
    expect(t.logLines).toContain("warn revocation refused from 127.0.0.1: not in allowFrom");
    const allowed = await request(port, { headers: json, body: revokeBody(), from: "127.0.0.2" });
    expect(allowed.status).toBe(200);
  });

  test("an allow-list and a secret: both must hold", async () => {
    const t = await server({ start: { revocationEndpoint: { allowFrom: ["127.0.0.2"], secret: SECRET } } });
    const port = t.server.ports.http!;
    expect((await request(port, { headers: bearer(SECRET), body: revokeBody(), from: "127.0.0.3" })).status).toBe(403);
    expect((await request(port, { headers: json, body: revokeBody(), from: "127.0.0.2" })).status).toBe(401);
    expect((await request(port, { headers: bearer(SECRET), body: revokeBody(), from: "127.0.0.2" })).status).toBe(200);
  });

  test("without a secret or an allow-list there is no endpoint: it trusts nobody by default", () => {
    expect(() => createRevocationEndpoint({}, () => null as never)).toThrow(RevocationEndpointError);
    expect(() => createRevocationEndpoint({ allowFrom: [] }, () => null as never)).toThrow(RevocationEndpointError);
    expect(() => createRevocationEndpoint({ secret: "short" }, () => null as never)).toThrow(RevocationEndpointError);
  });
});

describe("the revocation section of the configuration", () => {
  const noFile = () => {
    throw Object.assign(new Error("no"), { code: "ENOENT" });
  };
  test("a secret from a file or an environment variable, an allow-list, or both; never neither", () => {
    expect(parseRevocation(undefined, {}, noFile)).toBeNull();
    expect(parseRevocation({ secretEnv: "REVOKE_SECRET" }, { REVOKE_SECRET: SECRET }, noFile)).toEqual({ path: null, secret: SECRET, allowFrom: null });
    expect(parseRevocation({ secretFile: "s.txt", path: "/admin/revoke" }, {}, () => `${SECRET}\n`)).toEqual({ path: "/admin/revoke", secret: SECRET, allowFrom: null });
    expect(parseRevocation({ allowFrom: ["10.0.0.0/8"] }, {}, noFile)).toEqual({ path: null, secret: null, allowFrom: ["10.0.0.0/8"] });
    expect(() => parseRevocation({}, {}, noFile)).toThrow(/trusts no caller by default, loopback included/);
    expect(() => parseRevocation({ allowFrom: [] }, {}, noFile)).toThrow(ConfigError);
    expect(() => parseRevocation({ allowFrom: ["not an address"] }, {}, noFile)).toThrow(/revocation\.allowFrom/);
    expect(() => parseRevocation({ secret: "password" }, {}, noFile)).toThrow(/revocation\.secret is shorter than 16 bytes/);
    expect(() => parseRevocation({ secretEnv: "MISSING" }, {}, noFile)).toThrow(/MISSING is not set/);
    expect(() => parseRevocation({ secret: SECRET, secretEnv: "X" }, {}, noFile)).toThrow(/exactly one of/);
    expect(() => parseRevocation({ secret: SECRET, path: "revoke" }, {}, noFile)).toThrow(/revocation\.path/);
    expect(() => parseRevocation({ secret: SECRET, sekret: 1 }, {}, noFile)).toThrow(/not a known setting/);
    expect(() => parseRevocation({ secret: SECRET }, {}, noFile, { httpListener: false })).toThrow("config: revocation needs the HTTP listener (listeners.httpPort or XMPP_HTTP_PORT), which is off");
    // The message never holds the secret.
    try {
      parseRevocation({ secret: "aaaaaaaaaaaaaaaaaaaaaaaa" }, {}, noFile);
    } catch (err) {
      expect((err as Error).message).not.toContain("aaaa");
    }
  });
});
