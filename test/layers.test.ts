/**
 * The house's layers, checked on the import statements under src/ (type-only imports included):
 * core < auth < adapters (server, web, client, stores, extauth, component, metrics) < app.
 * A lower layer never imports a higher one; adapters do not import each other; the rooms
 * (src/<layer>/<room>/, or the layer folder itself where it has no rooms) form a graph without
 * cycles, at most 6 floors tall. Run alone: `npx jest test/layers.test.ts` (reads src/, no build).
 */
import { describe, expect, test } from "@jest/globals";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");
const MAX_FLOORS = 6;

const LAYER_RANK: Record<string, number> = {
  core: 0,
  auth: 1,
  server: 2,
  web: 2,
  client: 2,
  stores: 2,
  extauth: 2,
  component: 2,
  metrics: 2,
  app: 3,
};
/** Layers whose sub-folders are rooms of their own; elsewhere (server, client, ...) the layer is one room. */
const LAYERS_WITH_ROOMS = new Set(["core", "auth", "web", "app", "stores"]);
/**
 * Adapter-to-adapter imports that are allowed, each with its reason. The demo's browser page is
 * an @xmpp/client app: it uses our client-side X-TOKEN mechanism, as any web client would.
 */
const ALLOWED_BETWEEN_ADAPTERS = new Set(["web/browser -> client"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** `src/core/token/verify.ts` -> "core/token"; `src/server/transport/tcp.ts` -> "server"; `src/index.ts` -> "index". */
function roomOf(file: string): string {
  const parts = relative(SRC, file).split("/");
  if (parts.length === 1) return "index";
  const layer = parts[0]!;
  if (LAYERS_WITH_ROOMS.has(layer) && parts.length > 2) return `${layer}/${parts[1]}`;
  return layer;
}

const layerOf = (room: string) => room.split("/")[0]!;

/** Relative imports of one file, resolved to .ts files: static, `export … from`, and dynamic import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return specifiers.map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

const edges = new Map<string, Set<string>>();
const fileEdges: { from: string; to: string; fromRoom: string; toRoom: string }[] = [];
for (const file of sourceFiles(SRC)) {
  const fromRoom = roomOf(file);
  for (const target of importsOf(file)) {
    const toRoom = roomOf(target);
    fileEdges.push({ from: relative(SRC, file), to: relative(SRC, target), fromRoom, toRoom });
    if (toRoom === fromRoom) continue;
    if (!edges.has(fromRoom)) edges.set(fromRoom, new Set());
    edges.get(fromRoom)!.add(toRoom);
  }
}

/** Imports that go up a layer, or from one adapter to another (unless allowed). */
function wrongImports(list: typeof fileEdges): string[] {
  return list
    .filter((e) => e.fromRoom !== "index" && layerOf(e.fromRoom) !== layerOf(e.toRoom))
    .filter((e) => {
      const from = LAYER_RANK[layerOf(e.fromRoom)]!;
      const to = LAYER_RANK[layerOf(e.toRoom)]!;
      if (to > from) return true;
      return to === from && !ALLOWED_BETWEEN_ADAPTERS.has(`${e.fromRoom} -> ${e.toRoom}`);
    })
    .map((e) => `${e.from} -> ${e.to}`);
}

/** The tallest chain of rooms starting at `room` (a cycle throws: it has no height). */
function tallest(room: string, seen: string[] = [], memo = new Map<string, string[]>()): string[] {
  if (seen.includes(room)) throw new Error(`import cycle between rooms: ${[...seen, room].join(" -> ")}`);
  const known = memo.get(room);
  if (known) return known;
  let best: string[] = [];
  for (const next of edges.get(room) ?? []) {
    const chain = tallest(next, [...seen, room], memo);
    if (chain.length > best.length) best = chain;
  }
  const result = [room, ...best];
  memo.set(room, result);
  return result;
}

describe("layers and floors of src/", () => {
  test("every relative import points at a file that exists in a known layer", () => {
    const unknown = fileEdges.filter((e) => e.toRoom !== "index" && LAYER_RANK[layerOf(e.toRoom)] === undefined && layerOf(e.toRoom) !== "types");
    expect(unknown).toEqual([]);
    expect(fileEdges.length).toBeGreaterThan(100);
  });

  test("no lower layer imports a higher one, and adapters do not import each other", () => {
    expect(wrongImports(fileEdges)).toEqual([]);
  });

  test(`the rooms' import graph has no cycle and at most ${MAX_FLOORS} floors`, () => {
    const rooms = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])])];
    const chains = rooms.map((room) => tallest(room));
    const top = chains.reduce((a, b) => (b.length > a.length ? b : a));
    // The tallest chain, for whoever has to make it shorter.
    expect({ floors: top.length <= MAX_FLOORS ? "ok" : top.length, chain: top.join(" -> ") }).toMatchObject({ floors: "ok" });
  });

  test("the checker itself sees a backward import, an adapter-to-adapter import and a cycle", () => {
    const fake = (from: string, to: string) => ({ from, to, fromRoom: roomOf(join(SRC, from)), toRoom: roomOf(join(SRC, to)) });
    expect(wrongImports([fake("core/token/mint.ts", "app/config/types.ts"), fake("server/session.ts", "web/demo/app.ts"), fake("app/cli/main.ts", "server/index.ts")])).toEqual([
      "core/token/mint.ts -> app/config/types.ts",
      "server/session.ts -> web/demo/app.ts",
    ]);
    edges.set("core/otp", new Set([...(edges.get("core/otp") ?? []), "core/token"]));
    expect(() => tallest("core/token")).toThrow(/import cycle/);
  });
});
