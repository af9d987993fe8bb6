/**
 * The client's FAST token stores (issue 20 item 5): the file store for Node (mode 0600, atomic
 * replacement, a corrupted or foreign file reported by a FastStoreError that quotes nothing of it
 * and left untouched), Web Storage and memory. Real files in a temp folder.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileFastStore } from "../src/client/file-store.js";
import { FastStoreError, memoryFastStore, parseFastState, serializeFastState, webStorageFastStore, type FastState } from "../src/client/fast-store.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const SECRET = "s3cr3t-fast-token-value-that-must-never-be-quoted";
const STATE: FastState = {
  jid: "alice@example.test",
  userAgentId: "3f1c2b0e-6a55-4a59-9c61-4a3f0c7e2f11",
  token: { mechanism: "HT-SHA-256-NONE", token: SECRET, expiry: "2026-12-21T22:00:00Z" },
};

/** The error a store call throws or rejects with (stores may be synchronous). */
async function rejection(call: () => unknown): Promise<Error> {
  try {
    await call();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("fileFastStore", () => {
  test("no file: no record; a save writes mode 0600 JSON with the format marker and nothing else beside it", async () => {
    const dir = tempDir("fast-store-");
    const path = join(dir, "alice.json");
    const store = fileFastStore(path);
    expect(await store.load()).toBeUndefined();
    await store.save(STATE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const content = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    expect(content).toEqual({ format: "xmpp-x-token/fast-state@1", ...STATE });
    expect(await store.load()).toEqual(STATE);
    expect(readdirSync(dir)).toEqual(["alice.json"]); // no temp file left over
  });

  test("a file another program made readable by all is replaced by a 0600 one on the next save", async () => {
    const path = join(tempDir("fast-store-"), "t.json");
    writeFileSync(path, "", { mode: 0o644 });
    chmodSync(path, 0o644);
    const store = fileFastStore(path);
    expect(await store.load()).toBeUndefined(); // empty: no record, nothing lost by writing
    await store.save(STATE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("saves run in call order: the last one wins, and a load after them reads it", async () => {
    const path = join(tempDir("fast-store-"), "t.json");
    const store = fileFastStore(path);
    const states = Array.from({ length: 20 }, (_, i) => ({ ...STATE, token: { ...STATE.token!, token: `token-${i}` } }));
    await Promise.all(states.map((s) => store.save(s)));
    expect((await store.load())?.token?.token).toBe("token-19");
    await store.clear();
    expect(await store.load()).toBeUndefined();
    await store.clear(); // clearing nothing is fine
  });

  test.each([
    ["not JSON", "{ this is not json", /not JSON/],
    ["half a record", '{"format":"xmpp-x-token/fast-state@1","jid":"alice@example.test"', /not JSON/],
    ["JSON of someone else", '{"name":"my-app","version":"1.0.0"}', /not a FAST token record of this client/],
    ["our format with a broken token", JSON.stringify({ format: "xmpp-x-token/fast-state@1", ...STATE, token: { ...STATE.token, expiry: "soon" } }), /not a FAST token record/],
    ["our format with a lowercase mechanism", JSON.stringify({ format: "xmpp-x-token/fast-state@1", ...STATE, token: { ...STATE.token, mechanism: "ht-sha-256-none" } }), /not a FAST token record/],
    ["null", "null", /not a FAST token record/],
  ])("a corrupted file (%s): FastStoreError naming the file, quoting none of it; the file is left as it was", async (_name, text, message) => {
    const path = join(tempDir("fast-store-"), "t.json");
    writeFileSync(path, text.replace("alice", SECRET), { mode: 0o600 });
    const err = await rejection(() => fileFastStore(path).load());
    expect(err).toBeInstanceOf(FastStoreError);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/delete it/);
    expect(err.message).not.toContain(SECRET);
    expect(readFileSync(path, "utf8")).toBe(text.replace("alice", SECRET));
  });

  test("a huge file is refused unread", async () => {
    const path = join(tempDir("fast-store-"), "t.json");
    writeFileSync(path, "x".repeat(100_000));
    expect(await rejection(() => fileFastStore(path).load())).toBeInstanceOf(FastStoreError);
  });

  test("a path that is a folder, or in a folder that cannot be written: FastStoreError with the reason, no temp file left", async () => {
    const dir = tempDir("fast-store-");
    const err = await rejection(() => fileFastStore(dir).load());
    expect(err).toBeInstanceOf(FastStoreError);
    expect(err.message).toMatch(/cannot read .*EISDIR/);
    const saveErr = await rejection(() => fileFastStore(dir).save(STATE));
    expect(saveErr).toBeInstanceOf(FastStoreError);
    expect(saveErr.message).toMatch(/cannot write/);
    const missing = await rejection(() => fileFastStore(join(dir, "no-such-folder", "t.json")).save(STATE));
    expect(missing.message).toMatch(/cannot write .*ENOENT/);
    if (process.getuid?.() !== 0) {
      const readOnly = join(dir, "read-only");
      mkdirSync(readOnly, { mode: 0o500 });
      const denied = await rejection(() => fileFastStore(join(readOnly, "t.json")).save(STATE));
      expect(denied.message).toMatch(/cannot write .*EACCES/);
      chmodSync(readOnly, 0o700);
    }
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  test("kill -9 while saving in a loop: the file always holds a whole record, old or new", async () => {
    const path = join(tempDir("fast-store-"), "t.json");
    // The compiled store (npm test builds before jest runs), in a child that saves as fast as it can.
    const module = new URL("../dist/src/client/file-store.js", import.meta.url).pathname;
    const script = `
      import { fileFastStore } from ${JSON.stringify(module)};
      const store = fileFastStore(${JSON.stringify(path)});
      const base = ${JSON.stringify(STATE)};
      for (let i = 0; ; i++) {
        await store.save({ ...base, token: { ...base.token, token: "t" + i } });
        if (i % 25 === 0) process.stdout.write(i + "\\n");
      }
    `;
    for (const round of [1, 2, 3]) {
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      let lines = 0;
      // Killed in the middle of its saves: after `round` progress lines, while it keeps writing.
      await new Promise<void>((resolve) => {
        child.stdout.on("data", (chunk: Buffer) => {
          lines += chunk.toString().split("\n").length - 1;
          if (lines >= round) child.kill("SIGKILL");
        });
        child.on("exit", () => resolve());
      });
      expect(child.signalCode).toBe("SIGKILL");
      const state = await fileFastStore(path).load();
      expect(state?.jid).toBe(STATE.jid);
      expect(state?.token?.token).toMatch(/^t\d+$/);
      expect(statSync(path).mode & 0o777).toBe(0o600);
    }
  });
});

describe("webStorageFastStore and memoryFastStore", () => {
  function fakeStorage(): Storage & { items: Map<string, string> } {
    const items = new Map<string, string>();
    return {
      items,
      get length() {
        return items.size;
      },
      clear: () => items.clear(),
      key: (i: number) => [...items.keys()][i] ?? null,
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
      removeItem: (key: string) => void items.delete(key),
    };
  }

  test("round trip under its key; clear removes it; a corrupted item gives FastStoreError without its text", async () => {
    const storage = fakeStorage();
    const store = webStorageFastStore(storage, "chat.fast.alice@example.test");
    expect(await store.load()).toBeUndefined();
    await store.save(STATE);
    expect(parseFastState(storage.items.get("chat.fast.alice@example.test")!, "x")).toEqual(STATE);
    expect(await store.load()).toEqual(STATE);
    storage.items.set("chat.fast.alice@example.test", `{"token":"${SECRET}"`);
    const err = await rejection(() => store.load());
    expect(err).toBeInstanceOf(FastStoreError);
    expect(err.message).not.toContain(SECRET);
    await store.clear();
    expect(storage.items.size).toBe(0);
  });

  test("a full storage: FastStoreError", async () => {
    const storage = fakeStorage();
    storage.setItem = () => {
      throw new DOMException("quota", "QuotaExceededError");
    };
    const err = await rejection(() => webStorageFastStore(storage, "k").save(STATE));
    expect(err).toBeInstanceOf(FastStoreError);
    expect(err.message).toMatch(/cannot write/);
  });

  test("memory: keeps a copy, refuses what is not a record", async () => {
    const store = memoryFastStore();
    expect(store.load()).toBeUndefined();
    store.save(STATE);
    expect(store.load()).toEqual(STATE);
    expect(() => store.save({ ...STATE, userAgentId: "" })).toThrow(FastStoreError);
    expect(() => serializeFastState({ ...STATE, jid: "x".repeat(4000) })).toThrow(FastStoreError);
    store.clear();
    expect(store.load()).toBeUndefined();
  });
});
