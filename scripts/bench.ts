/**
 * Verifications per second of verifyToken against its floor (one HMAC-SHA256 over the same
 * message) and a naive verifier that recomputes three TOTPs per call, all in one run.
 * Usage: npm run bench [-- --seconds 0.4]   (seconds per case per round)
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { base32Decode } from "../src/otp/base32.js";
import { hotp } from "../src/otp/hotp.js";
import { timeStep } from "../src/otp/totp.js";
import { MemoryReplayStore } from "../src/replay/memory.js";
import { checkToken, verifyToken } from "../src/token/verify.js";
import { mintToken } from "../src/token/mint.js";
import { Keyring } from "../src/token/keys.js";

const secondsArg = process.argv.indexOf("--seconds");
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 0.4;
const JID = "alice@example.com";
const KEY = { otpSeed: "XVGR73KMZH2M4XMY", tokenSecret: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" };
const NOW = 1_700_000_000;
const keys = new Keyring([KEY]);

// Distinct tokens, so the replay store accepts each one once: minted outside the timed loops.
const POOL = 200_000;
const tokens = Array.from({ length: POOL }, (_, i) => mintToken({ jid: JID, key: keys, now: NOW, nonce: String(i).padStart(32, "0") }));

/** Runs `fn` over the token pool for about SECONDS and returns operations per second. */
async function measure(name: string, fn: (token: string) => unknown): Promise<number> {
  let i = 0;
  for (let w = 0; w < 5_000; w++) await fn(tokens[i++ % POOL]!); // warm-up
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(SECONDS * 1e9));
  let ops = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let n = 0; n < 1000; n++) await fn(tokens[i++ % POOL]!);
    ops += 1000;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = ops / elapsed;
  return rate;
}

const secret = Buffer.from(KEY.tokenSecret);
const seed = base32Decode(KEY.otpSeed);

function floor(token: string): boolean {
  const space = token.indexOf(" ");
  const mac = createHmac("sha256", secret).update(token.slice(0, space) + JID).digest();
  return mac.length === 32;
}

function naive(token: string): boolean {
  const space = token.indexOf(" ");
  const otpNonce = token.slice(0, space);
  const mac = createHmac("sha256", secret).update(otpNonce + JID).digest();
  if (!timingSafeEqual(mac, Buffer.from(token.slice(space + 1), "base64"))) return false;
  const step = timeStep(NOW);
  const otp = otpNonce.slice(0, 8);
  return [step - 1, step, step + 1].some((s) => hotp(seed, s, { digits: 8 }) === otp);
}

const ROUNDS = 5;
const replay = new MemoryReplayStore({ maxEntries: POOL + 1 });
let accepted = 0;
const cases: [string, (token: string) => unknown][] = [
  ["floor: one createHmac('sha256')", floor],
  ["naive: HMAC + 3 TOTPs per call", naive],
  ["checkToken (no replay store)", (t) => checkToken(t, { jid: JID, keys, now: NOW })],
  [
    "verifyToken (memory replay store)",
    async (t) => {
      if ((await verifyToken(t, { jid: JID, keys, now: NOW, replay })).ok) accepted++;
    },
  ],
];
console.log(`X-TOKEN verification: ${ROUNDS} interleaved rounds of ${SECONDS} s per case, best round kept, Node ${process.version}`);
const best = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of cases) best.set(name, Math.max(best.get(name) ?? 0, await measure(name, fn)));
}
if (accepted === 0) throw new Error("verifyToken accepted nothing: the benchmark is broken");
console.log("best of rounds:");
for (const [name, rate] of best) console.log(`  ${name.padEnd(34)} ${Math.round(rate).toLocaleString("en-US").padStart(12)} ops/s  ${(1e6 / rate).toFixed(2)} µs/op`);
const [floorRate, naiveRate, checkRate, verifyRate] = [...best.values()] as [number, number, number, number];
console.log(`naive/floor ratio: ${(floorRate / naiveRate).toFixed(2)}`);
console.log(`check/floor ratio: ${(floorRate / checkRate).toFixed(2)}`);
console.log(`verify/floor ratio: ${(floorRate / verifyRate).toFixed(2)}`);
