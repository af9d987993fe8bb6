import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { xml, type Element } from "@xmpp/xml";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { client } from "@xmpp/client";
import { WebSocket } from "ws";
import { connectWithToken } from "../src/client/connect.js";
import { hearStreamHeaderEarly } from "../src/client/fast-login.js";
import { createTokenEndpoint } from "../src/web/endpoint/token-endpoint.js";
import { DOMAIN, OTHER_DOMAIN, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  // Clients log in over ws://127.0.0.1 too, counted as TLS-protected only by this setting.
  t = await startTestServer({ loopbackWebSocketIsSecure: true });
});
afterAll(async () => {
  await t.close();
});

function tcp() {
  return `xmpp://127.0.0.1:${t.server.ports.c2s}`;
}
function ws() {
  return `ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`;
}

async function loginError(options: Parameters<typeof connectWithToken>[0]): Promise<string> {
  try {
    const xmpp = await connectWithToken(options);
    await xmpp.stop();
    return "success";
  } catch (err) {
    return (err as { condition?: string }).condition ?? String(err);
  }
}

const SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl";

/**
 * Sends one hand-made `<auth mechanism='X-TOKEN'>` (base64 text as given) from a real @xmpp/client
 * over STARTTLS, in place of the mechanism's own message, and returns the server's answer as
 * "failure:<condition>" or the element's name.
 */
async function rawAuth(text: string): Promise<string> {
  let answer = "no answer";
  const xmpp = client({
    service: tcp(),
    domain: DOMAIN,
    credentials: async (_authenticate: unknown, _mechanisms: string[], _fast: unknown, entity: { sendReceive(e: unknown): Promise<Element> }) => {
      const reply = await entity.sendReceive(xml("auth", { xmlns: SASL_NS, mechanism: "X-TOKEN" }, text));
      answer = reply.is("failure", SASL_NS) ? `failure:${reply.getChildElements()[0]?.name}` : reply.name;
      throw new Error("raw auth done");
    },
  });
  xmpp.reconnect.stop();
  // xmpp.js 0.14 may miss the server's header after STARTTLS and time out later (docs/client.md).
  hearStreamHeaderEarly(xmpp as unknown as Parameters<typeof hearStreamHeaderEarly>[0]);
  xmpp.on("error", () => {});
  await expect(xmpp.start()).rejects.toThrow("raw auth done");
  // Our closing of the stream is answered by the server's (the stream it resolves with), also
  // right after <success/>, where this client leaves instead of restarting: not by xmpp.js giving
  // up after its 2 s timeout (undefined).
  const closedBy = (await xmpp.stop()) as Element | undefined;
  expect(closedBy?.name).toBe("stream:stream");
  return answer;
}

