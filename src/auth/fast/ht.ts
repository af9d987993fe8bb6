/**
 * The Hashed Token mechanisms' messages, as draft-schmaus-kitten-sasl-ht-09 defines them (the
 * version XEP-0484 pins and every deployed client speaks; the IETF successor changes the bytes
 * under the same names): the client sends `authcid NUL HMAC(token, "Initiator" || cb-data)`, the
 * server answers `HMAC(token, "Responder" || cb-data)`, the HMAC keyed with the token's UTF-8
 * bytes. For the -NONE variants cb-data is empty. Pure.
 */
import { createHash, createHmac } from "node:crypto";

/** The one HT mechanism we offer: HMAC-SHA-256, no channel binding (docs/fast.md says why). */
export const HT_SHA_256_NONE = "HT-SHA-256-NONE";

/** Bytes of an HMAC-SHA-256. */
export const HT_SHA_256_BYTES = 32;

const INITIATOR = Buffer.from("Initiator");
const RESPONDER = Buffer.from("Responder");

export function htInitiator(token: string, cbData: Uint8Array = new Uint8Array(0)): Buffer {
  return createHmac("sha256", Buffer.from(token, "utf8")).update(INITIATOR).update(cbData).digest();
}

export function htResponder(token: string, cbData: Uint8Array = new Uint8Array(0)): Buffer {
  return createHmac("sha256", Buffer.from(token, "utf8")).update(RESPONDER).update(cbData).digest();
}

/** What the store keeps of an initiator message: its SHA-256 (the message itself logs in). */
export function verifierOf(initiator: Uint8Array): Buffer {
  return createHash("sha256").update(initiator).digest();
}

export interface HtMessage {
  /** The authentication identity as sent (UTF-8 text, not prepared yet). */
  authcid: string;
  /** The initiator HMAC. */
  initiator: Buffer;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Longer messages are refused before any work (an authcid of a localpart and 32 bytes fit easily). */
export const MAX_HT_MESSAGE_BYTES = 2048;

/**
 * Splits the initial response at its FIRST NUL: the HMAC after it is binary and may hold NULs of
 * its own, the authcid before it never does.
 */
export function parseHtMessage(bytes: Buffer): HtMessage | { error: string } {
  if (bytes.length > MAX_HT_MESSAGE_BYTES) return { error: "message-too-long" };
  const nul = bytes.indexOf(0);
  if (nul < 0) return { error: "no-separator" };
  let authcid: string;
  try {
    authcid = utf8.decode(bytes.subarray(0, nul));
  } catch {
    return { error: "invalid-utf8" };
  }
  if (authcid === "") return { error: "empty-field" };
  const initiator = bytes.subarray(nul + 1);
  if (initiator.length !== HT_SHA_256_BYTES) return { error: "bad-hmac-length" };
  return { authcid, initiator: Buffer.from(initiator) };
}
