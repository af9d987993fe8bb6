import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import net from "node:net";
import tls from "node:tls";
import { TlsTickets } from "../src/server/transport/tls-tickets.js";
import { DOMAIN, startTestServer, streamHeader, testCertificate, type TestServer } from "./helpers/server.js";

interface Handshake {
  reused: boolean;
  session: Buffer | undefined;
}

/** Waits for `text` in what the socket receives (bounded). */
function waitFor(socket: net.Socket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = "";
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${text}: ${received}`)), 10_000);
    const onData = (d: Buffer) => {
      received += d.toString();
      if (received.includes(text)) done();
    };
    function done(err?: Error) {
      clearTimeout(timer);
      socket.off("data", onData);
      if (err) reject(err);
      else resolve();
    }
    socket.on("data", onData);
  });
}

/** A TLS handshake on `socket` (or a new connection), then a stream header, so the TLS 1.3 ticket has arrived. */
async function secure(options: tls.ConnectionOptions, session?: Buffer): Promise<Handshake> {
  const socket = tls.connect({ ...options, servername: DOMAIN, session });
  let ticket: Buffer | undefined;
  socket.on("session", (s: Buffer) => (ticket = s));
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const features = waitFor(socket, "</stream:features>");
  socket.write(streamHeader());
  await features;
  const reused = socket.isSessionReused();
  socket.destroy();
  return { reused, session: ticket };
}

async function starttls(port: number, ca: string, session?: Buffer): Promise<Handshake> {
  const plain = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => plain.once("connect", resolve));
  let wait = waitFor(plain, "</stream:features>");
  plain.write(streamHeader());
  await wait;
  wait = waitFor(plain, "<proceed");
  plain.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await wait;
  return secure({ socket: plain, ca: [ca] }, session);
}

describe("TLS session resumption", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ directTls: true });
  });
  afterAll(() => server.close());

  test("a client that reconnects over STARTTLS with its ticket resumes the session", async () => {
    const first = await starttls(server.server.ports.c2s!, server.caCert);
    expect(first.reused).toBe(false);
    expect(first.session).toBeInstanceOf(Buffer);
    const second = await starttls(server.server.ports.c2s!, server.caCert, first.session);
    expect(second.reused).toBe(true);
  });

  test("a client that reconnects over direct TLS with its ticket resumes the session", async () => {
    const options = { port: server.server.ports.directTls!, host: "127.0.0.1", ca: [server.caCert] };
    const first = await secure(options);
    expect(first.reused).toBe(false);
    const second = await secure(options, first.session);
    expect(second.reused).toBe(true);
  });

  test("a ticket from another server (another ticket key) gets a full handshake", async () => {
    const other = await startTestServer();
    try {
      const first = await starttls(other.server.ports.c2s!, other.caCert);
      const elsewhere = await starttls(server.server.ports.c2s!, server.caCert, first.session);
      expect(elsewhere.reused).toBe(false);
    } finally {
      await other.close();
    }
  });
});

describe("TlsTickets key rotation", () => {
  test("after a rotation, tickets issued under the old key get a full handshake (STARTTLS context and direct TLS)", async () => {
    const pem = await testCertificate();
    const tickets = new TlsTickets(pem);
    // STARTTLS: a plain server that upgrades with whatever context is current, as the c2s listener does.
    const upgrading = net.createServer((socket) => {
      const secured = new tls.TLSSocket(socket, { isServer: true, secureContext: tickets.context });
      secured.on("data", () => secured.write("<stream:features></stream:features>"));
      secured.on("error", () => {});
    });
    const direct = tickets.createServer((socket) => {
      socket.on("data", () => socket.write("<stream:features></stream:features>"));
      socket.on("error", () => {});
    });
    await Promise.all([upgrading, direct].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
    try {
      const options = (s: net.Server) => ({ port: (s.address() as net.AddressInfo).port, host: "127.0.0.1", ca: [pem.cert] });
      for (const listener of [upgrading, direct]) {
        const first = await secure(options(listener));
        expect((await secure(options(listener), first.session)).reused).toBe(true);
        tickets.rotate();
        expect((await secure(options(listener), first.session)).reused).toBe(false);
      }
    } finally {
      tickets.stop();
      await Promise.all([upgrading, direct].map((s) => new Promise((r) => s.close(r))));
    }
  });
});
