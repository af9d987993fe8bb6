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
}
