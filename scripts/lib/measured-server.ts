/**
 * The real server in a child process that reports its own memory after a full garbage
 * collection, for per-connection figures that are not blurred by garbage waiting to be
 * collected (RSS alone is). Run by fork() with --expose-gc; messages:
 * in: { type: "measure" } -> out: { heapUsed, external, rss } (bytes).
 * On start it sends { type: "ready", c2s, http } with the ports it listens on.
 */
import { startServer } from "../../src/server/index.js";
import { parseConfig } from "../../src/app/config/load.js";

const raw = JSON.parse(process.argv[2] ?? "{}") as unknown;
const server = await startServer(parseConfig(raw), { log: { info() {}, warn() {} } });
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

process.on("message", (message: { type: string }) => {
  if (message.type === "measure") {
    gc();
    gc();
    const { heapUsed, external, rss } = process.memoryUsage();
    process.send!({ type: "memory", heapUsed, external, rss });
  } else if (message.type === "stop") {
    void server.close().then(() => process.exit(0));
  }
});
process.send!({ type: "ready", c2s: server.ports.c2s, http: server.ports.http });
