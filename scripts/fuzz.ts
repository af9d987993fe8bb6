/**
 * The fuzzer: generated and mutated inputs, cut at random byte boundaries, against the XML framer,
 * the strict XML parser, SASL message parsing, the token format and JID preparation, the extauth
 * frame readers and stream server, and whole sessions (in-process and on real sockets). Reports
 * inputs per target, crashes (an exception that is not the target's documented typed error),
 * broken invariants, hangs (a per-input time limit; a watchdog thread for an input that never
 * returns) and heap growth (heapUsed after GC, start vs end). Each new finding is shrunk by
 * fast-check and saved to a temp folder with the seed; exit code 1 when anything was found.
 *
 * Usage: npm run fuzz [-- --runs N] [--seed S] [--target NAME[,NAME]] [--hang-ms MS]
 *                     [--max-heap-growth-mb MB] [--replay FILE] [--list]
 * Not part of `npm test`. Needs `node --expose-gc` for the memory figures (npm run fuzz sets it).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fromJson, heapAfterGc, runTarget, takeStrayErrors, Watchdog, type FindingRecord, type Target, type TargetReport, crashSignature, Finding } from "./lib/fuzz-engine.js";
import { framerTarget, strictXmlTarget } from "./lib/fuzz-xml.js";
import { saslTarget, tokenTarget } from "./lib/fuzz-auth.js";
import { extauthStdioTarget, extauthTarget } from "./lib/fuzz-extauth.js";
import { serverTarget, sessionTarget } from "./lib/fuzz-session.js";

const DEFAULT_RUNS = 1_000_000;

function usage(code: number): never {
  (code === 0 ? console.log : console.error)(
    "usage: npm run fuzz -- [--runs N] [--seed S] [--target NAME[,NAME...]] [--hang-ms MS] [--max-heap-growth-mb MB] [--replay FILE] [--list]\n" +
      `  --runs N     inputs in all (default ${DEFAULT_RUNS}), shared between the targets by weight\n` +
      "  --seed S     the run's seed (default: random, printed); the same seed gives the same inputs\n" +
      "  --target     run only these targets (all of --runs goes to them)\n" +
      "  --hang-ms    per-input CPU time limit in ms (default 1000; 2000 for extauth-stdio, 3000 for server)\n" +
      "  --max-heap-growth-mb  heap growth allowed over the run, after GC (default 64)\n" +
      "  --replay F   run one saved input (a file the fuzzer wrote) again and print what happens\n" +
      "  --list       list the targets",
  );
  process.exit(code);
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith("--")) usage(2);
  return value;
}

function intFlag(name: string, fallback: number, min = 1): number {
  const text = flag(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be an integer of at least ${min}`);
    process.exit(2);
  }
  return value;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTarget = Target<any>;

function allTargets(): AnyTarget[] {
  return [framerTarget(), strictXmlTarget(), saslTarget(), tokenTarget(), extauthTarget(), extauthStdioTarget(), sessionTarget(), serverTarget()];
}

const mib = (n: number) => `${n.toFixed(1)} MiB`;

async function replay(file: string): Promise<void> {
  const saved = fromJson(readFileSync(file, "utf8")) as { target: string; input: unknown; signature?: string };
  const target = allTargets().find((t) => t.name === saved.target);
  if (!target) {
    console.error(`fuzz: ${file} is for target ${saved.target}, which does not exist`);
    process.exit(2);
  }
  console.log(`fuzz: replaying one ${target.name} input from ${file}${saved.signature ? ` (saved as: ${saved.signature})` : ""}`);
  await target.setup?.();
  let outcome = "handled as documented";
  let failed = false;
  const t0 = performance.now();
  try {
    await target.run(saved.input);
    const stray = takeStrayErrors();
    if (stray.length > 0) throw stray[0];
  } catch (err) {
    failed = true;
    outcome = err instanceof Finding ? `${err.kind}: ${err.signature}\n  ${err.message}` : `crash: ${crashSignature(err)}\n${err instanceof Error ? err.stack : String(err)}`;
  }
  console.log(`fuzz: ${outcome} (${(performance.now() - t0).toFixed(1)} ms)`);
  await target.teardown?.();
  process.exit(failed ? 1 : 0);
}

async function main(): Promise<void> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) usage(0);
  if (process.argv.includes("--list")) {
    for (const t of allTargets()) console.log(`${t.name.padEnd(14)} ${t.about}`);
    return;
  }
  const replayFile = flag("replay");
  if (replayFile) return replay(replayFile);

  const runs = intFlag("runs", DEFAULT_RUNS);
  const seed = intFlag("seed", Math.floor(Math.random() * 0x7fffffff), 0) % 0x80000000;
  const hangMs = intFlag("hang-ms", 1000);
  const maxGrowth = intFlag("max-heap-growth-mb", 64);
  const only = flag("target")?.split(",").map((s) => s.trim());
  let targets = allTargets();
  if (only) {
    const unknown = only.filter((name) => !targets.some((t) => t.name === name));
    if (unknown.length > 0) {
      console.error(`fuzz: no target ${unknown.join(", ")}; targets: ${targets.map((t) => t.name).join(", ")}`);
      process.exit(2);
    }
    targets = targets.filter((t) => only.includes(t.name));
  }
  const hasGc = typeof (globalThis as { gc?: unknown }).gc === "function";
  const totalWeight = targets.reduce((sum, t) => sum + t.weight, 0);
  const shares = targets.map((t) => Math.max(1, Math.round((runs * t.weight) / totalWeight)));

  let outDir: string | null = null;
  const out = () => (outDir ??= mkdtempSync(join(tmpdir(), "xtoken-fuzz-")));
  const log = (line: string) => console.log(line);
  const watchdog = new Watchdog(Math.max(30_000, hangMs * 30), seed, targets.map((t) => t.name));
  const findings: FindingRecord[] = [];
  const reports: TargetReport[] = [];

  console.log(`fuzz: seed ${seed}, ${shares.reduce((a, b) => a + b, 0)} inputs over ${targets.length} target(s), Node ${process.version}${hasGc ? "" : " (no --expose-gc: heap figures are without a forced GC)"}`);
  const heapStart = heapAfterGc();
  const started = performance.now();
  for (const [i, target] of targets.entries()) {
    const share = shares[i]!;
    process.stdout.write(`fuzz: ${target.name}: ${share} inputs ... `);
    const report = await runTarget(target, i, share, { seed, runs: share, hangMs, shrinkMs: 60_000, hangMsGiven: flag("hang-ms") !== undefined, outDir: out, watchdog, log: (l) => log(`\n${l}`) }, findings);
    reports.push(report);
    console.log(`${(report.ms / 1000).toFixed(1)} s, ${report.crashes} crashes, ${report.hangs} hangs, ${report.invariants} invariant failures`);
  }
  const seconds = (performance.now() - started) / 1000;
  await watchdog.stop();
  const heapEnd = heapAfterGc();

  console.log("\nfuzz summary");
  const header = ["target", "inputs", "seconds", "inputs/s", "crashes", "hangs", "invariant", "slowest CPU ms", ">1/10 limit", "heap MiB start/half/end/after", "peak MiB"];
  const rows = reports.map((r) => [
    r.name,
    String(r.inputs),
    (r.ms / 1000).toFixed(1),
    String(Math.round(r.inputs / (r.ms / 1000))),
    String(r.crashes),
    String(r.hangs),
    String(r.invariants),
    r.slowestMs.toFixed(1),
    String(r.slowInputs),
    [r.heapBeforeMiB, r.heapHalfMiB, r.heapEndMiB, r.heapAfterMiB].map((n) => n.toFixed(1)).join("/"),
    r.heapPeakMiB.toFixed(1),
  ]);
  const total = reports.reduce((a, r) => ({ inputs: a.inputs + r.inputs, crashes: a.crashes + r.crashes, hangs: a.hangs + r.hangs, invariants: a.invariants + r.invariants }), { inputs: 0, crashes: 0, hangs: 0, invariants: 0 });
  rows.push(["total", String(total.inputs), seconds.toFixed(1), String(Math.round(total.inputs / seconds)), String(total.crashes), String(total.hangs), String(total.invariants), "", "", `${heapStart.toFixed(1)} -> ${heapEnd.toFixed(1)}`, ""]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => "  " + cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  for (const r of reports) for (const note of r.notes) console.log(`  ${r.name}: ${note}`);
  for (const r of reports) if (r.slowOutliers > 0) console.log(`  ${r.name}: ${r.slowOutliers} input(s) over the time limit once but not when run again (process pauses, not hangs)`);

  const growth = heapEnd - heapStart;
  const targetGrowth = reports.filter((r) => r.heapAfterMiB - r.heapBeforeMiB > maxGrowth);
  const memoryOk = growth <= maxGrowth && targetGrowth.length === 0;
  console.log(`\nmemory: heapUsed after GC ${mib(heapStart)} at start, ${mib(heapEnd)} at end (${growth >= 0 ? "+" : ""}${mib(growth)}; bound +${maxGrowth} MiB): ${memoryOk ? "bounded" : "GROWTH OVER THE BOUND"}`);
  for (const r of targetGrowth) console.log(`  ${r.name}: +${mib(r.heapAfterMiB - r.heapBeforeMiB)} over its run`);

  if (findings.length > 0) {
    console.log(`\nfindings (seed ${seed}; each input shrunk and saved; replay one with: node --expose-gc dist/scripts/fuzz.js --replay FILE):`);
    for (const f of findings) console.log(`  [${f.target}] ${f.kind}: ${f.signature}\n      ${f.hits} input(s); first: ${f.message.split("\n")[0]!.slice(0, 300)}\n      saved: ${f.file} (batch seed ${f.batchSeed}, path ${f.path})`);
  }
  const clean = total.crashes === 0 && total.hangs === 0 && total.invariants === 0 && memoryOk;
  console.log(`\nfuzz: ${total.inputs} inputs in ${seconds.toFixed(1)} s: ${total.crashes} crashes, ${total.hangs} hangs, ${total.invariants} invariant failures, memory ${memoryOk ? "bounded" : "NOT bounded"} (seed ${seed})`);
  process.exit(clean ? 0 : 1);
}

main().catch((err) => {
  console.error("fuzz: the fuzzer itself failed:", err);
  process.exit(2);
});
