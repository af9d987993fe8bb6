/**
 * Builds the demo's browser assets into dist/browser: the chat page (with @xmpp/client's browser
 * build and our X-TOKEN mechanism), the Strophe.js check page, and the stylesheet.
 * Run by `npm run build` after tsc.
 */
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url)); // from dist/scripts/
const outdir = `${root}dist/browser`;
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { demo: `${root}src/web/browser/demo-page.ts`, "strophe-check": `${root}src/web/browser/strophe-check.ts` },
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  logLevel: "warning",
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
copyFileSync(`${root}src/web/browser/demo.css`, `${outdir}/demo.css`);
