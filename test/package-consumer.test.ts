/**
 * The package as users get it: `npm pack` of this folder (after `npm test`'s build), its file
 * list, and a consumer project that installs the tarball and compiles an import of every entry
 * point in package.json "exports" with TypeScript's strict settings and skipLibCheck false (so
 * every shipped declaration file is checked), then imports each entry in Node.
 * The consumer's dependencies are links to this project's node_modules (no network).
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import semver from "semver";
import ts from "typescript";

const ROOT = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, { types: string; default: string } | string>;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
/** The import specifier of an exports key: "." -> xmpp-x-token, "./client" -> xmpp-x-token/client. */
const specifier = (key: string) => (key === "." ? pkg.name : `${pkg.name}/${key.slice(2)}`);
/** Code entry points (those with types); plain files such as "./package.json" are only checked to be shipped. */
const ENTRIES = Object.entries(pkg.exports).filter(([, target]) => typeof target === "object").map(([key]) => specifier(key));

let work: string;
let consumer: string;
let packed: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "x-token-pack-"));
  // --ignore-scripts: `prepare` would rebuild; npm test has just built dist/.
  const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [info] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  packed = info.files.map((f) => f.path).sort();

  consumer = join(work, "consumer");
  const installed = join(consumer, "node_modules", pkg.name);
  mkdirSync(installed, { recursive: true });
  execFileSync("tar", ["-xzf", join(work, info.filename), "-C", installed, "--strip-components=1"]);
  // What npm would install next to it: its dependencies, peers, and a TypeScript user's @types/node.
  for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {}), "@types/node"]) {
    const link = join(consumer, "node_modules", name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", name), link, "dir");
  }
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("npm pack", () => {
  test("ships what users need: every exports target, the binary, the demo's assets, our @xmpp declarations, LICENSE", () => {
    const targets = Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : [e.types, e.default]));
    for (const target of targets) expect(packed).toContain(target.replace(/^\.\//, ""));
    for (const bin of Object.values(pkg.bin)) expect(packed).toContain(bin);
    expect(packed).toEqual(expect.arrayContaining(["LICENSE", "README.md", "package.json", "dist/browser/demo.js", "dist/browser/demo.css", "src/types/xmpp.d.ts"]));
    expect(readFileSync(join(consumer, "node_modules", pkg.name, "LICENSE"), "utf8")).toMatch(/^MIT License/);
  });

  test("README's relative links work in node_modules: docs/ is shipped (issue 22 item 10)", () => {
    const installed = join(consumer, "node_modules", pkg.name);
    const readme = readFileSync(join(installed, "README.md"), "utf8");
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:|^#/.test(t)).map((t) => t.split("#")[0]!);
    expect(targets.length).toBeGreaterThan(5);
    expect(targets.filter((target) => !existsSync(join(installed, target)))).toEqual([]);
    // And the docs' own links between each other.
    for (const doc of packed.filter((path) => /^docs\/.*\.md$/.test(path))) {
      const text = readFileSync(join(installed, doc), "utf8");
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:|^#/.test(t)).map((t) => t.split("#")[0]!);
      expect(links.filter((target) => !existsSync(join(installed, "docs", target)) && !target.startsWith("../"))).toEqual([]);
    }
  });

  test("ships nothing users do not need: no scripts, tests, test pages, source maps or TypeScript sources", () => {
    const unwanted = packed.filter((path) =>
      /^dist\/(scripts|test)\/|strophe-check|demo-page\.|\.map$|^test\/|^scripts\//.test(path) || (path.endsWith(".ts") && !path.endsWith(".d.ts")),
    );
    expect(unwanted).toEqual([]);
    // A shipped file never points at a source map that is not shipped.
    const dangling = packed.filter((path) => path.endsWith(".js") && readFileSync(join(consumer, "node_modules", pkg.name, path), "utf8").includes("sourceMappingURL="));
    expect(dangling).toEqual([]);
  });
});

/**
 * A consumer's settings: strict, and skipLibCheck false, so the package's declaration files
 * (and those they pull in) are checked; TypeScript's own lib files are skipped as they would be
 * with any setting.
 */
const CONSUMER_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: false,
  skipDefaultLibCheck: true,
  noEmit: true,
};
const parsed = new Map<string, ts.SourceFile | undefined>();
function consumerHost(): ts.CompilerHost {
  const host = ts.createCompilerHost(CONSUMER_OPTIONS);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, fresh) => {
    if (name.startsWith(consumer) && !name.includes("node_modules")) return read(name, language, onError, fresh);
    if (!parsed.has(name)) parsed.set(name, read(name, language, onError, fresh));
    return parsed.get(name);
  };
  return host;
}

