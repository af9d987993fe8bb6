/**
 * Login load benchmark: N X-TOKEN logins, C in flight, over TCP, each with a fresh token,
 * against the real server (`x-token serve`) in a child process, without and with STARTTLS.
 * Prints logins/s, p50/p99 latency, the server's CPU time per login (user+system, read from
 * /proc, independent of the load client's speed), and the verify-only cost for comparison.
 * Usage: npm run bench:login [-- --n 2000 --c 50 --profile DIR]
 * --profile DIR runs the server under `node --cpu-prof` and leaves one .cpuprofile per case in DIR.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { createSelfSignedCertificate } from "../src/app/tls/self-signed.js";
import { mintToken } from "../src/core/token/mint.js";
import { checkToken } from "../src/core/token/verify.js";
import { Keyring } from "../src/core/token/keys.js";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
function textFlag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const N = flag("n", 2000);
const C = flag("c", 50);
const PROFILE_DIR = textFlag("profile");
if (!Number.isInteger(N) || N < 1 || !Number.isInteger(C) || C < 1) {
  console.error("bench:login: --n and --c must be positive integers");
  process.exit(2);
}
const DOMAIN = "bench.test";
const KEY = { tokenSecret: "bench-token-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const PROSODY_CPU_MS = 2.8; // Prosody 0.12 + mod_auth_token, measured on the same kind of machine (issue 3)
const CLOCK_TICKS = 100; // USER_HZ on Linux

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}' version='1.0'>`;

/** One login on a raw socket: header, (STARTTLS,) X-TOKEN, restart, bind, close. */
async function login(port: number, user: string, useTls: boolean, ca: string): Promise<number> {
  const started = process.hrtime.bigint();
  let socket: net.Socket = net.connect(port, "127.0.0.1");
  let buffer = "";
  let waiter: (() => void) | null = null;
  const onData = (d: Buffer) => {
    buffer += d.toString();
    waiter?.();
  };
  socket.on("data", onData);
  const failed = new Promise<never>((_, reject) => socket.once("error", reject));
  const until = async (text: string) => {
    while (!buffer.includes(text)) {
      if (buffer.includes("<failure") || buffer.includes("<stream:error")) throw new Error(`login failed: ${buffer.slice(-300)}`);
      await Promise.race([new Promise<void>((r) => (waiter = r)), failed]);
    }
    buffer = "";
  };
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(HEADER);
  await until("</stream:features>");
  if (useTls) {
    socket.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await until("<proceed");
    socket.off("data", onData);
    socket = tls.connect({ socket, ca: [ca], servername: DOMAIN });
    socket.on("data", onData);
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    socket.write(HEADER);
    await until("</stream:features>");
  }
  const token = mintToken({ jid: `${user}@${DOMAIN}`, key: KEY });
  socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'>${Buffer.from(`\0${user}\0${token}`).toString("base64")}</auth>`);
  await until("<success");
  socket.write(HEADER);
  await until("</stream:features>");
  socket.write("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  await until("</jid>");
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  socket.end("</stream:stream>");
  return elapsed;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the command name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function startServer(useTls: boolean, dir: string): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const profile = PROFILE_DIR ? ["--cpu-prof", "--cpu-prof-dir", PROFILE_DIR] : [];
  const child = spawn(process.execPath, [...profile, new URL("../src/app/cli/main.js", import.meta.url).pathname, "serve", "--config", join(dir, "config.json")], {
    env: { PATH: process.env.PATH, XMPP_C2S_PORT: "0", XMPP_HTTP_PORT: "0", XMPP_REQUIRE_TLS: useTls ? "true" : "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.resume(); // failed-login lines, if any, are not shown
  const deadline = Date.now() + 15_000;
  let match: RegExpMatchArray | null = null;
  while (!(match = out.match(/xmpp:\/\/127\.0\.0\.1:(\d+)/))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port: Number(match[1]),
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function run(useTls: boolean, dir: string, ca: string): Promise<void> {
  const server = await startServer(useTls, dir);
  // Warm the server up (JIT, TLS session setup) before measuring.
  for (let i = 0; i < 50; i++) await login(server.port, `warm${i}`, useTls, ca);
  const cpuBefore = cpuSeconds(server.pid);
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < N) {
        const i = next++;
        latencies.push(await login(server.port, `user${i}`, useTls, ca));
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  await server.stop();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);
  const cpuPerLogin = (cpu * 1000) / N;
  console.log(`${useTls ? "STARTTLS" : "plain TCP"}: ${N} logins, ${C} in flight`);
  console.log(`  ${(N / seconds).toFixed(0)} logins/s, p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
  console.log(`  server CPU ${cpuPerLogin.toFixed(3)} ms per login (Prosody + mod_auth_token: ${PROSODY_CPU_MS} ms; ratio ${(cpuPerLogin / PROSODY_CPU_MS).toFixed(2)})`);
}

const dir = mkdtempSync(join(tmpdir(), "x-token-bench-"));
const pem = await createSelfSignedCertificate([DOMAIN]);
writeFileSync(join(dir, "cert.pem"), pem.cert);
writeFileSync(join(dir, "key.pem"), pem.key, { mode: 0o600 });
writeFileSync(
  join(dir, "config.json"),
  JSON.stringify({
    domains: { [DOMAIN]: { keys: [KEY] } },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    limits: { maxAuthFailuresPerIpPerMinute: 1_000_000 },
    replay: { maxEntries: 1_000_000 },
  }),
);

// The verify-only cost, in this process, for comparison with the per-login server CPU.
const keys = new Keyring([KEY]);
const now = Date.now() / 1000;
const sample = Array.from({ length: 20_000 }, (_, i) => mintToken({ jid: `user${i}@${DOMAIN}`, key: keys, now }));
const t0 = process.hrtime.bigint();
for (let i = 0; i < sample.length; i++) checkToken(sample[i], { jid: `user${i}@${DOMAIN}`, keys, now });
const verifyMs = Number(process.hrtime.bigint() - t0) / 1e6 / sample.length;

await run(false, dir, pem.cert);
await run(true, dir, pem.cert);
console.log(`verify only (checkToken): ${(verifyMs * 1000).toFixed(1)} µs per token`);
