/**
 * The build and the test run as a newcomer meets them (issue 22 item 18): `npm start` rebuilds
 * only what changed (tsc -b with a build-info file, the browser bundle only when one of its
 * inputs is newer), a packed tarball is not something git offers to commit, and the test
 * certificate is trusted by every process the tests start, whatever its working directory.
 */
import { describe, expect, test } from "@jest/globals";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { tmpdir } from "node:os";

const ROOT = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };

describe("npm start rebuilds only what changed", () => {
  test("start builds first, with tsc -b on a configuration that keeps its build info inside dist/", () => {
    expect(pkg.scripts.start).toMatch(/^npm run build --silent && node dist\/src\/app\/cli\/main\.js serve --dev$/);
    expect(pkg.scripts.build).toMatch(/^tsc -b tsconfig\.build\.json && node dist\/scripts\/build-browser\.js && node dist\/scripts\/ship-declarations\.js$/);
    const config = readFileSync(join(ROOT, "tsconfig.build.json"), "utf8");
    expect(config).toMatch(/"incremental": true/);
    // Inside dist/: deleting dist/ (what "start over" means) also forgets what was built.
    expect(config).toMatch(/"tsBuildInfoFile": "dist\/\.tsbuildinfo"/);
  });

  test("right after a build (npm test's), tsc -b finds nothing to do", () => {
    const out = execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json", "--dry", "--verbose"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toMatch(/is up to date/);
  }, 60_000);

  test("the browser bundle is not made again when none of its inputs changed", () => {
    const bundle = join(ROOT, "dist/browser/demo.js");
    const before = statSync(bundle).mtimeMs;
    execFileSync(process.execPath, [join(ROOT, "dist/scripts/build-browser.js")], { cwd: ROOT });
    expect(statSync(bundle).mtimeMs).toBe(before);
    // What it compares with: esbuild's own list of the files the bundle was made from.
    const inputs = JSON.parse(readFileSync(join(ROOT, "dist/browser/inputs.json"), "utf8")) as string[];
    expect(inputs).toEqual(expect.arrayContaining(["src/web/browser/demo-page.ts", "src/client/x-token-mechanism.ts"]));
    for (const input of inputs) expect(() => statSync(join(ROOT, input))).not.toThrow();
  }, 60_000);
});

describe("hygiene", () => {
  test("npm pack's tarball is git-ignored", () => {
    const out = execFileSync("git", ["check-ignore", "xmpp-x-token-0.1.0.tgz"], { cwd: ROOT, encoding: "utf8" });
    expect(out.trim()).toBe("xmpp-x-token-0.1.0.tgz");
  });

  test("the test certificate's path is absolute here, so Node started in another folder trusts it without a warning", () => {
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    expect(extra).toBeDefined();
    expect(isAbsolute(extra!)).toBe(true);
    const child = spawnSync(process.execPath, ["-e", "1"], { cwd: tmpdir(), env: process.env, encoding: "utf8" });
    expect(child.stderr).not.toMatch(/Ignoring extra certs/);
  });
});
