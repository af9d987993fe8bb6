/**
 * Makes the emitted declarations carry ours for untyped dependencies: every dist/src/**\/*.d.ts
 * that imports a module declared in src/types/*.d.ts (`declare module "@xmpp/client"` ...)
 * gets a `/// <reference path>` to that file, which the package ships (package.json "files").
 * Without it a TypeScript user of the package gets TS7016 for `@xmpp/*`. Run by `npm run build`
 * after tsc, so a new module or entry point needs nothing done by hand.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url)); // from dist/scripts/
const typesDir = join(root, "src/types");

/** Module name -> the declaration file that declares it. */
const declaredIn = new Map<string, string>();
for (const name of readdirSync(typesDir).filter((f) => f.endsWith(".d.ts"))) {
  const file = join(typesDir, name);
  for (const match of readFileSync(file, "utf8").matchAll(/^declare module "([^"]+)"/gm)) declaredIn.set(match[1]!, file);
}

function* declarations(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* declarations(path);
    else if (entry.name.endsWith(".d.ts")) yield path;
  }
}

for (const file of declarations(join(root, "dist/src"))) {
  const text = readFileSync(file, "utf8");
  const imported = [...text.matchAll(/(?:from |import\()"([^"]+)"/g)].map((m) => m[1]!);
  const needed = [...new Set(imported.map((name) => declaredIn.get(name)).filter((f): f is string => f !== undefined))];
  const directives = needed
    .map((decl) => `/// <reference path="${relative(join(file, ".."), decl)}" />\n`)
    .filter((line) => !text.includes(line));
  if (directives.length === 0) continue;
  writeFileSync(file, directives.join("") + text);
}
