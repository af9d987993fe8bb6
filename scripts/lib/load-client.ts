/**
 * A load client in its own process (forked by the benchmarks), so that the client's work never
 * shares an event loop with the server it measures. It takes jobs over IPC: log in a list of users
 * with fresh tokens, C at a time, over plain TCP or STARTTLS (resuming the TLS session it kept
 * for that user when asked), optionally holding the streams open; and ping held streams.
 */
import type net from "node:net";
import { mintToken } from "../../src/core/token/mint.js";
import { rawLogin } from "./raw-login.js";

export interface LoginJob {
  type: "logins";
  port: number;
  domain: string;
  key: { tokenSecret: string; otpSeed: string };
  users: string[];
  concurrency: number;
  /** STARTTLS with this CA. */
  ca?: string;
  /** Resume the TLS session kept from this user's previous login. */
  resume?: boolean;
  keepOpen?: boolean;
  mechanism?: "X-TOKEN" | "PLAIN";
  /** Log in with this password (a server's own accounts) instead of a fresh token. */
  password?: string;
  /**
   * SASL2 with Bind 2: "x-token" logs in with a fresh token and keeps the FAST token it gets for
   * the user; "fast" logs in with the FAST token kept from the user's last "x-token" login.
   */
  sasl2?: "x-token" | "fast";
}

export interface PingJob {
  type: "ping";
  count: number;
}

export interface JobResult {
  latencies: number[];
  failures: number;
  firstError?: string;
  resumed: number;
  held: number;
}

const sessions = new Map<string, Buffer>();
/** FAST tokens by user, from their last SASL2 X-TOKEN login (one user agent per load client). */
const fastTokens = new Map<string, string>();
const USER_AGENT_ID = `bench-${process.pid}`;
const held: net.Socket[] = [];

async function logins(job: LoginJob): Promise<JobResult> {
  const latencies: number[] = [];
  let failures = 0;
  let resumed = 0;
  let firstError: string | undefined;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(job.concurrency, job.users.length) }, async () => {
      while (next < job.users.length) {
        const user = job.users[next++]!;
        try {
          const token = job.password ?? mintToken({ jid: `${user}@${job.domain}`, key: job.key });
          const tls = job.ca ? { ca: job.ca, session: job.resume ? sessions.get(user) : undefined } : undefined;
          const fastToken = job.sasl2 === "fast" ? fastTokens.get(user) : undefined;
          if (job.sasl2 === "fast" && !fastToken) throw new Error(`no FAST token kept for ${user}`);
          const sasl2 = job.sasl2 ? { sasl2: { userAgentId: USER_AGENT_ID, ...(fastToken ? { fastToken } : {}) } } : {};
          const result = await rawLogin({ port: job.port, domain: job.domain, user, token, tls, keepOpen: job.keepOpen, mechanism: job.mechanism, ...sasl2 });
          if (result.fastToken) fastTokens.set(user, result.fastToken);
          latencies.push(result.ms);
          if (result.resumed) resumed++;
          if (result.session) sessions.set(user, result.session);
          if (result.socket) held.push(result.socket);
        } catch (err) {
          failures++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  return { latencies, failures, firstError, resumed, held: held.length };
}

/** Round-trip times of XMPP pings on held streams, one after the other (the server's responsiveness). */
async function ping(job: PingJob): Promise<JobResult> {
  const latencies: number[] = [];
  let failures = 0;
  for (let i = 0; i < job.count && held.length > 0; i++) {
    const socket = held[(i * 7919) % held.length]!;
    const started = process.hrtime.bigint();
    const id = `p${i}`;
    const ok = await new Promise<boolean>((resolve) => {
      let text = "";
      const timer = setTimeout(() => done(false), 10_000);
      const onData = (d: Buffer) => {
        text += d.toString("latin1");
        if (text.includes(`id='${id}'`) || text.includes(`id="${id}"`)) done(true);
      };
      function done(result: boolean) {
        clearTimeout(timer);
        socket.off("data", onData);
        resolve(result);
      }
      socket.on("data", onData);
      socket.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    });
    if (ok) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    else failures++;
  }
  return { latencies, failures, resumed: 0, held: held.length };
}

process.on("message", (job: LoginJob | PingJob | { type: "close" }) => {
  if (job.type === "close") {
    for (const socket of held.splice(0)) socket.destroy();
    process.send!({ latencies: [], failures: 0, resumed: 0, held: 0 } satisfies JobResult);
    return;
  }
  const work = job.type === "logins" ? logins(job) : ping(job);
  work.then((result) => process.send!(result));
});
process.on("disconnect", () => process.exit(0));
