/**
 * The otpauth:// URI authenticator apps read from a QR code ("Key Uri Format", Google
 * Authenticator's wiki; FreeOTP, Aegis and others read the same):
 * `otpauth://TYPE/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
 */
import { base32Encode } from "./base32.js";
import { checkHotpOptions, OtpOptionsError, type OtpAlgorithm } from "./hotp.js";

export interface OtpauthParameters {
  kind: "hotp" | "totp";
  /** Who the account is with, shown by the app above the code (the XMPP domain by default). */
  issuer: string;
  /** The account, shown under it (the bare JID). */
  account: string;
  secret: Uint8Array;
  algorithm: OtpAlgorithm;
  digits: number;
  /** TOTP: the step in seconds. */
  period?: number;
  /** HOTP: the next counter value the server expects (the app starts there). */
  counter?: number;
}

/** RFC 3986 percent-encoding of everything but unreserved characters (and `@`, common in labels). */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%40/g, "@");
}

export function otpauthUri({ kind, issuer, account, secret, algorithm, digits, period = 30, counter = 0 }: OtpauthParameters): string {
  checkHotpOptions({ algorithm, digits });
  if (issuer.includes(":") || account.includes(":")) throw new OtpOptionsError("otp: the issuer and the account name must not contain ':'");
  const query = [`secret=${base32Encode(secret)}`, `issuer=${encode(issuer)}`, `algorithm=${algorithm.toUpperCase()}`, `digits=${digits}`];
  query.push(kind === "totp" ? `period=${period}` : `counter=${counter}`);
  return `otpauth://${kind}/${encode(issuer)}:${encode(account)}?${query.join("&")}`;
}
