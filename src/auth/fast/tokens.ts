/**
 * FAST tokens (XEP-0484): handing them out after a strong login, and checking the Hashed Token
 * login made with one. What is stored is the FastTokenRecords' business (src/core/records): the
 * SHA-256 of the initiator message a token gives and its responder message, never the token.
 *
 * Rules (docs/fast.md):
 * - a token is 32 bytes from the CSPRNG, base64url; it is bound to the account, the SHA-256 of the
 *   client's user-agent id and the mechanism: another user agent, account or mechanism gets
 *   not-authorized, and no token is handed out without a user-agent id;
 * - two slots: a new token waits in "new" (the one in "current" keeps working) until it is used
 *   once, which promotes it; a token past its expiry gets credentials-expired;
 * - a login with a token older than the rotation age gets a new one unasked;
 * - both slots are compared on every attempt, in constant time, whichever matches.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { systemClock, type Clock } from "../../core/clock.js";
import type { FastTokenBinding, FastTokenRecords, FastTokenSecret } from "../../core/records/fast-tokens.js";
import type { FastTokenUse } from "../sasl/types.js";
import { HT_SHA_256_NONE, htInitiator, htResponder, verifierOf } from "./ht.js";

/** Default lifetime of a FAST token: 14 days. */
export const DEFAULT_FAST_LIFETIME_SECONDS = 14 * 24 * 3600;
/** Default age after which a login with a token gets a new one: 1 day. */
export const DEFAULT_FAST_ROTATION_SECONDS = 24 * 3600;
/** Bytes of randomness in a token (256 bits; XEP-0484 asks for at least 128). */
export const FAST_TOKEN_BYTES = 32;
/** The longest user-agent id taken (a UUID has 36 characters). */
export const MAX_USER_AGENT_ID_LENGTH = 256;

export interface FastSettings {
  /** Seconds a token is valid from when it is handed out. */
  tokenLifetimeSeconds: number;
  /** Age in seconds after which a login with a token is answered with a new one too. */
  rotateAfterSeconds: number;
}

export const DEFAULT_FAST_SETTINGS: FastSettings = { tokenLifetimeSeconds: DEFAULT_FAST_LIFETIME_SECONDS, rotateAfterSeconds: DEFAULT_FAST_ROTATION_SECONDS };

/** A token as it goes to the client (`<token token=… expiry=…/>`). */
export interface IssuedFastToken {
  token: string;
  mechanism: string;
  /** Unix seconds. */
  expiresAt: number;
}

/** The token a login was made with, for what comes after the success (rotation, invalidation). */
export type UsedFastToken = FastTokenUse;

export type FastVerdict =
  | { ok: true; jid: string; responder: Buffer; used: UsedFastToken }
  | { ok: false; reason: "fast-no-user-agent" | "fast-invalid" | "fast-expired" | "fast-store-error" };

/** The SHA-256 (hex) of a user-agent id: what the records bind a token to. */
export function userAgentHash(id: string): string {
  return createHash("sha256").update(id, "utf8").digest("hex");
}

/** A user-agent id we take: 1 to MAX_USER_AGENT_ID_LENGTH characters, no control characters. */
export function isUsableUserAgentId(id: string | undefined): id is string {
  return id !== undefined && id.length > 0 && id.length <= MAX_USER_AGENT_ID_LENGTH && !/[\p{Cc}]/u.test(id);
}

/** Mechanisms a token can be handed out for. */
export const FAST_MECHANISMS: readonly string[] = [HT_SHA_256_NONE];

const ZERO = Buffer.alloc(32);
const SWEEP_SECONDS = 3600;

/** Constant-time equality of two 32-byte values (a slot that is empty compares against zeros and never matches). */
function matches(expected: Uint8Array | undefined, actual: Buffer): boolean {
  const equal = timingSafeEqual(expected && expected.length === 32 ? expected : ZERO, actual);
  return equal && expected !== undefined;
}

export class FastTokens {
  private readonly records: FastTokenRecords;
  private readonly now: Clock;
  private readonly settings: () => FastSettings;
  /** When expired tokens are next swept from the records (at an issue, at most once an hour). */
  private nextSweep = 0;

  constructor({ records, now = systemClock, settings = DEFAULT_FAST_SETTINGS }: { records: FastTokenRecords; now?: Clock; settings?: FastSettings | (() => FastSettings) }) {
    this.records = records;
    this.now = now;
    this.settings = typeof settings === "function" ? settings : () => settings;
  }

  /**
   * A new token for `account` on the user agent `userAgentId`, stored in the "new" slot before it
   * is returned; throws when the records cannot store it (then nobody gets it).
   */
  issue(account: string, userAgentId: string, mechanism: string = HT_SHA_256_NONE): IssuedFastToken {
    if (!FAST_MECHANISMS.includes(mechanism)) throw new RangeError(`no FAST tokens for ${mechanism}`);
    const token = randomBytes(FAST_TOKEN_BYTES).toString("base64url");
    const issuedAt = Math.floor(this.now());
    const expiresAt = issuedAt + this.settings().tokenLifetimeSeconds;
    const secret: FastTokenSecret = { verifier: verifierOf(htInitiator(token)), responder: htResponder(token), issuedAt, expiresAt };
    this.records.issue({ account, agentHash: userAgentHash(userAgentId), mechanism }, secret);
    if (issuedAt >= this.nextSweep) {
      this.nextSweep = issuedAt + SWEEP_SECONDS;
      try {
        this.records.removeExpired(issuedAt);
      } catch {
        // The next sweep tries again; an expired token is refused whether it is still stored or not.
      }
    }
    return { token, mechanism, expiresAt };
  }

  /**
   * The check of a Hashed Token login: `initiator` for `jid` on user agent `userAgentId`. Both
   * slots are compared every time; a match in "new" promotes it. Never throws.
   */
  verify(jid: string, userAgentId: string | undefined, mechanism: string, initiator: Buffer): FastVerdict {
    if (!isUsableUserAgentId(userAgentId)) return { ok: false, reason: "fast-no-user-agent" };
    const binding: FastTokenBinding = { account: jid, agentHash: userAgentHash(userAgentId), mechanism };
    const verifier = verifierOf(initiator);
    try {
      const slots = this.records.find(binding);
      const inNew = matches(slots.new?.verifier, verifier);
      const inCurrent = matches(slots.current?.verifier, verifier);
      const found = inNew ? slots.new! : inCurrent ? slots.current! : null;
      if (!found) return { ok: false, reason: "fast-invalid" };
      if (found.expiresAt <= this.now()) return { ok: false, reason: "fast-expired" };
      // A login racing with this one on the same new token finds it promoted, in "current"; one
      // that lost it meanwhile (invalidated, revoked, replaced) is refused.
      if (inNew && !this.records.promote(binding, verifier) && !matches(this.records.find(binding).current?.verifier, verifier)) {
        return { ok: false, reason: "fast-invalid" };
      }
      return { ok: true, jid, responder: Buffer.from(found.responder), used: { binding, verifier, slot: inNew ? "new" : "current", issuedAt: found.issuedAt } };
    } catch {
      return { ok: false, reason: "fast-store-error" };
    }
  }

  /** `<fast invalidate='true'/>`: the token the login was made with stops working. Throws when the records cannot write. */
  invalidate(used: UsedFastToken): void {
    this.records.invalidate(used.binding, used.verifier);
  }

  /** Whether a login made with this token gets a new one unasked. */
  isDueForRotation(used: UsedFastToken): boolean {
    return this.now() - used.issuedAt >= this.settings().rotateAfterSeconds;
  }
}
