/** The `components` (hosted by our server) and `tokenComponent` (x-token component) configuration sections. */
import { describe, expect, test } from "@jest/globals";
import { ConfigError, parseConfig } from "../src/app/config/load.js";

const KEY = { tokenSecret: "a-config-secret-value", otpSeed: "XVGR73KMZH2M4XMY" };
const BASE = { domains: { "example.com": { keys: [KEY] } }, requireTls: false };
const SECRET = "component-secret-never-printed";
const files: Record<string, string> = { "component-secret": `${SECRET}\n` };
const reader = (path: string) => {
  if (path in files) return files[path]!;
  throw Object.assign(new Error("missing"), { code: "ENOENT" });
};

function parse(extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  return parseConfig({ ...BASE, ...extra }, env, reader);
}

function error(extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(extra, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain(SECRET);
    return (err as Error).message;
  }
  throw new Error("accepted");
}

describe("components hosted by the server", () => {
  test("none by default: no component listener", () => {
    const config = parse({});
    expect(config.components).toEqual({});
    expect(config.listeners.componentPort).toBeNull();
  });

  test("a component turns the listener on, on loopback 5347, whatever listeners.host says", () => {
    const config = parse({ listeners: { host: "0.0.0.0" }, components: { "Tokens.Example.com": { secretFile: "component-secret" } } });
    expect(config.components).toEqual({ "tokens.example.com": { secret: SECRET } });
    expect(config.listeners).toMatchObject({ host: "0.0.0.0", componentHost: "127.0.0.1", componentPort: 5347 });
  });

  test("port and host from the file, port from XMPP_COMPONENT_PORT, secret from the environment", () => {
    const config = parse(
      { listeners: { componentHost: "10.1.2.3", componentPort: 15347 }, components: { "tokens.example.com": { secretEnv: "TOKENS_SECRET" } } },
      { TOKENS_SECRET: SECRET, XMPP_COMPONENT_PORT: "0" },
    );
    expect(config.listeners).toMatchObject({ componentHost: "10.1.2.3", componentPort: 0 });
    expect(config.components!["tokens.example.com"]!.secret).toBe(SECRET);
  });

  test.each([
    [{ components: { "example.com": { secret: SECRET } } }, /components\["example.com"\] is also a hosted domain/],
    [{ components: { "tokens.example.com": {} } }, /needs exactly one of secret, secretFile, secretEnv/],
    [{ components: { "tokens.example.com": { secret: SECRET, secretFile: "component-secret" } } }, /needs exactly one of/],
    [{ components: { "tokens.example.com": { secretFile: "nope" } } }, /cannot read nope \(ENOENT\)/],
    [{ components: { "tokens.example.com": { secret: SECRET, port: 1 } } }, /\.port is not a known setting/],
    [{ components: { "bad domain!": { secret: SECRET } } }, /is not a valid domain/],
    [{ components: { "a.example": { secret: SECRET }, "A.example": { secret: SECRET } } }, /same domain as another entry/],
    [{ components: [] }, /components must be an object/],
    [{ listeners: { componentPort: 70000 } }, /listeners.componentPort must be an integer/],
  ])("refused: %j", (extra, message) => {
    expect(error(extra)).toMatch(message);
  });
});

describe("tokenComponent (x-token component)", () => {
  test("absent: null", () => {
    expect(parse({}).tokenComponent).toBeNull();
  });

  test("a full section", () => {
    const config = parse({
      tokenComponent: {
        service: "xmpp://127.0.0.1:5347",
        domain: "Tokens.Example.com",
        secretFile: "component-secret",
        admins: ["Boss@Example.com"],
        allowed: ["example.com", "Guest@Other.example"],
        rateLimit: { max: 5, perSeconds: 30 },
        websocketUrl: "wss://chat.example.com/xmpp-websocket",
        loginUrl: "https://chat.example.com/login#jid={jid}&token={token}",
      },
    });
    expect(config.tokenComponent).toEqual({
      service: "xmpp://127.0.0.1:5347",
      domain: "tokens.example.com",
      secret: SECRET,
      admins: ["boss@example.com"],
      allowed: ["example.com", "guest@other.example"],
      rateLimit: { max: 5, perSeconds: 30 },
      websocketUrl: "wss://chat.example.com/xmpp-websocket",
      loginUrl: "https://chat.example.com/login#jid={jid}&token={token}",
    });
  });

  test("from the environment alone; the environment wins over the file", () => {
    const env = { XTOKEN_COMPONENT_SERVICE: "xmpp://localhost:15347", XTOKEN_COMPONENT_DOMAIN: "tokens.example.com", XTOKEN_COMPONENT_SECRET: SECRET };
    expect(parse({}, env).tokenComponent).toMatchObject({ service: "xmpp://localhost:15347", domain: "tokens.example.com", secret: SECRET, admins: [], allowed: null, rateLimit: { max: 10, perSeconds: 60 } });
    const both = parse({ tokenComponent: { service: "xmpp://127.0.0.1:5347", domain: "t.example.com", secret: "file-secret" } }, env);
    expect(both.tokenComponent).toMatchObject({ service: "xmpp://localhost:15347", domain: "tokens.example.com", secret: SECRET });
  });

  const ok = { service: "xmpp://127.0.0.1:5347", domain: "tokens.example.com", secret: SECRET };
  test.each([
    [{ ...ok, service: "ws://127.0.0.1:5347" }, /service must be xmpp:\/\/host:port/],
    [{ ...ok, service: "xmpp://127.0.0.1" }, /service must be xmpp:\/\/host:port/],
    [{ ...ok, domain: "example.com" }, /is one of the user domains/],
    [{ service: ok.service, domain: ok.domain }, /needs exactly one of secret, secretFile, secretEnv/],
    [{ ...ok, secret: undefined, secretEnv: "UNSET_VARIABLE" }, /UNSET_VARIABLE is not set/],
    [{ ...ok, admins: ["not@@valid"] }, /admins\[0\] is not a valid bare JID/],
    [{ ...ok, admins: "boss@example.com" }, /admins must be a list/],
    [{ ...ok, allowed: ["bad domain!"] }, /allowed\[0\]/],
    [{ ...ok, rateLimit: { max: 0 } }, /rateLimit.max must be an integer/],
    [{ ...ok, rateLimit: { burst: 3 } }, /rateLimit.burst is not a known setting/],
    [{ ...ok, websocketUrl: "https://x.example" }, /websocketUrl must be a ws:\/\/ or wss:\/\/ URL/],
    [{ ...ok, loginUrl: "https://x.example/login" }, /loginUrl must contain \{token\}/],
    [{ ...ok, loginUrl: "javascript:{token}" }, /loginUrl must be a http:\/\/ or https:\/\/ URL/],
    [{ ...ok, port: 5347 }, /tokenComponent.port is not a known setting/],
  ])("refused: %j", (section, message) => {
    expect(error({ tokenComponent: section })).toMatch(message);
  });
});
