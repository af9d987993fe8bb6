/**
 * The PLAIN-shaped message (RFC 4616) that X-TOKEN shares with PLAIN:
 * `authzid NUL authcid NUL secret`, with SASLprep and nodeprep as Prosody applies them.
 */
import saslprep from "@mongodb-js/saslprep";
import { nodeprep } from "../../core/jid/prep.js";

/** Longer messages are refused before any work is done on them. */
export const MAX_PLAIN_MESSAGE_BYTES = 4096;

export interface PlainMessage {
  /** Empty when the client asks for no other identity. */
  authzid: string;
  /** The prepared localpart. */
  localpart: string;
  /** The password field: for us, the token. */
  secret: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Printable ASCII, space included: SASLprep (RFC 4013) maps, normalises, prohibits and
 * bidi-checks only other characters, so such a string is already its own SASLprep form. Every
 * token and most usernames are; they skip the library's per-character table walk.
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** SASLprep (stored-string profile off, as Prosody's), with the printable-ASCII shortcut. */
export function prepareSaslString(value: string): string {
  return PRINTABLE_ASCII.test(value) ? value : saslprep(value);
}

export function parsePlainMessage(bytes: Buffer): PlainMessage | { error: string } {
  if (bytes.length > MAX_PLAIN_MESSAGE_BYTES) return { error: "message-too-long" };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { error: "invalid-utf8" };
  }
  const fields = text.split("\0");
  if (fields.length !== 3) return { error: "not-three-fields" };
  const [authzid, authcid, secret] = fields as [string, string, string];
  if (authcid === "") return { error: "empty-field" };
  let localpart: string;
  let preparedSecret: string;
  try {
    localpart = nodeprep(prepareSaslString(authcid));
    preparedSecret = prepareSaslString(secret);
  } catch {
    // InvalidJidError from nodeprep, or saslprep's error for a prohibited character.
    return { error: "prep-failed" };
  }
  // One check for an empty secret: as sent, or mapped to nothing by SASLprep.
  if (preparedSecret === "") return { error: "empty-field" };
  return { authzid, localpart, secret: preparedSecret };
}
