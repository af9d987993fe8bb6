/** The compiled `x-token serve` in a child process, and raw SASL logins against it from any 127.0.0.0/8 address. */
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { spawnCli } from "./cli.js";
import { saslAuth, streamHeader } from "./server.js";

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  c2s: number;
  /** The HTTP port (0 when off). */
  http: number;
  stdout: () => string;
  stderr: () => string;
  /**
   * The server's log lines matching `pattern` (a string: containing it), once there is one
   * (bounded wait): they arrive on
   * their own pipe, in batches, after the client saw the answer.
   */
  logged(pattern: RegExp | string, ms?: number): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts `x-token serve` with `env` (XMPP_C2S_PORT and XMPP_HTTP_PORT default to 0) and waits for its welcome text. */
export async function startServe(env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawnCli(["serve"], { XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", ...env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const deadline = Date.now() + 15_000;
  let c2s = 0;
  while (!c2s) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      // A server that never said it started must not outlive the test (jest would never exit).
      child.kill("SIGKILL");
      throw new Error(`serve did not start: ${stdout} ${stderr}`);
    }
    c2s = Number(/Storage: /.test(stdout) ? stdout.match(/xmpp:\/\/127\.0\.0\.1:(\d+)/)?.[1] ?? 0 : 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const http = Number(stdout.match(/ws:\/\/127\.0\.0\.1:(\d+)\//)?.[1] ?? 0);
  return {
    child,
    c2s,
    http,
    stdout: () => stdout,
    stderr: () => stderr,
    async logged(pattern, ms = 10_000) {
      const until = Date.now() + ms;
      for (;;) {
        const lines = stderr.split("\n").filter((line) => (typeof pattern === "string" ? line.includes(pattern) : pattern.test(line)));
        if (lines.length > 0) return lines;
        if (Date.now() > until) throw new Error(`no line matching ${pattern}: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    // Waits for "close", not "exit": the output pipes are drained then, so the log lines the
    // test reads next are all there.
    async stop() {
      const drained = child.stdout.closed && child.stderr.closed;
      const closed = drained ? Promise.resolve() : new Promise((resolve) => child.once("close", resolve));
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await closed;
    },
  };
}

/**
 * One SASL exchange over a fresh plain-TCP stream from `from` (a 127.0.0.0/8 address);
 * returns "success" or the failure condition.
 */
export function login(port: number, domain: string, localpart: string, token: string, from = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: from });
    let received = "";
    let authSent = false;
    const timer = setTimeout(() => finish(new Error(`no SASL answer within 10 s: ${received}`)), 10_000);
    const finish = (result: string | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    socket.on("error", finish);
    socket.on("connect", () => socket.write(streamHeader(domain)));
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      if (!authSent && received.includes("</stream:features>")) {
        authSent = true;
        received = "";
        socket.write(saslAuth(localpart, token));
      } else if (authSent && received.includes("<success")) finish("success");
      else if (authSent && received.includes("</failure>")) finish(/<failure[^>]*><([a-z-]+)/.exec(received)?.[1] ?? received);
    });
  });
}


/** A POST to a running server's revocation endpoint (docs/revocation.md) with `secret` as its Bearer secret. */
export function postRevocation(port: number, body: string, secret: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/x-token/revoke", headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
