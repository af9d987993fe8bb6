/**
 * A stream on which the server offers nothing to log in with (a server that requires TLS, reached
 * over ws://) fails at once, with a message that says what to change, instead of waiting for the
 * server's authentication timeout (30 s). Real server over a real WebSocket; a raw TCP server for
 * a server that sends empty features and says nothing else.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import net from "node:net";
import { connectWithToken, LoginNotOfferedError } from "../src/client/index.js";
import { DOMAIN, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  // As shipped: TLS required, a loopback WebSocket not counted as TLS-protected.
  t = await startTestServer({ requireTls: true, loopbackWebSocketIsSecure: false });
});
afterAll(async () => {
  await t.close();
});

const HINTS = [/allowInsecure: true/, /loopbackWebSocketIsSecure/, /wss:\/\//];

describe("ws:// to a server that requires TLS", () => {
  test.each([false, true])("fails at the server's refusal with LoginNotOfferedError (allowInsecure: %p), naming what to change", async (allowInsecure) => {
    let fetched = 0;
    const failure = connectWithToken({
      service: `ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`,
      domain: DOMAIN,
      username: "alice",
      token: () => (fetched++, t.mint("alice")),
      allowInsecure,
    });
    const err = await failure.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(LoginNotOfferedError);
    expect(err).toMatchObject({ name: "LoginNotOfferedError", condition: "encryption-required" });
    for (const hint of HINTS) expect(err!.message).toMatch(hint);
    // Caused by the server's stream error, whose words it quotes: not by a timer of either side.
    expect(err!.cause).toMatchObject({ name: "StreamError", condition: "policy-violation" });
    expect(err!.message).toContain('"TLS is required: connect over wss://');
    expect(fetched).toBe(0);
  });
});

describe("a server that sends features offering nothing, and then says nothing", () => {
  let fake: net.Server;
  let port: number;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    fake = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.once("data", () =>
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='${DOMAIN}' version='1.0'>` +
            "<stream:features/>",
        ),
      );
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    port = (fake.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => fake.close(resolve));
  });

  test("the client gives up at once with LoginNotOfferedError", async () => {
    const err = await connectWithToken({ service: `xmpp://127.0.0.1:${port}`, domain: DOMAIN, username: "alice", token: "unused", timeout: 10_000 }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(LoginNotOfferedError);
    for (const hint of HINTS) expect(err!.message).toMatch(hint);
    // Raised on reading the features (no cause, no server words: this server never says more).
    // Waiting instead would end in the client's 10 s timeout, a TimeoutError.
    expect(err!.cause).toBeUndefined();
    expect(err!.message).not.toContain(': "');
  });
});
