/** Forwarded headers are believed only from configured proxies (issue 7 #9). */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { TrustedProxies, TrustedProxiesError, clientAddress, clientOrigin } from "../src/auth/policy/trusted-proxies.js";
import { parseConfig, ConfigError } from "../src/app/config/load.js";
import { WsClient, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

describe("clientOrigin", () => {
  const proxies = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);

  test("no trusted proxies: headers from loopback are ignored, the peer is the client", () => {
    const headers = { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https" };
    expect(clientOrigin("127.0.0.1", headers, TrustedProxies.none)).toEqual({
      address: "127.0.0.1",
      viaTrustedProxy: false,
      forwardedProto: null,
      ignoredForwardedHeaders: true,
    });
    expect(clientAddress("::1", headers, TrustedProxies.none)).toBe("::1");
    expect(clientOrigin("127.0.0.1", {}, TrustedProxies.none).ignoredForwardedHeaders).toBe(false);
  });

  test("from a listed proxy: the rightmost hop that is not a trusted proxy is the client", () => {
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "198.51.100.1, 203.0.113.9" }, proxies)).toBe("203.0.113.9");
    // The client wrote a first entry itself; our proxies (10.x) appended theirs.
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "192.0.2.66, 203.0.113.9, 10.1.2.3" }, proxies)).toBe("203.0.113.9");
    expect(clientAddress("::ffff:127.0.0.1", { "x-forwarded-for": ["203.0.113.9", "10.0.0.2"] }, proxies)).toBe("203.0.113.9");
    expect(clientAddress("fd00::5", { "x-forwarded-for": "2001:db8::1" }, proxies)).toBe("2001:db8::1");
  });

  test("garbage in X-Forwarded-For never becomes an address", () => {
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "evil\nline" }, proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "203.0.113.9, unknown" }, proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", { "x-forwarded-for": "unknown, 10.0.0.9" }, proxies)).toBe("10.0.0.9");
    expect(clientAddress("127.0.0.1", {}, proxies)).toBe("127.0.0.1");
  });

  test("a peer not listed, even next to a listed one, is not trusted", () => {
    const headers = { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" };
    expect(clientOrigin("127.0.0.2", headers, proxies).viaTrustedProxy).toBe(false);
    expect(clientOrigin("11.0.0.1", headers, proxies).address).toBe("11.0.0.1");
    expect(clientOrigin(undefined, headers, proxies).address).toBe("unknown");
  });

  test("the scheme is the last X-Forwarded-Proto value, lower-cased", () => {
    expect(clientOrigin("127.0.0.1", { "x-forwarded-proto": "HTTPS" }, proxies).forwardedProto).toBe("https");
    expect(clientOrigin("127.0.0.1", { "x-forwarded-proto": "https, http" }, proxies).forwardedProto).toBe("http");
    expect(clientOrigin("127.0.0.1", {}, proxies).forwardedProto).toBeNull();
  });

  test("entries must be addresses or ranges; the error names the index, not the text", () => {
    for (const bad of [["localhost"], ["10.0.0.0/33"], ["::/129"], ["10.0.0.0/8/1"], ["10.0.0.0/x"], [""]]) {
      expect(() => TrustedProxies.parse(bad)).toThrow(TrustedProxiesError);
    }
    expect(() => TrustedProxies.parse(["127.0.0.1", "secret-host"])).toThrow("entry 1 is not an IP address or CIDR range");
  });

  test("config: trustedProxies defaults to empty and is checked at load", () => {
    const env = { XTOKEN_DOMAIN: "example.test", XTOKEN_SECRET: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY", XMPP_REQUIRE_TLS: "false" };
    expect(parseConfig({}, env).trustedProxies).toEqual([]);
    expect(parseConfig({ trustedProxies: ["127.0.0.1", " 10.0.0.0/8"] }, env).trustedProxies).toEqual(["127.0.0.1", "10.0.0.0/8"]);
    expect(() => parseConfig({ trustedProxies: ["nginx"] }, env)).toThrow(ConfigError);
    expect(() => parseConfig({ trustedProxies: "127.0.0.1" }, env)).toThrow("config: trustedProxies must be a list");
  });
});

describe("WebSocket behind a reverse proxy", () => {
  // trustedProxies empty (the default); loopback WebSockets count as secure by loopbackWebSocketIsSecure,
  // so the forged headers alone are what makes a stream insecure below.
  let plain: TestServer;
  let proxied: TestServer; // trustedProxies: 127.0.0.1

  beforeAll(async () => {
    plain = await startTestServer({ loopbackWebSocketIsSecure: true });
    proxied = await startTestServer({ trustedProxies: ["127.0.0.1"] });
  });
  afterAll(async () => {
    await Promise.all([plain.close(), proxied.close()]);
  });

  test("from a trusted proxy: X-Forwarded-Proto decides TLS, X-Forwarded-For is the logged address", async () => {
    const port = proxied.server.ports.http!;
    const viaHttp = await WsClient.connect(port, { headers: { "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http" } });
    const viaHttps = await WsClient.connect(port, { headers: { "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https" } });
    try {
      viaHttp.send(wsOpen());
      // TLS required, and this was plain http: refused at once, saying why, logged with the client's address.
      expect(await viaHttp.next(/<stream:features|<stream:error/)).toMatch(/^<stream:error .*<policy-violation .*TLS is required/);
      viaHttps.send(wsOpen());
      await viaHttps.next(/<mechanism>X-TOKEN<\/mechanism>/);
      viaHttps.send(saslAuth("proxied", proxied.mint("someone-else")));
      await viaHttps.next(/<not-authorized\/>/);
      expect(proxied.logLines).toContain("warn authentication failed for proxied@example.test from 203.0.113.9: bad-signature");
      expect(proxied.logLines.filter((l) => l.startsWith("warn WebSocket stream from 203.0.113.7 refused: requireTls is set"))).toHaveLength(1);
    } finally {
      viaHttp.close();
      viaHttps.close();
    }
  });

  test("by default, forged headers from a loopback peer are ignored: its own address is logged and the stream is not secure", async () => {
    const forged = await WsClient.connect(plain.server.ports.http!, { headers: { "X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https" } });
    try {
      forged.send(wsOpen());
      // Not secure (fail closed): TLS is required, so the stream is refused at once.
      expect(await forged.next(/<stream:features|<stream:error/)).toMatch(/^<stream:error .*<policy-violation .*TLS is required/);
      expect(plain.logLines.filter((l) => l.includes("forwarded headers from 127.0.0.1 ignored"))).toHaveLength(1);
      expect(plain.logLines.join("\n")).not.toContain("192.0.2.1");
    } finally {
      forged.close();
    }
    const local = await WsClient.connect(plain.server.ports.http!);
    try {
      local.send(wsOpen());
      await local.next(/<mechanism>X-TOKEN<\/mechanism>/); // a local client without headers: secure by configuration
      local.send(saslAuth("forger", plain.mint("someone-else")));
      await local.next(/<not-authorized\/>/);
      expect(plain.logLines).toContain("warn authentication failed for forger@example.test from 127.0.0.1: bad-signature");
    } finally {
      local.close();
    }
  });
});
