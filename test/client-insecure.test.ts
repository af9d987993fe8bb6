/**
 * Clients fail closed: the X-TOKEN client sends a token only on an encrypted stream, unless the
 * caller passes allowInsecure. A real STARTTLS-stripping proxy on 127.0.0.1 sits in front of the
 * real server (which offers STARTTLS without requiring it, as a careless one would).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { client, xml } from "@xmpp/client";
import { connectWithToken } from "../src/client/connect.js";
import { InsecureStreamError, useXToken } from "../src/client/x-token-mechanism.js";
import { DOMAIN, startTestServer, type TestServer } from "./helpers/server.js";
import { startStrippingProxy, type StrippingProxy } from "./helpers/stripping-proxy.js";

let t: TestServer;
let proxy: StrippingProxy | null = null;
beforeAll(async () => {
  t = await startTestServer({ requireTls: false, directTls: true });
});
afterEach(async () => {
  await proxy?.close();
  proxy = null;
});
afterAll(async () => {
  await t.close();
});

async function through(mode: "strip" | "pass"): Promise<string> {
  proxy = await startStrippingProxy(t.server.ports.c2s!, mode);
  return `xmpp://127.0.0.1:${proxy.port}`;
}

/** Every form in which a token could cross the wire: as is, and inside the base64 SASL message. */
function expectNotSent(bytes: string, token: string, username = "alice"): void {
  expect(bytes).not.toContain(token);
  expect(bytes).not.toContain(Buffer.from(`\0${username}\0${token}`).toString("base64"));
  expect(bytes).not.toContain(token.slice(0, 40)); // otp and nonce alone
}

describe("the X-TOKEN client and a STARTTLS-stripping man-in-the-middle", () => {
  test("control: through the proxy unchanged, STARTTLS happens and the login works; the token is not readable on the wire", async () => {
    const service = await through("pass");
    const token = t.mint("alice");
    const xmpp = await connectWithToken({ service, domain: DOMAIN, username: "alice", token });
    expect(xmpp.jid?.toString()).toMatch(`alice@${DOMAIN}/`);
    await xmpp.stop();
    expect(proxy!.clientBytes()).toContain("<starttls");
    expectNotSent(proxy!.clientBytes(), token);
  });

  test("stripped: the login fails with InsecureStreamError, the token function is never called, nothing is sent", async () => {
    const service = await through("strip");
    const token = t.mint("alice");
    let fetched = 0;
    const failure = connectWithToken({ service, domain: DOMAIN, username: "alice", token: () => (fetched++, token) });
    await expect(failure).rejects.toBeInstanceOf(InsecureStreamError);
    await expect(failure).rejects.toMatchObject({ condition: "encryption-required" });
    expect(fetched).toBe(0);
    const bytes = proxy!.clientBytes();
    expect(bytes).toContain("<stream:stream"); // the proxy did carry the stream...
    expect(bytes).not.toContain("<starttls"); // ...whose features it had stripped
    expect(bytes).not.toContain("<auth");
    expectNotSent(bytes, token);
    // The token is still good: nothing used it up.
    const online = await connectWithToken({ service: `xmpp://127.0.0.1:${t.server.ports.c2s}`, domain: DOMAIN, username: "alice", token });
    await online.stop();
  });

  test("stripped, a token string: the same refusal", async () => {
    const service = await through("strip");
    const token = t.mint("bob");
    await expect(connectWithToken({ service, domain: DOMAIN, username: "bob", token })).rejects.toBeInstanceOf(InsecureStreamError);
    expectNotSent(proxy!.clientBytes(), token, "bob");
  });

  test("stripped, a client built by hand with useXToken (the README's way): the mechanism itself refuses", async () => {
    const service = await through("strip");
    const token = t.mint("carol");
    const xmpp = client({
      service,
      domain: DOMAIN,
      credentials: (authenticate: (c: object, m: string) => Promise<void>) => authenticate({ username: "carol", password: token }, "X-TOKEN"),
    });
    useXToken(xmpp);
    xmpp.reconnect.stop();
    xmpp.on("error", () => {});
    await expect(xmpp.start()).rejects.toBeInstanceOf(InsecureStreamError);
    await xmpp.stop().catch(() => {});
    expect(proxy!.clientBytes()).not.toContain("<auth");
    expectNotSent(proxy!.clientBytes(), token, "carol");
  });

  test("a man-in-the-middle who appears later: the reconnect refuses too, and fetches no token", async () => {
    const service = await through("pass");
    const issued: string[] = [];
    const xmpp = await connectWithToken({ service, domain: DOMAIN, username: "gina", token: () => (issued.push(t.mint("gina")), issued.at(-1)!) });
    expect(issued).toHaveLength(1);
    proxy!.setMode("strip");
    const sentBefore = proxy!.clientBytes().length;
    (xmpp.reconnect as unknown as { delay: number }).delay = 10;
    const refused = new Promise<unknown>((resolve) => xmpp.on("error", resolve));
    // Drop the connection as a network failure would; xmpp.js reconnects through the proxy.
    (xmpp as unknown as { socket: { socket: { destroy(): void } } }).socket.socket.destroy();
    expect(await refused).toBeInstanceOf(InsecureStreamError);
    xmpp.reconnect.stop();
    await xmpp.stop().catch(() => {});
    expect(issued).toHaveLength(1);
    expect(proxy!.clientBytes().slice(sentBefore)).not.toContain("<auth");
  });

  test("stripped, with allowInsecure: true, it logs in, and the proxy reads the token (what the default prevents)", async () => {
    const service = await through("strip");
    const token = t.mint("dave");
    const xmpp = await connectWithToken({ service, domain: DOMAIN, username: "dave", token, allowInsecure: true });
    expect(xmpp.jid?.bare().toString()).toBe(`dave@${DOMAIN}`);
    await xmpp.send(xml("presence"));
    await xmpp.stop();
    expect(proxy!.clientBytes()).toContain(Buffer.from(`\0dave\0${token}`).toString("base64"));
  });
});

describe("encrypted streams need nothing", () => {
  test("direct TLS (xmpps://) logs in without allowInsecure", async () => {
    const xmpp = await connectWithToken({ service: `xmpps://127.0.0.1:${t.server.ports.directTls}`, domain: DOMAIN, username: "frank", token: t.mint("frank") });
    expect(xmpp.jid?.bare().toString()).toBe(`frank@${DOMAIN}`);
    await xmpp.stop();
  });
});

describe("WebSocket without TLS", () => {
  const ws = () => `ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`;

  test("ws:// on loopback is no exception: refused unless allowInsecure, and no token is fetched", async () => {
    let fetched = 0;
    const token = () => (fetched++, t.mint("erin"));
    await expect(connectWithToken({ service: ws(), domain: DOMAIN, username: "erin", token })).rejects.toBeInstanceOf(InsecureStreamError);
    expect(fetched).toBe(0);
    expect(t.logLines.filter((line) => line.includes("erin@"))).toEqual([]);
    const xmpp = await connectWithToken({ service: ws(), domain: DOMAIN, username: "erin", token, allowInsecure: true });
    expect(fetched).toBe(1);
    await xmpp.stop();
  });
});
