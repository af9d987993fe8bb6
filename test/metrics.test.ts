/**
 * Prometheus metrics at /metrics on the real `x-token serve`: off by default (404), loopback by
 * default when on (403 from another address), and the figures follow real logins: by mechanism
 * and result, failures by reason, replay hits, the verification histogram, open streams by state.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../src/app/config/load.js";
import { mintToken } from "../src/core/token/mint.js";
import { saslAuth, streamHeader } from "./helpers/server.js";
import { login, startServe, type ServeProcess } from "./helpers/serve-process.js";

const DOMAIN = "example.test";
const KEY = { tokenSecret: "metrics-test-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const ENV = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: KEY.otpSeed, XMPP_REQUIRE_TLS: "false" };

function get(port: number, path: string, from = "127.0.0.1", method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, localAddress: from }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The value of one sample line, e.g. `xtoken_logins_total{mechanism="X-TOKEN",result="success"}`. */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

/** A logged-in, bound stream kept open (for the open-streams gauge). */
async function boundStream(port: number, localpart: string): Promise<net.Socket> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  let received = "";
  socket.on("data", (d) => (received += d));
  const waitFor = async (text: string) => {
    const deadline = Date.now() + 10_000;
    while (!received.includes(text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${text}: ${received}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    received = "";
  };
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(streamHeader(DOMAIN));
  await waitFor("</stream:features>");
  socket.write(saslAuth(localpart, mintToken({ jid: `${localpart}@${DOMAIN}`, key: KEY })));
  await waitFor("<success");
  socket.write(streamHeader(DOMAIN));
  await waitFor("</stream:features>");
  socket.write("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  await waitFor("</jid>");
  return socket;
}

describe("metrics on x-token serve", () => {
  const dir = mkdtempSync(join(tmpdir(), "x-token-metrics-"));
  let on: ServeProcess;
  let off: ServeProcess;
  let elsewhere: ServeProcess;

  beforeAll(async () => {
    const write = (name: string, config: unknown) => {
      const file = join(dir, name);
      writeFileSync(file, JSON.stringify(config));
      return file;
    };
    [on, off, elsewhere] = await Promise.all([
      startServe({ ...ENV, XTOKEN_CONFIG: write("on.json", { metrics: { enabled: true } }) }),
      startServe(ENV),
      startServe({ ...ENV, XTOKEN_CONFIG: write("elsewhere.json", { metrics: { enabled: true, allowFrom: ["127.0.0.99"] } }) }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([on?.stop(), off?.stop(), elsewhere?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("off by default: /metrics is not there", async () => {
    expect((await get(off.http, "/metrics")).status).toBe(404);
    expect(off.stdout()).not.toContain("/metrics");
  });

  test("on: only for the allowed addresses (loopback by default), matched on the TCP peer", async () => {
    expect(on.stdout()).toMatch(/Metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect((await get(elsewhere.http, "/metrics")).status).toBe(403);
    expect((await get(elsewhere.http, "/metrics", "127.0.0.99")).status).toBe(200);
    expect((await get(on.http, "/metrics", "127.0.0.1", "POST")).status).toBe(405);
    // Other paths are not the metrics handler's.
    expect((await get(on.http, "/metrics/x")).status).toBe(404);
  });

  test("logins, failures by reason, replay hits, the latency histogram and open streams follow real logins", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key: KEY });
    expect(await login(on.c2s, DOMAIN, "alice", token)).toBe("success");
    expect(await login(on.c2s, DOMAIN, "alice", token)).toBe("not-authorized"); // replayed
    expect(await login(on.c2s, DOMAIN, "bob", mintToken({ jid: `bob@${DOMAIN}`, key: { ...KEY, tokenSecret: "a-wrong-metrics-secret" } }))).toBe("not-authorized");
    const stream = await boundStream(on.c2s, "carol");
    const idle = net.connect({ port: on.c2s, host: "127.0.0.1" });
    await new Promise((resolve) => idle.once("connect", resolve));
    try {
      const scraped = await get(on.http, "/metrics");
      expect(scraped.status).toBe(200);
      expect(scraped.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = scraped.body;
      expect(sample(text, 'xtoken_logins_total{mechanism="X-TOKEN",result="success"}')).toBe(2);
      expect(sample(text, 'xtoken_logins_total{mechanism="X-TOKEN",result="failure"}')).toBe(2);
      expect(sample(text, 'xtoken_login_failures_total{reason="replayed"}')).toBe(1);
      expect(sample(text, 'xtoken_login_failures_total{reason="bad-signature"}')).toBe(1);
      expect(sample(text, "xtoken_replay_hits_total")).toBe(1);
      expect(sample(text, "xtoken_store_errors_total")).toBe(0);
      expect(sample(text, 'xtoken_verification_seconds_count{mechanism="X-TOKEN",result="success"}')).toBe(2);
      expect(sample(text, 'xtoken_verification_seconds_bucket{le="+Inf",mechanism="X-TOKEN",result="failure"}')).toBe(2);
      expect(sample(text, 'xtoken_open_streams{state="bound"}')).toBe(1);
      expect(sample(text, 'xtoken_open_streams{state="unauthenticated"}')).toBeGreaterThanOrEqual(1);
      expect(text).toContain("process_cpu_seconds_total");
      // Nothing secret in the output.
      expect(text).not.toContain(KEY.tokenSecret);
      expect(text).not.toContain("alice");
    } finally {
      stream.destroy();
      idle.destroy();
    }
  });

  test("an unknown mechanism is counted as unknown, never by the client's text", async () => {
    const socket = net.connect({ port: on.c2s, host: "127.0.0.1" });
    let received = "";
    socket.on("data", (d) => (received += d));
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(streamHeader(DOMAIN));
    const deadline = Date.now() + 10_000;
    while (!received.includes("</stream:features>") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    received = "";
    socket.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EVIL-LABEL-123'>AA==</auth>");
    while (!received.includes("</failure>") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    const text = (await get(on.http, "/metrics")).body;
    expect(text).not.toContain("EVIL-LABEL-123");
    expect(sample(text, 'xtoken_logins_total{mechanism="unknown",result="failure"}')).toBeGreaterThanOrEqual(1);
  });
});

describe("metrics configuration", () => {
  const base = { domains: { "example.com": { keys: [KEY] } }, requireTls: false };
  test("off unless enabled; loopback by default; allowFrom checked", () => {
    expect(parseConfig(base).metrics).toBeNull();
    expect(parseConfig({ ...base, metrics: { enabled: false } }).metrics).toBeNull();
    expect(parseConfig({ ...base, metrics: { enabled: true } }).metrics).toEqual({ allowFrom: ["127.0.0.1", "::1"] });
    expect(parseConfig({ ...base, metrics: { enabled: true, allowFrom: ["10.0.0.0/8"] } }).metrics).toEqual({ allowFrom: ["10.0.0.0/8"] });
    expect(() => parseConfig({ ...base, metrics: { enabled: true, allowFrom: ["not an address"] } })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, metrics: { enabled: "yes" } })).toThrow("config: metrics.enabled must be true or false");
    expect(() => parseConfig({ ...base, metrics: { port: 9090 } })).toThrow(/metrics\.port is not a known setting/);
  });
});
