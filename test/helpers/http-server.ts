/** Plain HTTP servers on 127.0.0.1 for a test file, each closed by closeHttpServers (afterAll). */
import http from "node:http";
import type { AddressInfo } from "node:net";

const servers: http.Server[] = [];

/** Serves `handler` on a free loopback port; its base URL. */
export async function serveHttp(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function closeHttpServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
}
