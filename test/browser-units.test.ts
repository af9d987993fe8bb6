/**
 * The browser-side pieces that do not need a browser: the Strophe.js X-TOKEN mechanism against
 * Strophe's real SASLMechanism base class (its browser build loads in Node) and the shared
 * vectors' SASL messages, and the WebSocket URL a page derives.
 */
import { describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { createStropheXToken, INSECURE_STREAM_CONDITION, isEncryptedService, STROPHE_X_TOKEN_PRIORITY } from "../src/web/browser/strophe-x-token.js";
import { websocketService } from "../src/web/browser/websocket-url.js";

interface StropheModule {
  Strophe: {
    SASLMechanism: never;
    SASLPlain: new () => { onChallenge(c: object): string; priority: number };
    SASLSHA256: new () => { priority: number };
  };
}
const { Strophe } = (await import(new URL("../node_modules/strophe.js/dist/strophe.esm.js", import.meta.url).href)) as StropheModule;
const XToken = createStropheXToken(Strophe.SASLMechanism);

interface Vector {
  name: string;
  jid: string;
  token: string;
  saslInitialResponse?: string;
}
const vectors = (JSON.parse(readFileSync(new URL("./fixtures/x-token.json", import.meta.url), "utf8")) as { cases: Vector[] }).cases;

/** What Strophe.Connection.connect(jid, token) leaves on the connection. */
function connectionFor(jid: string, token: unknown, service = "wss://chat.example.com/xmpp-websocket") {
  const [authcid, domain] = jid.split("@") as [string, string];
  return { authcid, authzid: jid, domain, pass: token, service };
}
/** Strophe base64-encodes the mechanism's binary string as it is. */
const base64 = (binary: string) => Buffer.from(binary, "latin1").toString("base64");

describe("Strophe.js X-TOKEN mechanism", () => {
  const withResponse = vectors.filter((v) => v.saslInitialResponse);

  test("is a Strophe SASLMechanism named X-TOKEN, client-first, ranked above SCRAM and PLAIN", () => {
    const mechanism = new XToken();
    expect(mechanism).toBeInstanceOf(Strophe.SASLMechanism as unknown as new () => object);
    expect(mechanism).toMatchObject({ mechname: "X-TOKEN", isClientFirst: true, priority: STROPHE_X_TOKEN_PRIORITY });
    expect(mechanism.priority).toBeGreaterThan(new Strophe.SASLPlain().priority);
    expect(mechanism.priority).toBeGreaterThan(new Strophe.SASLSHA256().priority);
  });

  test.each(withResponse.map((v) => [v.name, v] as const))("vector %s: the message the server expects", (_name, vector) => {
    const message = new XToken().onChallenge(connectionFor(vector.jid, vector.token) as never);
    expect(base64(message)).toBe(vector.saslInitialResponse);
  });

  test("the message has PLAIN's shape: the same bytes Strophe's own PLAIN sends for that password", () => {
    expect(withResponse.length).toBeGreaterThan(0);
    for (const v of withResponse) {
      const connection = connectionFor(v.jid, v.token);
      expect(new XToken().onChallenge(connection as never)).toBe(new Strophe.SASLPlain().onChallenge(connection));
    }
  });

  test("non-ASCII usernames are sent as UTF-8; another authzid is sent as given (the server refuses it)", () => {
    const token = "12345678901 c2ln";
    const mine = new XToken().onChallenge(connectionFor("jürgen@example.com", token) as never);
    expect(Buffer.from(mine, "latin1").toString("utf8")).toBe(`\0jürgen\0${token}`);
    const other = new XToken().onChallenge({ ...connectionFor("alice@example.com", token), authzid: "bob@example.com" } as never);
    expect(other).toBe(`bob@example.com\0alice\0${token}`);
  });

  test("only offered for a password that looks like a token, so Strophe falls back otherwise", () => {
    const mechanism = new XToken();
    expect(mechanism.test(connectionFor("alice@example.com", "12345678901 c2ln") as never)).toBe(true);
    expect(mechanism.test(connectionFor("alice@example.com", "no-space-password") as never)).toBe(false);
    expect(mechanism.test({ ...connectionFor("alice@example.com", "1 2"), authcid: null } as never)).toBe(false);
    expect(mechanism.test(connectionFor("alice@example.com", { ck: "scram keys" }) as never)).toBe(false);
  });
});

describe("Strophe.js X-TOKEN mechanism on an unencrypted stream", () => {
  const TOKEN = "8095230900000000000000000000000000000000 5RcT4djDOlY6ZFImCFkx8X8M+N01Z+wJ1Q1995+TkaY=";
  /** A connection that records what the mechanism reports, as Strophe's would reach connect()'s callback. */
  function recording(service: string) {
    const events: string[] = [];
    return {
      events,
      connection: {
        ...connectionFor("alice@example.com", TOKEN, service),
        _changeConnectStatus: (status: number, condition: string | null) => events.push(`status ${status} ${condition}`),
        disconnect: (reason?: string) => events.push(`disconnect ${reason}`),
      },
    };
  }

  test.each(["ws://127.0.0.1:5280/xmpp-websocket", "ws://chat.example.com/xmpp-websocket", "http://chat.example.com/http-bind", "/http-bind"])(
    "%s: the token is held back, the login ends with AUTHFAIL",
    (service) => {
      const { connection, events } = recording(service);
      const message = new XToken().onChallenge(connection as never);
      expect(message).toBe("");
      expect(events).toEqual([`status 4 ${INSECURE_STREAM_CONDITION}`, `disconnect ${INSECURE_STREAM_CONDITION}`]);
    },
  );

  test("still chosen when offered (test() says yes), so Strophe does not fall back to PLAIN with the same token", () => {
    expect(new XToken().test(connectionFor("alice@example.com", TOKEN, "ws://127.0.0.1:5280/xmpp-websocket") as never)).toBe(true);
  });

  test("wss:// and https:// BOSH send it; allowInsecure sends it over ws:// too", () => {
    for (const service of ["wss://chat.example.com/xmpp-websocket", "https://chat.example.com/http-bind"]) {
      const { connection, events } = recording(service);
      expect(new XToken().onChallenge(connection as never)).toContain(TOKEN);
      expect(events).toEqual([]);
    }
    const Allowed = createStropheXToken(Strophe.SASLMechanism, { allowInsecure: true });
    const { connection, events } = recording("ws://127.0.0.1:5280/xmpp-websocket");
    expect(new Allowed().onChallenge(connection as never)).toContain(TOKEN);
    expect(events).toEqual([]);
  });

  test("isEncryptedService", () => {
    expect(isEncryptedService("wss://a.example/ws")).toBe(true);
    expect(isEncryptedService("WSS://a.example/ws")).toBe(true);
    expect(isEncryptedService("https://a.example/bosh")).toBe(true);
    // Without a page (no location), a relative BOSH path cannot be resolved: not known to be encrypted.
    for (const service of ["ws://a.example/ws", "http://a.example/bosh", "/bosh", "", null, 42]) {
      expect([service, isEncryptedService(service)]).toEqual([service, false]);
    }
  });
});

describe("websocketService", () => {
  test("a path on the page's host: ws on http pages, wss on https pages", () => {
    expect(websocketService("/xmpp-websocket", { protocol: "http:", host: "127.0.0.1:5280" })).toBe("ws://127.0.0.1:5280/xmpp-websocket");
    expect(websocketService("/xmpp-websocket", { protocol: "https:", host: "chat.example.com" })).toBe("wss://chat.example.com/xmpp-websocket");
  });

  test("a full URL as given; anything else refused", () => {
    expect(websocketService("wss://xmpp.example.com/ws", { protocol: "https:", host: "app.example.com" })).toBe("wss://xmpp.example.com/ws");
    expect(() => websocketService("xmpp-websocket", { protocol: "http:", host: "h" })).toThrow(/not a WebSocket URL or path/);
    expect(() => websocketService("https://example.com/ws", { protocol: "http:", host: "h" })).toThrow(/not a WebSocket URL or path/);
  });
});
