/**
 * Time, injected one way everywhere: a long-lived object (authority, limiter, endpoint, session
 * store) takes a `now: Clock` option; a one-shot function (mintToken, checkToken) takes
 * `now: number`, the instant it works at. Both default to the system clock below, the only place
 * that reads it.
 */

/** Unix time in seconds, fractional. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now() / 1000;
