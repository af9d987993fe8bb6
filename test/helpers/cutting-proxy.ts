/**
 * A TCP proxy on 127.0.0.1 in front of a real server that counts the connections made through it
 * and can drop them all at once (`cut()`: a reset, as a network change does to a phone's
 * connections). Bytes pass unchanged.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface CuttingProxy {
  port: number;
  /** Connections clients made through the proxy so far. */
  connections(): number;
  /** Resets every open connection: neither side gets a closing handshake. */
  cut(): void;
  close(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    cut() {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
