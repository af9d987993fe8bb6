/**
 * The fuzzer's engine (scripts/fuzz.ts): runs one target's inputs in fast-check batches, tells a
 * target's documented errors from crashes, times every input (hangs), shrinks each new finding
 * with fast-check and saves it, and keeps a watchdog thread for an input that never returns.
 *
 * A target's run() returns normally for an input it handled as documented (a typed error
 * included); it throws a Finding for a broken invariant, and anything else it throws is a crash.
 * Each distinct finding (its signature: kind, error and where it was thrown) is shrunk once and
 * saved; later inputs with the same signature are only counted, so a frequent crash does not
 * stop the run or get shrunk again.
 */
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";

export type FindingKind = "crash" | "hang" | "invariant";

/** A broken invariant (or a crash a target recognised itself). */
export class Finding extends Error {
  override readonly name = "Finding";
  constructor(
    readonly kind: FindingKind,
    /** What makes two findings the same bug: stable across inputs (no values in it). */
    readonly signature: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

/** Throws an invariant Finding unless `condition` holds. */
export function check(condition: unknown, signature: string, message: string | (() => string), detail?: unknown): asserts condition {
  if (!condition) throw new Finding("invariant", signature, typeof message === "string" ? message : message(), detail);
}

export interface Target<T> {
  readonly name: string;
  /** One line for --help and the summary. */
  readonly about: string;
  /** Share of the default run (weights are normalised over the targets run). */
  readonly weight: number;
  readonly arbitrary: fc.Arbitrary<T>;
  readonly async: boolean;
  /** Per-input time limit in ms (default: the run's). */
  readonly hangMs?: number;
  /** Inputs per fast-check batch (default 5000). */
  readonly batch?: number;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  run(input: T): void | Promise<void>;
  /** Extra figures for the summary (invariant notes, outcome counts). */
  notes?(): string[];
}

export interface FindingRecord {
  target: string;
  kind: FindingKind;
  signature: string;
  message: string;
  /** Inputs that showed it (the first one shrunk, the rest only counted). */
  hits: number;
  /** Where its shrunk input was saved. */
  file: string | null;
  seed: number;
  batchSeed: number | null;
  path: string | null;
}

export interface TargetReport {
  name: string;
  inputs: number;
  crashes: number;
  hangs: number;
  invariants: number;
  ms: number;
  slowestMs: number;
  /** Inputs over a tenth of the time limit (a sign of super-linear work). */
  slowInputs: number;
  /** Inputs over the limit once but not when run again (a pause of the process, not a hang). */
  slowOutliers: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  heapPeakMiB: number;
  /** Heap after GC once half the inputs had run, and once all had (before the target's teardown). */
  heapHalfMiB: number;
  heapEndMiB: number;
  notes: string[];
}

export interface RunOptions {
  seed: number;
  runs: number;
  hangMs: number;
  /** The per-input limit was given on the command line: it overrides the targets' own. */
  hangMsGiven?: boolean;
  /** Time given to shrinking one new finding. */
  shrinkMs: number;
  outDir: () => string;
  watchdog: Watchdog;
  log: (line: string) => void;
}

/** A 32-bit seed for batch `i` of `target` under the run's `seed` (FNV-1a). */
export function batchSeed(seed: number, target: string, i: number): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}/${target}/${i}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

/** The place an error was thrown: its first stack frame in the project (src/ or scripts/), else its first. */
export function whereThrown(err: unknown): string {
  if (!(err instanceof Error) || !err.stack) return "?";
  const frames = err.stack.split("\n").filter((l) => l.trim().startsWith("at "));
  const own = frames.find((l) => /[/\\](src|scripts)[/\\]/.test(l) && !/fuzz-engine/.test(l)) ?? frames[0] ?? "?";
  const m = own.match(/((?:src|scripts|node_modules)[/\\][^):]+:\d+)/);
  return m ? m[1]! : own.trim();
}

/** Signature of an unexpected exception: its class, its message without numbers, where it came from. */
export function crashSignature(err: unknown): string {
  const name = err instanceof Error ? err.name : typeof err;
  const message = (err instanceof Error ? err.message : String(err)).split("\n")[0]!.replace(/\d+/g, "N").slice(0, 120);
  return `crash ${name}: ${message} @ ${whereThrown(err)}`;
}

