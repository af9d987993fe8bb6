/**
 * A FAST token store in a file, for Node apps (a bot, a CLI, a desktop client): the user-agent id
 * and the token survive restarts of the app. Node-only (node:fs); browsers use webStorageFastStore.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FastStoreError, parseFastState, serializeFastState, type FastState, type FastStore } from "./fast-store.js";

/** The largest token file read: a record is well under 8 KiB; anything bigger is not ours. */
const MAX_FILE_BYTES = 64 * 1024;

function code(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message;
}

/** Makes `path` durable: its content (fsync) or, for a folder, the names in it (a rename). */
async function syncPath(path: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A store in the file at `path`, created with mode 0600 (owner only: it holds a credential).
 * Each save writes a new file beside it, syncs it, renames it over the old one and syncs the
 * folder, so after a crash or `kill -9` the file holds the old record or the new one, never a
 * mix. Saves of one store run one after another in call order.
 *
 * Reading a file that is not a record of this client (corrupted, or the path of some other file)
 * throws FastStoreError and leaves the file as it is; an empty file counts as no record.
 */
export function fileFastStore(path: string): FastStore {
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };

  async function write(state: FastState): Promise<void> {
    const text = serializeFastState(state);
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      const handle = await open(temp, "wx", 0o600);
      try {
        await handle.writeFile(text, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw new FastStoreError(`cannot write the FAST token file ${path} (${code(err)})`, { cause: err });
    }
    // The rename is durable once the folder is synced; some systems cannot open a folder to sync it.
    await syncPath(dirname(path), "r").catch(() => {});
  }

  return {
    async load() {
      await queue; // a load after a save reads what was saved
      let text: string;
      try {
        const handle = await open(path, "r");
        try {
          const { size } = await handle.stat();
          if (size > MAX_FILE_BYTES) throw new FastStoreError(`${path} is not a FAST token record (${size} bytes); delete it to log in with a fresh token`);
          text = await readFile(handle, "utf8");
        } finally {
          await handle.close();
        }
      } catch (err) {
        if (err instanceof FastStoreError) throw err;
        if (code(err) === "ENOENT") return undefined;
        throw new FastStoreError(`cannot read the FAST token file ${path} (${code(err)})`, { cause: err });
      }
      if (text.trim() === "") return undefined;
      return parseFastState(text, `the FAST token file ${path}`);
    },
    save: (state) => serially(() => write(state)),
    clear: () =>
      serially(async () => {
        try {
          await rm(path, { force: true });
        } catch (err) {
          throw new FastStoreError(`cannot delete the FAST token file ${path} (${code(err)})`, { cause: err });
        }
      }),
  };
}
