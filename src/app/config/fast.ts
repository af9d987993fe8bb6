/**
 * The `fast` section (docs/fast.md, docs/configuration.md): FAST tokens' lifetime and rotation age,
 * in seconds. The defaults are the server's own (src/auth/fast: 14 days, 1 day); a section that
 * leaves a setting out gets it.
 */
import { DEFAULT_FAST_SETTINGS, type FastSettings } from "../../auth/fast/tokens.js";
import { ConfigError, integer, object } from "./validators.js";

/** The longest lifetime taken: a year (a token is a bearer secret on a device; revoke what is lost). */
export const MAX_FAST_LIFETIME_SECONDS = 366 * 24 * 3600;

export function parseFast(value: unknown): FastSettings {
  if (value === undefined || value === null) return { ...DEFAULT_FAST_SETTINGS };
  const raw = object(value, "fast", ["tokenLifetimeSeconds", "rotateAfterSeconds"]);
  const tokenLifetimeSeconds =
    raw.tokenLifetimeSeconds === undefined ? DEFAULT_FAST_SETTINGS.tokenLifetimeSeconds : integer(raw.tokenLifetimeSeconds, "fast.tokenLifetimeSeconds", 60, MAX_FAST_LIFETIME_SECONDS);
  const rotateAfterSeconds =
    raw.rotateAfterSeconds === undefined ? Math.min(DEFAULT_FAST_SETTINGS.rotateAfterSeconds, tokenLifetimeSeconds) : integer(raw.rotateAfterSeconds, "fast.rotateAfterSeconds", 0, MAX_FAST_LIFETIME_SECONDS);
  if (rotateAfterSeconds > tokenLifetimeSeconds) throw new ConfigError("config: fast.rotateAfterSeconds must not be more than fast.tokenLifetimeSeconds (a token would expire before it is rotated)");
  return { tokenLifetimeSeconds, rotateAfterSeconds };
}
