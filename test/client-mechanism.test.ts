import { describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { client } from "@xmpp/client";
// @ts-expect-error saslmechanisms ships no types
import SASLFactory from "saslmechanisms";
import { XTokenMechanism, useXToken } from "../src/client/x-token-mechanism.js";

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

describe("XTokenMechanism", () => {
  test("registers under its own name in a saslmechanisms factory and is client-first", () => {
    const factory = new SASLFactory();
    factory.use(XTokenMechanism);
    const mech = created(factory);
    expect(mech.name).toBe("X-TOKEN");
    expect(mech.clientFirst).toBe(true);
    expect(factory.create(["PLAIN"])).toBeNull();
  });

  test("the message is empty authzid, NUL, username, NUL, token", () => {
    const bytes = Buffer.from(new XTokenMechanism().response({ username: "alice", password: TOKEN }), "utf8");
    expect(bytes.equals(Buffer.concat([Buffer.from([0]), Buffer.from("alice"), Buffer.from([0]), Buffer.from(TOKEN)]))).toBe(true);
  });

  test("an authzid, when given, is the first field", () => {
    const message = new XTokenMechanism().response({ username: "alice", password: TOKEN, authzid: "alice@example.com" });
    expect(message.split("\0")).toEqual(["alice@example.com", "alice", TOKEN]);
  });

  test("non-ASCII usernames are sent as given (the server prepares them); xmpp.js base64-encodes UTF-8", () => {
    const message = new XTokenMechanism().response({ username: "Jürgen", password: TOKEN });
    expect(Buffer.from(message, "utf8").toString("base64")).toBe(Buffer.from(`\0Jürgen\0${TOKEN}`, "utf8").toString("base64"));
  });

  test("a missing username or token is a clear error, not an empty field on the wire", () => {
    expect(() => new XTokenMechanism().response({ username: "", password: TOKEN })).toThrow(/username is required/);
    expect(() => new XTokenMechanism().response({ username: "alice", password: "" })).toThrow(/token is required/);
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
