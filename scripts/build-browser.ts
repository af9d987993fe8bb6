/**
 * Builds the demo's browser assets into dist/browser: the chat page (with @xmpp/client's browser
 * build and our X-TOKEN mechanism), the Strophe.js check page, and the stylesheet.
 * Run by `npm run build` after tsc. Skipped when the assets are newer than every file the last
 * bundle was made from (esbuild's own list of inputs, kept in dist/browser/inputs.json) and than
 * this script, so `npm start` does not bundle again for nothing; `--force` bundles anyway.
 */
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url)); // from dist/scripts/
const outdir = `${root}dist/browser`;
const OUTPUTS = ["demo.js", "strophe-check.js", "demo.css"];
const STYLESHEET = `${root}src/web/browser/demo.css`;
const inputsFile = `${outdir}/inputs.json`;

function upToDate(): boolean {
  try {
    const inputs = JSON.parse(readFileSync(inputsFile, "utf8")) as string[];
    const built = Math.min(...OUTPUTS.map((name) => statSync(join(outdir, name)).mtimeMs));
    const sources = [...inputs.map((input) => join(root, input)), STYLESHEET, fileURLToPath(import.meta.url)];
    return sources.every((file) => statSync(file).mtimeMs < built);
  } catch {
    return false; // a first build, a missing output or input: build
  }
}

if (!process.argv.includes("--force") && upToDate()) process.exit(0);

mkdirSync(outdir, { recursive: true });
const result = await build({
  entryPoints: { demo: `${root}src/web/browser/demo-page.ts`, "strophe-check": `${root}src/web/browser/strophe-check.ts` },
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  logLevel: "warning",
  metafile: true,
  plugins: [
    {
      // @xmpp/resolve's DNS lookups (for xmpp:// services) import node:dns; its package.json
      // maps "./lib/dns" away for browsers but not "./lib/dns.js", so stub Node built-ins here.
      name: "no-node-builtins",
      setup(b) {
        b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: "node-builtin-stub" }));
        b.onLoad({ filter: /.*/, namespace: "node-builtin-stub" }, () => ({ contents: "export default {};", loader: "js" }));
      },
    },
  ],
});
copyFileSync(STYLESHEET, `${outdir}/demo.css`);
// esbuild names inputs relative to the working directory: keep them relative to the root.
// Stubbed modules ("node-builtin-stub:node:dns", "(disabled):…" for browser-field exclusions) are no files.
const inputs = Object.keys(result.metafile.inputs).filter((input) => !/^[\w-]+:|^\(disabled\):/.test(input));
writeFileSync(inputsFile, JSON.stringify(inputs.map((input) => join(process.cwd(), input).slice(root.length))));
