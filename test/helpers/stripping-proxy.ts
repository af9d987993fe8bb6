/**
 * A man-in-the-middle on 127.0.0.1: a TCP proxy in front of a real server that removes
 * `<starttls/>` from the server's first stream features ("strip"), or passes everything through
 * ("pass"). It records every byte the client sends, so a test can tell whether a token crossed.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface StrippingProxy {
  port: number;
  /** Everything clients sent through the proxy, as latin1 text (TLS records stay unreadable). */
  clientBytes(): string;
  /** Changes what the proxy does to connections made from now on. */
  setMode(mode: "strip" | "pass"): void;
  close(): Promise<void>;
}

const STARTTLS = /<starttls\b[^>]*?(?:\/>|>[\s\S]*?<\/starttls>)/g;
const FEATURES_END = "</stream:features>";
/** The proxy holds the server's words until the first features end; no more than this. */
const MAX_HELD_BYTES = 64 * 1024;

export async function startStrippingProxy(targetPort: number, mode: "strip" | "pass"): Promise<StrippingProxy> {
  const sent: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  let current = mode;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    for (const socket of [client, upstream]) {
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      sent.push(chunk);
      upstream.write(chunk);
    });
    let held = current === "strip" ? "" : null;
    upstream.on("data", (chunk: Buffer) => {
      if (held === null) return void client.write(chunk);
      held += chunk.toString("latin1");
      const end = held.indexOf(FEATURES_END);
      if (end === -1) {
        if (held.length > MAX_HELD_BYTES) client.destroy();
        return;
      }
      const features = held.slice(0, end + FEATURES_END.length);
      client.write(Buffer.from(features.replace(STARTTLS, "") + held.slice(end + FEATURES_END.length), "latin1"));
      held = null;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    clientBytes: () => Buffer.concat(sent).toString("latin1"),
    setMode: (next) => void (current = next),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