/** JSON with Buffers as {"$bytes": base64, "text": readable}: what a saved input looks like. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    function (this: unknown, key, v) {
      const raw = (this as Record<string, unknown>)[key];
      if (raw instanceof Uint8Array) {
        const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        return { $bytes: b.toString("base64"), text: b.length <= 4096 ? b.toString("latin1") : `${b.subarray(0, 4096).toString("latin1")}...` };
      }
      return v;
    },
    1,
  );
}

export function fromJson(text: string): unknown {
  return JSON.parse(text, (_k, v) => (v && typeof v === "object" && typeof v.$bytes === "string" ? Buffer.from(v.$bytes, "base64") : v));
}

const MiB = 1024 * 1024;

/** CPU milliseconds this process has used (user + system, all its threads). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed / MiB;
}

export { heapAfterGc };

/**
 * A thread that watches the main one: the main thread counts every input it starts; if the count
 * stands still for `limitMs` (an input that loops forever, which no timer on the main thread can
 * interrupt), the watchdog writes what it knows (target, batch seed, input number, the input's
 * bytes) to a file, prints it and kills the process (SIGKILL: exit status 137).
 */
export class Watchdog {
  private readonly state = new Int32Array(new SharedArrayBuffer(16));
  private readonly inputBytes = new Uint8Array(new SharedArrayBuffer(1 << 20));
  private readonly worker: Worker;

  constructor(limitMs: number, seed: number, names: readonly string[]) {
    const code = `
      const { workerData } = require("node:worker_threads");
      const fs = require("node:fs");
      const path = require("node:path");
      const { state, inputBytes, limitMs, seed } = workerData;
      let last = -1, since = Date.now();
      setInterval(() => {
        const now = Date.now();
        const count = Atomics.load(state, 0);
        if (count !== last || Atomics.load(state, 3) === 0) { last = count; since = now; return; }
        if (now - since < limitMs) return;
        const length = Atomics.load(state, 2);
        const names = workerData.names;
        const target = names[Atomics.load(state, 1)] ?? "?";
        let dir;
        try { dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "xtoken-fuzz-hang-")); } catch { dir = "."; }
        const file = path.join(dir, "hang-input.bin");
        fs.writeFileSync(file, Buffer.from(inputBytes.slice(0, Math.min(length, inputBytes.length))));
        const info = { seed, target, inputNumber: count, stuckMs: now - since, input: file };
        fs.writeFileSync(path.join(dir, "hang.json"), JSON.stringify(info, null, 1));
        fs.writeSync(2, "\\nfuzz: HANG: the main thread has not finished input #" + count + " of target " + info.target + " for " + (now - since) + " ms (seed " + seed + "); its bytes: " + file + "\\n");
        process.kill(process.pid, "SIGKILL");
      }, Math.min(1000, limitMs / 4));
    `;
    this.worker = new Worker(code, { eval: true, workerData: { state: this.state, inputBytes: this.inputBytes, limitMs, seed, names: [...names] } });
    this.worker.unref();
  }

  /** Called for every input: `bytes` are what identifies it (copied, bounded to 1 MiB). */
  beat(target: number, bytes: Uint8Array | null): void {
    if (bytes) {
      const n = Math.min(bytes.length, this.inputBytes.length);
      this.inputBytes.set(n === bytes.length ? bytes : bytes.subarray(0, n));
      Atomics.store(this.state, 2, n);
    }
    Atomics.store(this.state, 1, target);
    Atomics.add(this.state, 0, 1);
  }

