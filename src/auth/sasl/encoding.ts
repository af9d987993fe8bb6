/** SASL payload encoding on the XMPP wire (RFC 6120 section 6.4.2): strict base64, `=` for empty. */

export type DecodedPayload =
  /** No payload at all (an empty element): for `<auth/>`, "no initial response". */
  | { kind: "none" }
  | { kind: "data"; data: Buffer }
  | { kind: "invalid" };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes an element's text. Whitespace is not allowed inside; only canonical base64 is. */
export function decodeSaslPayload(text: string): DecodedPayload {
  if (text === "") return { kind: "none" };
  if (text === "=") return { kind: "data", data: Buffer.alloc(0) };
  if (!BASE64.test(text)) return { kind: "invalid" };
  const data = Buffer.from(text, "base64");
  // Non-zero padding bits make a second text for the same bytes; refuse it.
  if (data.toString("base64") !== text) return { kind: "invalid" };
  return { kind: "data", data };
}

/** Encodes a challenge or success payload; an empty one is sent as an empty element. */
export function encodeSaslPayload(data: Buffer): string {
  return data.length === 0 ? "" : data.toString("base64");
}
