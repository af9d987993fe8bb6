// Mutation testing of the rules that guard logins and data (issue 23): `npm run mutate`.
// How to run it, how long it takes and the scores: README "Development" and docs/mutation.md.
//
// jest 29 in ESM mode: Stryker's jest runner starts jest in its own worker processes, so
// NODE_OPTIONS from `npm test` does not reach them; `testRunnerNodeArgs` gives the worker
// `--experimental-vm-modules` (Stryker's documented way for jest with native ESM). ts-jest
// compiles the instrumented TypeScript as usual (transpile-only: `isolatedModules`), and the
// runner's own test environment collects per-test coverage, so `perTest` works here.

/**
 * The scope, folder by folder: what is mutated, and the tests that speak for it. Tests run in the
 * jest process (real sockets on loopback are fine); left out everywhere: tests that spawn the
 * compiled `dist/` binary (a mutant in src/ never reaches it), the browser, ejabberd and Redis
 * tests (outside programs), and the `npm pack` / docs checks. Each folder's own tests keep a run
 * short: a mutant that only a far-away integration test would notice counts as a gap.
 */
const SCOPES = {
  core: {
    mutate: ["src/core/**/*.ts"],
    tests: ["token", "token-property", "otp", "base32", "jid", "replay", "auth", "sasl", "sasl-exchange", "extauth-domains", "extauth-protocol", "http-endpoint", "token-endpoint-identity", "sqlite-storage", "mutation-core"],
  },
  auth: {
    mutate: ["src/auth/**/*.ts"],
    tests: ["auth", "sasl", "sasl-exchange", "failure-log", "trusted-proxies", "server-units", "server-protocol", "e2e-login", "websocket-secure", "websocket-preauth", "extauth-domains", "extauth-protocol", "http-endpoint", "token-endpoint-identity", "demo-app", "otp-accounts", "otp-login", "mutation-auth", "mutation-authority"],
  },
  extauth: {
    mutate: ["src/extauth/**/*.ts"],
    tests: ["extauth-protocol", "extauth-domains", "mutation-extauth"],
  },
  endpoint: {
    mutate: ["src/web/endpoint/**/*.ts"],
    tests: ["http-endpoint", "token-endpoint-identity", "demo-app", "e2e-login", "mutation-endpoint"],
  },
  server: {
    // Routing, consent, and the bounds of what the server holds for a peer.
    mutate: [
      "src/server/router.ts",
      "src/server/delivery.ts",
      "src/server/fair-queue.ts",
      "src/server/roster/subscriptions.ts",
      "src/server/transport/read-gate.ts",
      "src/server/transport/in-order-queue.ts",
      "src/server/transport/xml-framer.ts",
      "src/server/transport/websocket.ts",
    ],
    tests: [
      "server-routing", "server-im", "server-units", "server-protocol", "stamped-from", "roster-consent", "outbound-bounds", "websocket-pause",
      "websocket-preauth", "fair-queue", "component-hardening", "component-listener", "strict-xml", "roster-store", "e2e-login", "mutation-server",
    ],
  },
  sqlite: {
    mutate: ["src/stores/sqlite/**/*.ts"],
    tests: ["sqlite-storage", "roster-store", "otp-accounts", "mutation-sqlite"],
  },
};

/** `MUTATE_SCOPE=core,auth npm run mutate` runs those folders; no MUTATE_SCOPE, all of them. */
const chosen = (process.env.MUTATE_SCOPE ?? Object.keys(SCOPES).join(",")).split(",").map((name) => name.trim()).filter(Boolean);
for (const name of chosen) if (!Object.hasOwn(SCOPES, name)) throw new Error(`MUTATE_SCOPE: no scope ${name}; scopes: ${Object.keys(SCOPES).join(", ")}`);
const MUTATE = [...chosen.flatMap((name) => SCOPES[name].mutate), "!src/**/index.ts", "!src/**/*.d.ts"];
/**
 * `MUTATE_TESTS=auth,sasl-exchange npm run mutate -- --mutate 'src/auth/policy/**' ...` runs
 * those test files instead of the scope's (a narrow pass on a busy machine, or leaving out a test
 * that fails there for reasons of its own); the scope's list stays what speaks for the folder.
 */
const TESTS = process.env.MUTATE_TESTS
  ? process.env.MUTATE_TESTS.split(",").map((name) => name.trim()).filter(Boolean)
  : [...new Set(chosen.flatMap((name) => SCOPES[name].tests))];
/** One incremental file per scope chosen, so a run of one folder keeps the others' results. */
const RUN = chosen.length === Object.keys(SCOPES).length ? "all" : chosen.join("+");

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "jest",
  testRunnerNodeArgs: ["--experimental-vm-modules"],
  jest: {
    projectType: "custom",
    configFile: "jest.config.js",
    // Only the test files that import the mutated file (through any chain) run for its mutants.
    enableFindRelatedTests: true,
    config: { testMatch: TESTS.map((name) => `<rootDir>/test/${name}.test.ts`) },
  },
  coverageAnalysis: "perTest",
  checkers: ["typescript"],
  // src/ only: a mutant that does not compile is killed without running a test. Tests and
  // scripts stay out so that work in progress elsewhere cannot stop the run.
  tsconfigFile: "tsconfig.stryker.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: MUTATE,
  // Static mutants (module-level constants, tables, regular expressions: run once, at import)
  // cannot be told apart per test, so each one re-runs every related test file: here 39 % of
  // the core's mutants took 72 % of the time. They are skipped by default (reported "Ignored",
  // outside the score); `npm run mutate -- --ignoreStatic false` tests them too (docs/mutation.md).
  ignoreStatic: true,
  // Two shared cores: one jest worker and one checker at a time each.
  concurrency: 2,
  // Real sockets on a busy machine: a slow test is not a hanging mutant.
  timeoutMS: 20000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 30,
  // Re-runs test only the mutants whose code or tests changed since the last run here.
  incremental: true,
  incrementalFile: `reports/mutation/${RUN}.incremental.json`,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: `reports/mutation/${RUN}.html` },
  jsonReporter: { fileName: `reports/mutation/${RUN}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
  thresholds: { high: 90, low: 85, break: null },
  // What the sandbox copy leaves out: build output, run data, reports and earlier sandboxes.
  ignorePatterns: ["dist", "test-results", "x-token-data", ".x-token-dev", "reports", "coverage"],
  tempDirName: ".stryker-tmp",
};
