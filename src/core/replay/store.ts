/**
 * Replay stores remember accepted tokens until no verifier could accept them any more.
 * The interface is async-capable so a shared store (Redis, a database) can implement it.
 */

export type ClaimResult = "claimed" | "replayed" | "full";

export interface ReplayStore {
  /**
   * Atomically records `id` as used until unix time `expiresAt` (seconds), unless it is
   * already recorded. `now` is the verifier's clock, so tests with a fixed time agree.
   * A store that cannot record (full, unreachable) must not answer "claimed".
   */
  claim(id: string, expiresAt: number, now: number): ClaimResult | Promise<ClaimResult>;
  /**
   * Optional, for a store in this process: the same claim for the token whose replay id is the
   * base64 text of `signature` (its 32 signature bytes, which verifyToken holds decoded), so the
   * store needs no id string. It must be the very entry claim(id) uses for that text. It answers
   * at once: `signature` is a buffer the next verification overwrites, so a store that would read
   * it after a round trip must not offer this (verifyToken refuses the token, replay-store-error,
   * when the answer is a promise).
   */
  claimSignature?(signature: Uint8Array, expiresAt: number, now: number): ClaimResult;
}