describe("@xmpp/client logs in with X-TOKEN", () => {
  test("over TCP with STARTTLS, bound JID is the token's user", async () => {
    const xmpp = await connectWithToken({ service: tcp(), domain: DOMAIN, username: "alice", token: t.mint("alice") });
    expect(xmpp.jid?.bare().toString()).toBe(`alice@${DOMAIN}`);
    expect(xmpp.jid?.resource).toBeTruthy();
    await xmpp.stop();
  });

  test("over WebSocket", async () => {
    const xmpp = await connectWithToken({ service: ws(), domain: DOMAIN, username: "bob", token: t.mint("bob"), resource: "web", allowInsecure: true });
    // With Bind 2 (SASL2) the resource asked for is the tag: the server adds a unique part to it.
    expect(xmpp.jid?.toString()).toMatch(new RegExp(`^bob@${DOMAIN.replace(".", "\\.")}/web\\.[0-9a-f]+$`));
    await xmpp.stop();
  });

  test("the same token a second time is not-authorized", async () => {
    const token = t.mint("carol");
    const first = await connectWithToken({ service: tcp(), domain: DOMAIN, username: "carol", token });
    await first.stop();
    expect(await loginError({ service: ws(), domain: DOMAIN, username: "carol", token, allowInsecure: true })).toBe("not-authorized");
  });

  test("a token for another user is not-authorized", async () => {
    expect(await loginError({ service: tcp(), domain: DOMAIN, username: "mallory", token: t.mint("alice") })).toBe("not-authorized");
  });

  test("the same localpart on another hosted domain is not-authorized", async () => {
    const token = t.mint("alice", { domain: DOMAIN });
    expect(await loginError({ service: tcp(), domain: OTHER_DOMAIN, username: "alice", token })).toBe("not-authorized");
  });

  test("an authzid of another user is invalid-authzid", async () => {
    expect(
      await loginError({ service: tcp(), domain: DOMAIN, username: "alice", token: t.mint("alice"), authzid: `bob@${DOMAIN}` }),
    ).toBe("invalid-authzid");
  });

  test("an authzid equal to the user's bare JID is accepted", async () => {
    const xmpp = await connectWithToken({ service: tcp(), domain: DOMAIN, username: "alice", token: t.mint("alice"), authzid: `alice@${DOMAIN}` });
    expect(xmpp.jid?.bare().toString()).toBe(`alice@${DOMAIN}`);
    await xmpp.stop();
  });

  test("a token without a space is malformed-request, not a hang", async () => {
    const token = t.mint("alice").replace(" ", "");
    expect(await loginError({ service: tcp(), domain: DOMAIN, username: "alice", token })).toBe("malformed-request");
  });

  test("bad base64 is incorrect-encoding", async () => {
    expect(await rawAuth("!!not*base64!!")).toBe("failure:incorrect-encoding");
  });

  test("a message without NUL separators is malformed-request", async () => {
    const token = t.mint("alice");
    expect(await rawAuth(Buffer.from(`alice ${token}`).toString("base64"))).toBe("failure:malformed-request");
  });

  test("a hand-made correct message succeeds (the raw path itself works)", async () => {
    const token = t.mint("alice");
    expect(await rawAuth(Buffer.from(`\0alice\0${token}`).toString("base64"))).toBe("success");
  });

  test("a reconnect logs in again without a new token: FAST, where the server offers it (test/client-fast.test.ts for the rest)", async () => {
    const issued: string[] = [];
    const xmpp = await connectWithToken({
      service: tcp(),
      domain: DOMAIN,
      username: "erin",
      resource: "phone",
      token: () => {
        issued.push(t.mint("erin"));
        return issued[issued.length - 1]!;
      },
    });
    expect(issued).toHaveLength(1);
    (xmpp.reconnect as unknown as { delay: number }).delay = 10;
    const reconnected = new Promise<void>((resolve) => xmpp.once("online", () => resolve()));
    // Drop the connection without closing the stream, as a network failure would.
    (xmpp as unknown as { socket: { socket: { destroy(): void } } }).socket.socket.destroy();
    await reconnected;
    expect(issued).toHaveLength(1);
    expect(xmpp.jid?.toString()).toMatch(new RegExp(`^erin@${DOMAIN.replace(".", "\\.")}/phone\\.`));
    xmpp.reconnect.stop();
    await xmpp.stop();
  });

  test("two clients exchange a message", async () => {
    const alice = await connectWithToken({ service: tcp(), domain: DOMAIN, username: "alice", token: t.mint("alice") });
    const bob = await connectWithToken({ service: ws(), domain: DOMAIN, username: "bob", token: t.mint("bob"), allowInsecure: true });
    const received = new Promise<{ from: string; body: string }>((resolve) => {
      bob.on("stanza", (stanza: { is(n: string): boolean; attrs: Record<string, string>; getChildText(n: string): string | null }) => {
        if (stanza.is("message")) resolve({ from: stanza.attrs.from!, body: stanza.getChildText("body") ?? "" });
      });
    });
    // bob is available: a message to the bare JID of an account with no available session waits offline (XEP-0160).
    await bob.send(xml("presence"));
    await alice.send(xml("message", { to: `bob@${DOMAIN}`, type: "chat" }, xml("body", {}, "hello bob")));
    const message = await received;
    expect(message.body).toBe("hello bob");
    expect(message.from).toBe(alice.jid?.toString());
    await Promise.all([alice.stop(), bob.stop()]);
  });

  test("200 concurrent logins all succeed", async () => {
    const clients = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        // 200 handshakes at once on a busy 2-core machine can take longer than xmpp.js's 2 s per step.
        connectWithToken({ service: i % 2 ? ws() : tcp(), domain: DOMAIN, username: `user${i}`, token: t.mint(`user${i}`), allowInsecure: i % 2 === 1, timeout: 30_000 }),
      ),
    );
    expect(new Set(clients.map((c) => c.jid?.bare().toString())).size).toBe(200);
    await Promise.all(clients.map((c) => c.stop()));
  }, 120_000);

  test("the Converse.js path: credentials from the endpoint, then SASL PLAIN with the token as password", async () => {
    // What Converse.js does with `credentials_url`: GET it (with cookies), then log in with PLAIN.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
    const endpoint = createTokenEndpoint({ authenticate: () => `dora@${DOMAIN}`, keys: t.keys[DOMAIN]! });
    const web = http.createServer(endpoint);
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    try {
      for (const service of [ws(), tcp()]) {
        const credentials = (await (await fetch(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`)).json()) as { jid: string; password: string };
        const [username] = credentials.jid.split("@");
        const xmpp = client({
          service,
          domain: DOMAIN,
          credentials: (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) => {
            expect(mechanisms).toContain("PLAIN"); // offered: STARTTLS done, or loopback WebSocket
            return authenticate({ username, password: credentials.password }, "PLAIN");
          },
        });
        xmpp.on("error", () => {});
        await xmpp.start();
        expect(xmpp.jid?.bare().toString()).toBe(`dora@${DOMAIN}`);
        await xmpp.stop();
      }
    } finally {
      await new Promise((r) => web.close(r));
    }
  });
});
