/** HOTP, RFC 4226, generalised to the hashes and digit counts RFC 6238 allows. */
import { createHmac } from "node:crypto";

export type OtpAlgorithm = "sha1" | "sha256" | "sha512";

export interface HotpOptions {
  /** Hash for the HMAC; RFC 4226 uses SHA-1. */
  algorithm?: OtpAlgorithm;
  /** 6 to 10 digits. */
  digits?: number;
}

export class OtpOptionsError extends Error {
  override readonly name = "OtpOptionsError";
}

const ALGORITHMS: readonly OtpAlgorithm[] = ["sha1", "sha256", "sha512"];

export function checkHotpOptions({ algorithm = "sha1", digits = 6 }: HotpOptions): Required<HotpOptions> {
  if (!ALGORITHMS.includes(algorithm)) {
    throw new OtpOptionsError(`otp: unsupported algorithm ${String(algorithm)}`);
  }
  if (!Number.isInteger(digits) || digits < 6 || digits > 10) {
    throw new OtpOptionsError(`otp: digits must be an integer from 6 to 10, got ${digits}`);
  }
  return { algorithm, digits };
}

/** The counter as the 8-byte big-endian message RFC 4226 section 5.2 specifies. */
function counterBytes(counter: number): Buffer {
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new OtpOptionsError(`otp: counter must be a non-negative safe integer, got ${counter}`);
  }
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(counter));
  return buf;
}

export function hotp(key: Uint8Array, counter: number, options: HotpOptions = {}): string {
  const { algorithm, digits } = checkHotpOptions(options);
  const mac = createHmac(algorithm, key).update(counterBytes(counter)).digest();
  // Dynamic truncation, RFC 4226 section 5.3.
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  // 10 digits exceed 2^31, so the modulus is done in floating point, exact below 2^53.
  return String(binary % 10 ** digits).padStart(digits, "0");
}
