/**
 * When a plain ws:// stream counts as TLS-protected. A loopback address by itself never does: only
 * the `loopbackWebSocketIsSecure` setting (which `serve --dev` writes) or a trusted TLS proxy's
 * X-Forwarded-Proto. What "secure" gates, seen on the wire: PLAIN being offered, and requireTls
 * letting SASL happen at all: otherwise the stream is refused at once, with a `policy-violation`
 * stream error whose text says what to change, and a log line (issue 22 item 2).
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { parseConfig, ConfigError } from "../src/app/config/load.js";
import { WsClient, saslAuth, startTestServer, wsOpen, type TestServer } from "./helpers/server.js";

/** What a stream that TLS is required on, and that is not TLS-protected, gets instead of features. */
const NOT_SECURE =
  /^<stream:error xmlns:stream="http:\/\/etherx\.jabber\.org\/streams"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">TLS is required: connect over wss:\/\/ \(or STARTTLS\); for development over ws:\/\/ from loopback the server needs loopbackWebSocketIsSecure<\/text><\/stream:error>$/;
const SUCCESS = '<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>';

/** Opens a stream and returns the features offered on it, or the stream error that came instead. */
async function features(server: TestServer, headers?: Record<string, string>): Promise<{ ws: WsClient; features: string }> {
  const ws = await WsClient.connect(server.server.ports.http!, headers ? { headers } : {});
  ws.send(wsOpen());
  return { ws, features: await ws.next(/<stream:features|<stream:error/) };
}

/** The legacy SASL offer (SASL2's <authentication/> lists its own, FAST's included). */
function mechanisms(features: string): string[] {
  const legacy = /<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">([\s\S]*?)<\/mechanisms>/.exec(features)?.[1] ?? "";
  return [...legacy.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]!);
}

describe("without loopbackWebSocketIsSecure (the default), a loopback WebSocket is not secure", () => {
  let strict: TestServer; // requireTls: true (the default)
  let relaxed: TestServer; // requireTls: false
  beforeAll(async () => {
    [strict, relaxed] = await Promise.all([startTestServer(), startTestServer({ requireTls: false })]);
  });
  afterAll(async () => {
    await Promise.all([strict.close(), relaxed.close()]);
  });

  test("requireTls: the stream is refused at once, saying why (no features that offer nothing, no wait for the auth timeout), and logged", async () => {
    const { ws, features: offered } = await features(strict);
    try {
      expect(offered).toMatch(NOT_SECURE);
      // The server closes, as its answer to the header: the close frame is its own (1000; one the
      // client caused would be 1006), right after the refusal and nothing else. Had it waited for
      // the authentication timeout, the stream error would be connection-timeout, after features.
      expect(await ws.waitForClose()).toBe(1000);
      expect(ws.messages).toEqual([expect.stringMatching(/^<open /), expect.stringMatching(NOT_SECURE), '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>']);
      expect(strict.logLines).toContain(
        "warn WebSocket stream from 127.0.0.1 refused: requireTls is set and the stream is not TLS-protected (not wss:// through a proxy in trustedProxies; loopbackWebSocketIsSecure is off)",
      );
    } finally {
      ws.close();
    }
  });

  test("requireTls false: X-TOKEN is offered, PLAIN is not, and PLAIN sent anyway is invalid-mechanism", async () => {
    const { ws, features: offered } = await features(relaxed);
    try {
      expect(mechanisms(offered)).toEqual(["X-TOKEN"]);
      ws.send(saslAuth("alice", relaxed.mint("alice"), "PLAIN"));
      expect(await ws.next(/<failure/)).toContain("<invalid-mechanism/>");
      ws.send(saslAuth("alice", relaxed.mint("alice")));
      expect(await ws.next(/<success/)).toBe(SUCCESS);
    } finally {
      ws.close();
    }
  });
});

describe("with loopbackWebSocketIsSecure: true", () => {
  let dev: TestServer; // what `serve --dev` configures: requireTls true and the setting on
  let proxied: TestServer; // the setting on, and 127.0.0.1 listed as a trusted proxy
  beforeAll(async () => {
    [dev, proxied] = await Promise.all([
      startTestServer({ loopbackWebSocketIsSecure: true }),
      startTestServer({ loopbackWebSocketIsSecure: true, trustedProxies: ["127.0.0.1"] }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([dev.close(), proxied.close()]);
  });

  test("a loopback WebSocket is secure: PLAIN is offered and logs in with a token as the password (the Converse.js path)", async () => {
    const { ws, features: offered } = await features(dev);
    try {
      expect(mechanisms(offered).sort()).toEqual(["PLAIN", "X-TOKEN"]);
      ws.send(saslAuth("carol", dev.mint("carol"), "PLAIN"));
      expect(await ws.next(/<success|<failure/)).toBe(SUCCESS);
    } finally {
      ws.close();
    }
  });

  test.each([
    ["X-Forwarded-Proto: https", { "X-Forwarded-Proto": "https" }],
    ["X-Forwarded-For alone", { "X-Forwarded-For": "192.0.2.1" }],
  ])("forwarded headers from a peer not in trustedProxies (%s) make it not secure, setting or not", async (_name, headers) => {
    const { ws, features: offered } = await features(dev, headers);
    try {
      expect(offered).toMatch(NOT_SECURE);
      await ws.waitForClose();
    } finally {
      ws.close();
    }
    expect(dev.logLines.filter((l) => l.includes("forwarded headers from 127.0.0.1 ignored"))).toHaveLength(1);
  });

  test("from a trusted proxy only X-Forwarded-Proto counts: none or http is not secure, even on loopback; the refused token is still unused", async () => {
    const token = proxied.mint("erin");
    for (const headers of [undefined, { "X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "http" }]) {
      const { ws, features: offered } = await features(proxied, headers);
      try {
        expect(offered).toMatch(NOT_SECURE);
        await ws.waitForClose();
      } finally {
        ws.close();
      }
    }
    const { ws, features: offered } = await features(proxied, { "X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https" });
    try {
      expect(mechanisms(offered).sort()).toEqual(["PLAIN", "X-TOKEN"]);
      ws.send(saslAuth("erin", token));
      expect(await ws.next(/<success|<failure/)).toBe(SUCCESS);
    } finally {
      ws.close();
    }
  });
});

describe("config: loopbackWebSocketIsSecure", () => {
  const env = { XTOKEN_DOMAIN: "example.test", XTOKEN_SECRET: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY", XMPP_REQUIRE_TLS: "false" };

  test("off unless set to true", () => {
    expect(parseConfig({}, env).loopbackWebSocketIsSecure).toBe(false);
    expect(parseConfig({ loopbackWebSocketIsSecure: false }, env).loopbackWebSocketIsSecure).toBe(false);
    expect(parseConfig({ loopbackWebSocketIsSecure: true }, env).loopbackWebSocketIsSecure).toBe(true);
  });

  test.each([["true"], [1], [null], [["127.0.0.1"]]])("%j is refused with one line naming the setting", (value) => {
    expect(() => parseConfig({ loopbackWebSocketIsSecure: value }, env)).toThrow(new ConfigError("config: loopbackWebSocketIsSecure must be true or false"));
  });

  test("a misspelt name is refused, pointing at the right one", () => {
    expect(() => parseConfig({ loopbackWebsocketIsSecure: true }, env)).toThrow(/loopbackWebsocketIsSecure is not a known setting; did you mean "loopbackWebSocketIsSecure"\?/);
  });
});
