/**
 * Tests with a real Redis: `describeRedis` runs a suite when redis-server is installed (.ci/run
 * installs it) and skips it with the reason otherwise; `startRedis` (scripts/lib/private-redis.ts)
 * starts a private one on a free loopback port, which can be stopped, started again on the same
 * port, and frozen.
 */
import { describe } from "@jest/globals";
import { REDIS_SERVER } from "../../scripts/lib/private-redis.js";

export { REDIS_SERVER, startRedis, type PrivateRedis, type PrivateRedisOptions } from "../../scripts/lib/private-redis.js";

/** `describe` when redis-server is installed, else `describe.skip` with the reason in the suite's name. */
export function describeRedis(name: string, body: () => void): void {
  if (REDIS_SERVER) describe(name, body);
  else describe.skip(`${name} (skipped: redis-server is not installed; apt-get install redis-server)`, body);
}
