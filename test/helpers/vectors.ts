/** The shared X-TOKEN vectors (test/fixtures/x-token.json, a copy of the spec's vectors), typed. */
import { readFileSync } from "node:fs";

export interface VectorCheck {
  jid: string;
  at: number;
  valid: boolean;
  /** The case's field holding the token this check is about (e.g. "shiftedToken"); "token" when absent. */
  token?: string;
}

export interface VectorCase {
  name: string;
  jid: string;
  otpSeed: string;
  tokenSecret: string;
  mintedAt: number;
  nonce: string;
  token: string;
  saslInitialResponse?: string;
  checks: VectorCheck[];
  /** Further token fields that checks may name. */
  [field: string]: unknown;
}

export const vectors: VectorCase[] = (
  JSON.parse(readFileSync(new URL("../fixtures/x-token.json", import.meta.url), "utf8")) as { cases: VectorCase[] }
).cases;

/** The token a check is about: the field it names, or the case's own token. */
export function checkedToken(c: VectorCase, check: VectorCheck): string {
  const token = c[check.token ?? "token"];
  if (typeof token !== "string") throw new Error(`vector ${c.name}: no token field ${check.token}`);
  return token;
}