describe("a TypeScript consumer of the packed tarball (strict, skipLibCheck false)", () => {
  test.each(ENTRIES)("import * from %p compiles", (entry) => {
    const file = join(consumer, `${entry.replace(/\W/g, "_")}.ts`);
    writeFileSync(file, `import * as entry from ${JSON.stringify(entry)};\nexport const names: string[] = Object.keys(entry);\n`);
    // Each entry in a program of its own: declarations one entry ships must not rescue another.
    // Parsed files are shared between the programs (parsing is most of the time, not checking).
    const program = ts.createProgram({ rootNames: [file], options: CONSUMER_OPTIONS, host: consumerHost() });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(consumer, ".")}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : "";
      return `${where}TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    expect(diagnostics).toEqual([]);
  }, 180_000);

  test.each(ENTRIES)("%p loads in Node from the installed package", (entry) => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", `const m = await import(${JSON.stringify(entry)}); console.log(Object.keys(m).length);`], { cwd: consumer, encoding: "utf8" });
    expect(Number(out.trim())).toBeGreaterThan(0);
  });
});

/** README's TypeScript example, compiled as a strict consumer would: NodeNext, and Bundler resolution. */
describe("README's TypeScript example in the consumer project", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const snippet = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith("// login.ts"));

  const resolutions: [string, ts.CompilerOptions][] = [
    ["NodeNext", {}],
    ["Bundler", { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }],
  ];
  test.each(resolutions)("compiles with moduleResolution %s, strict, skipLibCheck false", (name, overrides) => {
    expect(snippet).toBeDefined();
    const file = join(consumer, `readme_login_${name}.ts`);
    writeFileSync(file, snippet!);
    const options = { ...CONSUMER_OPTIONS, ...overrides };
    const program = ts.createProgram({ rootNames: [file], options, host: ts.createCompilerHost(options) });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? d.file.fileName.replace(consumer, ".") + ": " : ""}TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    expect(diagnostics).toEqual([]);
  }, 180_000);

  test("the old node resolution is refused, as README says (so the advice is needed)", () => {
    const file = join(consumer, "readme_login_node10.ts");
    writeFileSync(file, snippet!);
    const options = { ...CONSUMER_OPTIONS, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Node10 };
    const program = ts.createProgram({ rootNames: [file], options, host: ts.createCompilerHost(options) });
    const codes = ts.getPreEmitDiagnostics(program).map((d) => d.code);
    expect(codes).toContain(2307); // Cannot find module 'xmpp-x-token/client'
  }, 180_000);
});

describe("the Node versions we claim", () => {
  test("every locked package (dev ones too: npm ci installs them) runs on the oldest Node package.json's engines allows", () => {
    const { engines } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
    const oldest = semver.minVersion(engines.node)!.version;
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
    const refused = Object.entries(lock.packages)
      .map(([path, entry]) => [path, Array.isArray(entry.engines) ? undefined : entry.engines?.node] as const)
      .filter(([, node]) => node !== undefined && !semver.satisfies(oldest, node, { includePrerelease: true }))
      .map(([path, node]) => `${path.replace(/^.*node_modules\//, "")} needs node ${node}`);
    expect(refused).toEqual([]);
  });
});