  /** Watching is on only while inputs run (not during set-up, GC or reporting). */
  arm(on: boolean): void {
    Atomics.store(this.state, 3, on ? 1 : 0);
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

/** The bytes that identify an input for the watchdog: its Buffers, concatenated (cheap, bounded). */
export function inputBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return Buffer.from(value.length > 65536 ? value.slice(0, 65536) : value);
  if (Array.isArray(value)) {
    const parts: Uint8Array[] = [];
    for (const v of value) {
      const b = inputBytes(v);
      if (b) parts.push(b);
    }
    return parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
  if (value && typeof value === "object") return inputBytes(Object.values(value));
  return null;
}

/** The error an uncaught exception or unhandled rejection turns into while a target runs. */
let strayErrors: unknown[] = [];
let strayInstalled = false;

function installStrayHandlers(): void {
  if (strayInstalled) return;
  strayInstalled = true;
  process.on("uncaughtException", (err) => strayErrors.push(err));
  process.on("unhandledRejection", (err) => strayErrors.push(err));
}

/** Uncaught exceptions and unhandled rejections since the last call (they are crashes of the target running). */
export function takeStrayErrors(): unknown[] {
  const taken = strayErrors;
  strayErrors = [];
  return taken;
}

export async function runTarget<T>(target: Target<T>, targetIndex: number, runs: number, options: RunOptions, findings: FindingRecord[]): Promise<TargetReport> {
  installStrayHandlers();
  const hangMs = options.hangMsGiven ? options.hangMs : (target.hangMs ?? options.hangMs);
  const known = new Map<string, FindingRecord>();
  for (const f of findings) if (f.target === target.name) known.set(f.signature, f);
  const report: TargetReport = {
    name: target.name,
    inputs: 0,
    crashes: 0,
    hangs: 0,
    invariants: 0,
    ms: 0,
    slowestMs: 0,
    slowInputs: 0,
    slowOutliers: 0,
    heapBeforeMiB: 0,
    heapAfterMiB: 0,
    heapPeakMiB: 0,
    heapHalfMiB: 0,
    heapEndMiB: 0,
    notes: [],
  };
  await target.setup?.();
  report.heapBeforeMiB = heapAfterGc();
  report.heapPeakMiB = report.heapBeforeMiB;
  const started = performance.now();
  /** Time spent in the half-way GC, not counted as the target's. */
  let pausedMs = 0;
  /** While shrinking a new finding: its signature, and when shrinking stops. */
  let shrinking: { signature: string; until: number } | null = null;
  let firstFailure: Finding | null = null;

  const classify = (err: unknown): Finding => {
    if (err instanceof Finding) return err;
    return new Finding("crash", crashSignature(err), err instanceof Error ? `${err.name}: ${err.message}` : String(err), err instanceof Error ? err.stack : undefined);
  };

  /** What one input's outcome means: pass (return) or fail (throw) for fast-check. */
  const settle = (ms: number, outcome: Finding | null): void => {
    if (!outcome && ms > hangMs) outcome = new Finding("hang", `hang ${target.name}`, `one input took ${ms.toFixed(0)} ms of CPU, twice (limit ${hangMs} ms)`);
    if (shrinking) {
      // Only the finding being shrunk counts as a failure while shrinking.
      if (outcome && outcome.signature === shrinking.signature) throw outcome;
      return;
    }
    report.inputs++;
    if (ms > report.slowestMs) report.slowestMs = ms;
    if (ms > hangMs / 10) report.slowInputs++;
    if (!outcome) return;
    if (outcome.kind === "crash") report.crashes++;
    else if (outcome.kind === "hang") report.hangs++;
    else report.invariants++;
    const seen = known.get(outcome.signature);
    if (seen) {
      seen.hits++;
      return;
    }
    firstFailure = outcome;
    // fast-check now shrinks: from here on only this finding counts as a failure.
    shrinking = { signature: outcome.signature, until: performance.now() + options.shrinkMs };
    throw outcome;
  };

  /**
   * An input over the time limit runs once more: a pause of the whole process (a full GC, say)
   * is not the input's doing. Only an input slow twice is a hang; the other is counted as a slow
   * outlier. Returns the shorter of the two times.
   */
  const confirmSlow = (input: T, ms: number): number | Promise<number> => {
    if (ms <= hangMs || shrinking) return ms;
    const t0 = cpuMs();
    const again = (): number => {
      takeStrayErrors();
      const second = cpuMs() - t0;
      if (second <= hangMs) report.slowOutliers++;
      return Math.min(ms, second);
    };
    try {
      const r = target.run(input);
      if (r instanceof Promise) return r.then(again, again);
    } catch {
      // the outcome was settled by the first run; only the time matters here
    }
    return again();
  };

  // Each input's time is the CPU time the process spent on it, not the time on the clock: on a
  // shared machine a process waits for a core, and that is not the input's doing. (An async input
  // that waits forever spends no CPU: the async targets bound their waits with timeouts of their
  // own, and the watchdog catches an input that never returns.)
  const runOne = (input: T): void | Promise<void> => {
    if (shrinking && performance.now() > shrinking.until) return; // shrinking time is up: pass
    options.watchdog.beat(targetIndex, shrinking ? null : inputBytes(input));
    const t0 = cpuMs();
    let result: void | Promise<void>;
    try {
      result = target.run(input);
    } catch (err) {
      return settle(cpuMs() - t0, classify(err));
    }
    if (!(result instanceof Promise)) {
      const stray = takeStrayErrors();
      const outcome = stray.length > 0 ? classify(stray[0]) : null;
      const ms = confirmSlow(input, cpuMs() - t0);
      if (ms instanceof Promise) return ms.then((m) => settle(m, outcome));
      return settle(ms, outcome);
    }
    return result.then(
      async () => {
        const stray = takeStrayErrors();
        const outcome = stray.length > 0 ? classify(stray[0]) : null;
        settle(await confirmSlow(input, cpuMs() - t0), outcome);
      },
      (err) => settle(cpuMs() - t0, classify(err)),
    );
  };

  const property = target.async
    ? fc.asyncProperty(target.arbitrary, async (input) => {
        await runOne(input);
      })
    : fc.property(target.arbitrary, (input) => {
        const r = runOne(input);
        if (r instanceof Promise) throw new Error(`${target.name}: run() returned a promise in a synchronous target`);
      });

  const batchSize = target.batch ?? 5000;
  for (let batch = 0; report.inputs < runs; batch++) {
    const seed = batchSeed(options.seed, target.name, batch);
    const numRuns = Math.min(batchSize, runs - report.inputs);
    firstFailure = null;
    shrinking = null;
    const before = report.inputs;
    options.watchdog.arm(true);
    // The batch's inputs are counted by settle(); a batch that stopped at a new finding (after
    // shrinking it) is followed by the next one, until `runs` inputs have run.
    const details: fc.RunDetails<[T]> = await Promise.resolve(fc.check(property as fc.IRawProperty<[T]>, { numRuns, seed, verbose: 0 })).catch(
      (err: unknown) => ({ failed: true, errorInstance: err, counterexample: null, counterexamplePath: null }) as unknown as fc.RunDetails<[T]>,
    );
    options.watchdog.arm(false);
    if (details.failed) {
      const finding = firstFailure as Finding | null;
      const error = details.errorInstance;
      const f = finding ?? classify(error);
      const record: FindingRecord = {
        target: target.name,
        kind: f.kind,
        signature: f.signature,
        message: f.message,
        hits: 1,
        file: null,
        seed: options.seed,
        batchSeed: seed,
        path: details.counterexamplePath,
      };
      const counterexample = details.counterexample?.[0];
      const file = join(options.outDir(), `${target.name}-${findings.length + 1}.json`);
      writeFileSync(
        file,
        toJson({
          target: target.name,
          kind: f.kind,
          signature: f.signature,
          message: (error instanceof Finding ? error.message : f.message),
          detail: error instanceof Finding ? (error.detail ?? error.message) : error instanceof Error ? error.stack : String(error),
          replay: `node --expose-gc dist/scripts/fuzz.js --replay ${file}`,
          seed: options.seed,
          batchSeed: seed,
          counterexamplePath: details.counterexamplePath,
          input: counterexample,
        }) + "\n",
      );
      record.file = file;
      findings.push(record);
      known.set(record.signature, record);
      options.log(`  ${target.name}: NEW ${f.kind}: ${f.signature}\n    ${record.message.split("\n")[0]}\n    saved (shrunk) to ${file}; seed ${options.seed}, batch seed ${seed}, path ${details.counterexamplePath}`);
      if (report.inputs === before) report.inputs++; // fast-check failed before any input ran
    }
    shrinking = null;
    const heap = process.memoryUsage().heapUsed / MiB;
    if (heap > report.heapPeakMiB) report.heapPeakMiB = heap;
    if (report.heapHalfMiB === 0 && report.inputs * 2 >= runs) {
      const gcStart = performance.now();
      report.heapHalfMiB = heapAfterGc();
      pausedMs += performance.now() - gcStart;
    }
  }
  report.ms = performance.now() - started - pausedMs;
  report.heapEndMiB = heapAfterGc();
  await target.teardown?.();
  report.heapAfterMiB = heapAfterGc();
  report.notes = target.notes?.() ?? [];
  return report;
}
