/**
 * Domain keys and their rotation. A domain has an ordered list of keys: the first mints,
 * every one verifies, so a new key can be put first while tokens made with the old one
 * are still in flight. The token carries no key id; this is Prosody's format unchanged.
 *
 * Weak keys (secret-strength.ts: a token secret under 16 bytes, an OTP seed under 10 bytes,
 * repeated or whitespace-only) are refused by `new Keyring`, which servers, the CLI and the
 * configuration use, and never mint. Only `Keyring.from` on plain keys (checkToken and
 * verifyToken given keys directly) still verifies with one, so published test vectors made
 * with short secrets can be checked.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { base32Decode, Base32Error } from "../otp/base32.js";
import { hotp } from "../otp/hotp.js";
import { OTP_DIGITS } from "./format.js";
import { MIN_OTP_SEED_BYTES, MIN_TOKEN_SECRET_BYTES, weakSecretProblem } from "./secret-strength.js";

export const OTP_STEP_SECONDS = 30;

/** The two secrets a web backend and the XMPP server share, as Prosody's config names them. */
export interface TokenKey {
  /** HMAC-SHA256 key, used as its UTF-8 bytes (not base32-decoded, as in Prosody). */
  tokenSecret: string;
  /** Base32 TOTP seed. */
  otpSeed: string;
}

/**
 * A key that cannot be used. `field` and `problem` say what is wrong without the value, so a
 * caller can name the setting its own way (a config path, an environment variable, a flag).
 */
export class KeyError extends Error {
  override readonly name = "KeyError";
  constructor(
    message: string,
    /** Which key of the list (1-based), when the problem is in one key. */
    readonly keyNumber?: number,
    /** Which field of that key. */
    readonly field?: "tokenSecret" | "otpSeed",
    /** The problem, in words that fit after the field's name ("is missing or empty"). */
    readonly problem?: string,
  ) {
    super(message);
  }

  /** A problem with one field of key number `keyNumber`. */
  static inField(keyNumber: number, field: "tokenSecret" | "otpSeed", problem: string): KeyError {
    return new KeyError(`key ${keyNumber}: ${field} ${problem}`, keyNumber, field, problem);
  }
}

/** How many recent time steps' OTPs each key keeps; a verifier looks at three at a time. */
const OTP_CACHE_STEPS = 8;

/** One key, decoded once, with the OTP of recent time steps computed once and reused. */
export class PreparedKey {
  readonly tokenSecret: Buffer;
  /** The secret as a KeyObject: createHmac then skips copying the raw key on every call. */
  private readonly hmacKey: KeyObject;
  private readonly seed: Buffer;
  private readonly otpByStep = new Map<number, Buffer>();
  /** Why this key is too weak to mint or to serve (a KeyError naming the field), or null. */
  readonly weakness: KeyError | null;

  constructor(key: TokenKey, index = 0) {
    if (!key || typeof key.tokenSecret !== "string" || key.tokenSecret.length === 0) {
      throw KeyError.inField(index + 1, "tokenSecret", "is missing or empty");
    }
    if (typeof key.otpSeed !== "string" || key.otpSeed.trim().length === 0) {
      throw KeyError.inField(index + 1, "otpSeed", "is missing or empty");
    }
    this.tokenSecret = Buffer.from(key.tokenSecret, "utf8");
    this.hmacKey = createSecretKey(this.tokenSecret);
    try {
      this.seed = base32Decode(key.otpSeed);
    } catch (err) {
      if (err instanceof Base32Error) throw KeyError.inField(index + 1, "otpSeed", `is not valid ${err.message}`);
      throw err;
    }
    if (this.seed.length === 0) throw KeyError.inField(index + 1, "otpSeed", "decodes to no bytes");
    const secretProblem = weakSecretProblem(this.tokenSecret, MIN_TOKEN_SECRET_BYTES);
    const seedProblem = weakSecretProblem(this.seed, MIN_OTP_SEED_BYTES);
    this.weakness =
      secretProblem !== null
        ? KeyError.inField(index + 1, "tokenSecret", secretProblem)
        : seedProblem !== null
          ? KeyError.inField(index + 1, "otpSeed", seedProblem.replace(/ bytes\b/, " bytes once decoded"))
          : null;
  }

  sign(message: string): Buffer {
    return createHmac("sha256", this.hmacKey).update(message, "utf8").digest();
  }

  /** The 8-digit TOTP of time step `step`, as ASCII bytes (for constant-time comparison). */
  otpAt(step: number): Buffer {
    let otp = this.otpByStep.get(step);
    if (otp === undefined) {
      otp = Buffer.from(hotp(this.seed, step, { algorithm: "sha1", digits: OTP_DIGITS }), "latin1");
      if (this.otpByStep.size >= OTP_CACHE_STEPS) {
        // Map iteration is insertion order: drop the oldest computed step.
        this.otpByStep.delete(this.otpByStep.keys().next().value!);
      }
      this.otpByStep.set(step, otp);
    }
    return otp;
  }

  /** Whether `signature` is this key's HMAC of `message`, compared in constant time. */
  signs(message: string, signature: Buffer): boolean {
    const expected = this.sign(message);
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  }
}

/** The ordered keys of one domain. */
export class Keyring {
  readonly keys: readonly PreparedKey[];

  /**
   * Throws KeyError for a missing, malformed or weak key (the first one, by number and field).
   * `allowWeak` keeps weak keys for verification only: `current` still refuses to mint with one.
   */
  constructor(keys: readonly TokenKey[], { allowWeak = false }: { allowWeak?: boolean } = {}) {
    if (!Array.isArray(keys) || keys.length === 0) throw new KeyError("at least one key is required");
    this.keys = keys.map((key, index) => new PreparedKey(key, index));
    if (!allowWeak) {
      const weak = this.keys.find((key) => key.weakness !== null);
      if (weak) throw weak.weakness!;
    }
  }

  /** The key that mints new tokens; a weak one throws its KeyError (nothing mints with it). */
  get current(): PreparedKey {
    const key = this.keys[0]!;
    if (key.weakness) throw key.weakness;
    return key;
  }

  /**
   * A Keyring as is, or plain keys prepared once (and cached by identity). Plain keys may be
   * weak, so that checkToken can verify published vectors; minting with a weak one still throws.
   */
  static from(keys: Keyring | TokenKey | readonly TokenKey[]): Keyring {
    if (keys instanceof Keyring) return keys;
    if (typeof keys !== "object" || keys === null) throw new KeyError("keys must be a key or a list of keys");
    let ring = preparedRings.get(keys);
    if (!ring) {
      ring = new Keyring(Array.isArray(keys) ? (keys as readonly TokenKey[]) : [keys as TokenKey], { allowWeak: true });
      preparedRings.set(keys, ring);
    }
    return ring;
  }
}

/**
 * Plain keys passed again and again reuse their decoded form and OTP cache. Keyed by object
 * identity: build a new array (or a Keyring) to change keys, do not mutate one in use.
 */
const preparedRings = new WeakMap<object, Keyring>();
