/**
 * Random identifiers for streams, resources and pushes, as hex. They come from the system CSPRNG
 * like randomBytes, but a block at a time: a login takes three ids (two stream ids and a
 * resource), and one randomBytes call per id cost more than the id (a system call and a lock
 * each). Each byte of the block is handed out once.
 */
import { randomFillSync } from "node:crypto";

const BLOCK_BYTES = 4096;
const block = Buffer.alloc(BLOCK_BYTES);
let used = BLOCK_BYTES;

/** `bytes` fresh random bytes as 2 * bytes hex characters. */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > BLOCK_BYTES) throw new RangeError(`randomHex takes 1 to ${BLOCK_BYTES} bytes`);
  if (used + bytes > BLOCK_BYTES) {
    randomFillSync(block);
    used = 0;
  }
  const hex = block.toString("hex", used, used + bytes);
  // Handed out once: the bytes are not left in memory for anyone to read again.
  block.fill(0, used, used + bytes);
  used += bytes;
  return hex;
}
