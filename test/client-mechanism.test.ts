import { describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { client } from "@xmpp/client";
// @ts-expect-error saslmechanisms ships no types
import SASLFactory from "saslmechanisms";
import { InsecureStreamError, XTokenMechanism, isStreamEncrypted, useXToken, xTokenMechanismFor } from "../src/client/x-token-mechanism.js";

const TOKEN = "8095230900000000000000000000000000000000 5RcT4djDOlY6ZFImCFkx8X8M+N01Z+wJ1Q1995+TkaY=";

interface Mechanism {
  name: string;
  clientFirst: boolean;
  response(credentials: object): string;
}

function created(factory: { create(names: string[]): Mechanism | null }): Mechanism {
  const mech = factory.create(["X-TOKEN"]);
  if (!mech) throw new Error("X-TOKEN not registered");
  return mech;
}

/** The mechanism as bound to a client whose stream is TLS (what useXToken registers). */
const OverTls = xTokenMechanismFor({ socket: { secure: true } });

describe("XTokenMechanism", () => {
  test("registers under its own name in a saslmechanisms factory and is client-first", () => {
    const factory = new SASLFactory();
    factory.use(OverTls);
    const mech = created(factory);
    expect(mech.name).toBe("X-TOKEN");
    expect(mech.clientFirst).toBe(true);
    expect(factory.create(["PLAIN"])).toBeNull();
  });

  test("the message is empty authzid, NUL, username, NUL, token", () => {
    const bytes = Buffer.from(new OverTls().response({ username: "alice", password: TOKEN }), "utf8");
    expect(bytes.equals(Buffer.concat([Buffer.from([0]), Buffer.from("alice"), Buffer.from([0]), Buffer.from(TOKEN)]))).toBe(true);
  });

  test("an authzid, when given, is the first field", () => {
    const message = new OverTls().response({ username: "alice", password: TOKEN, authzid: "alice@example.com" });
    expect(message.split("\0")).toEqual(["alice@example.com", "alice", TOKEN]);
  });

  test("non-ASCII usernames are sent as given (the server prepares them); xmpp.js base64-encodes UTF-8", () => {
    const message = new OverTls().response({ username: "Jürgen", password: TOKEN });
    expect(Buffer.from(message, "utf8").toString("base64")).toBe(Buffer.from(`\0Jürgen\0${TOKEN}`, "utf8").toString("base64"));
  });

  test("a missing username or token is a clear error, not an empty field on the wire", () => {
    expect(() => new OverTls().response({ username: "", password: TOKEN })).toThrow(/username is required/);
    expect(() => new OverTls().response({ username: "alice", password: "" })).toThrow(/token is required/);
  });

  test("the bare class, bound to no stream, never hands out the token (fails closed)", () => {
    expect(() => new XTokenMechanism().response({ username: "alice", password: TOKEN })).toThrow(InsecureStreamError);
    const factory = new SASLFactory();
    factory.use(XTokenMechanism);
    expect(() => created(factory).response({ username: "alice", password: TOKEN })).toThrow(/useXToken/);
  });

  test.each([
    ["no socket (not connected)", null, false],
    ["plain TCP (net.Socket has no secure flag)", {}, false],
    ["TLS: xmpps:// or after STARTTLS (@xmpp/tls's socket)", { secure: true }, true],
    ["ws:// to loopback, which @xmpp/websocket marks secure", { secure: true, url: "ws://127.0.0.1:5280/xmpp-websocket" }, false],
    ["ws:// elsewhere", { secure: false, url: "ws://chat.example.com/xmpp-websocket" }, false],
    ["wss://", { secure: true, url: "wss://chat.example.com/xmpp-websocket" }, true],
    ["WSS:// in capitals", { secure: true, url: "WSS://chat.example.com/xmpp-websocket" }, true],
    ["a truthy secure that is not true", { secure: "yes" }, false],
  ])("stream encrypted? %s -> %s", (_what, socket, encrypted) => {
    expect(isStreamEncrypted({ socket })).toBe(encrypted);
    const Bound = xTokenMechanismFor({ socket });
    if (encrypted) expect(new Bound().response({ username: "alice", password: TOKEN })).toContain(TOKEN);
    else expect(() => new Bound().response({ username: "alice", password: TOKEN })).toThrow(InsecureStreamError);
    // allowInsecure is the one explicit way past the check.
    expect(new (xTokenMechanismFor({ socket }, { allowInsecure: true }))().response({ username: "alice", password: TOKEN })).toContain(TOKEN);
  });

  test("the mechanism looks at its client's socket at the time of the exchange (after STARTTLS swapped it)", () => {
    const entity: { socket: { secure?: boolean } | null } = { socket: {} };
    const Bound = xTokenMechanismFor(entity);
    expect(() => new Bound().response({ username: "alice", password: TOKEN })).toThrow(InsecureStreamError);
    entity.socket = { secure: true };
    expect(new Bound().response({ username: "alice", password: TOKEN })).toContain(TOKEN);
  });

  test("useXToken adds X-TOKEN to a real @xmpp/client client, after the built-in mechanisms", () => {
    const xmpp = client({ service: "xmpp://127.0.0.1:1", domain: "example.com" }) as unknown as {
      saslFactory: { _mechs: { name: string }[]; use(m: unknown): unknown };
      reconnect: { stop(): void };
    };
    xmpp.reconnect.stop();
    expect(xmpp.saslFactory._mechs.map((m) => m.name)).not.toContain("X-TOKEN");
    useXToken(xmpp);
    expect(xmpp.saslFactory._mechs.map((m) => m.name)).toContain("X-TOKEN");
    expect(created(xmpp.saslFactory as never).name).toBe("X-TOKEN");
  });

  test("the mechanism module imports nothing, so browser bundles can use it as is", () => {
    const source = readFileSync(new URL("../src/client/x-token-mechanism.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/^\s*import\s/m);
    expect(source).not.toMatch(/require\(/);
  });
});
