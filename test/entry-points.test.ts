/**
 * The package's entry points (package.json "exports"), on the built dist/ (npm test builds first):
 * each one loads by its package name, and the root loads the core only, which esbuild's
 * metafile shows: no ws, no @xmpp/*, no node:net, node:http or node:tls, no redis.
 */
import { describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; exports: Record<string, string | { types: string; default: string }> };
const entries = Object.entries(pkg.exports).filter((e): e is [string, { types: string; default: string }] => typeof e[1] !== "string");

function entryFile(name: string): string {
  const target = pkg.exports[name];
  if (typeof target !== "object") throw new Error(`no entry ${name}`);
  return target.default;
}

/** What an I/O-free core must never pull in. */
const HEAVY = /^(ws|@xmpp\/.*|redis|@redis\/.*|(node:)?(net|http|https|tls|dgram|dns|child_process|fs))$/;

/** Every file esbuild bundles for `entry`, and every package or built-in it leaves outside. */
async function bundled(entry: string): Promise<{ files: string[]; external: string[] }> {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "silent",
  });
  const inputs = result.metafile.inputs;
  const external = new Set<string>();
  for (const input of Object.values(inputs)) for (const i of input.imports) if (i.external) external.add(i.path);
  return { files: Object.keys(inputs).map((f) => relative(ROOT, resolve(process.cwd(), f))), external: [...external].sort() };
}

describe("package entry points", () => {
  test.each(entries)("%s: its files are built, with types", (_name, target) => {
    expect(existsSync(join(ROOT, target.default))).toBe(true);
    expect(existsSync(join(ROOT, target.types))).toBe(true);
  });

  test("the root entry point bundles only the core: no ws, @xmpp/*, node:net, node:http, node:tls or redis", async () => {
    const root = await bundled(entryFile("."));
    expect(root.files.filter((f) => !f.startsWith("dist/src/core/") && f !== "dist/src/index.js")).toEqual([]);
    expect(root.external.filter((m) => HEAVY.test(m))).toEqual([]);
    // What it does use: Node's crypto and nothing else.
    expect(root.external).toEqual(["node:crypto"]);
  });

  test("the check can fail: the server entry point does pull in ws, @xmpp/xml and node:net", async () => {
    const server = await bundled(entryFile("./server"));
    expect(server.external).toEqual(expect.arrayContaining(["ws", "@xmpp/xml", "node:net", "node:http"]));
  });

  test("every entry point loads by the package's name, in a plain Node process", async () => {
    const script = entries
      .filter(([name]) => name !== "./strophe") // Strophe's mechanism expects a browser's Strophe global
      .map(([name]) => `n = Object.keys(await import(${JSON.stringify(pkg.name + name.slice(1))})).length; if (!n) throw new Error(${JSON.stringify(name)} + " exports nothing");`)
      .join("\n");
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", `let n;\n${script}\nconsole.log("ok")`], { cwd: ROOT });
    expect(stdout.trim()).toBe("ok");
  });
});
