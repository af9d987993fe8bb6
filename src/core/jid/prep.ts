/**
 * JID preparation close to what Prosody applies (RFC 3920 nodeprep/nameprep, via libidn):
 * map-to-nothing characters removed, case folded, NFKC, prohibited characters refused.
 * Tokens are signed over the prepared bare JID, so minting and verifying must prepare it
 * the same way, and the same way Prosody does for a typed username like "Alice".
 */

export class InvalidJidError extends Error {
  override readonly name = "InvalidJidError";
}

/** RFC 3454 table B.1: characters that are mapped to nothing. */
const MAP_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;

/**
 * Case folding (RFC 3454 table B.2) differs from toLowerCase for a few characters;
 * these are the ones people can plausibly type into a username.
 */
const FOLD_EXTRA: Record<string, string> = { "ß": "ss", "ς": "σ", "ſ": "s", "ẞ": "ss", "ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl" };

/** RFC 3454 tables C.1-C.9 (spaces, controls, private use, non-characters, surrogates, ...). */
const PROHIBITED =
  /[\s\p{Cc}\p{Co}\p{Cs}\u0340\u0341\u200E\u200F\u202A-\u202E\u206A-\u206F\uFFF9-\uFFFD\u2FF0-\u2FFB\uFDD0-\uFDEF\u{E0001}\u{E0020}-\u{E007F}]|[\uFFFE\uFFFF]|[\u{1FFFE}\u{1FFFF}\u{2FFFE}\u{2FFFF}\u{3FFFE}\u{3FFFF}\u{4FFFE}\u{4FFFF}\u{5FFFE}\u{5FFFF}\u{6FFFE}\u{6FFFF}\u{7FFFE}\u{7FFFF}\u{8FFFE}\u{8FFFF}\u{9FFFE}\u{9FFFF}\u{AFFFE}\u{AFFFF}\u{BFFFE}\u{BFFFF}\u{CFFFE}\u{CFFFF}\u{DFFFE}\u{DFFFF}\u{EFFFE}\u{EFFFF}\u{FFFFE}\u{FFFFF}\u{10FFFE}\u{10FFFF}]/u;

/**
 * Bidirectional controls: the embeddings and overrides (U+202A-U+202E), the isolates
 * (U+2066-U+2069, newer than RFC 3454, so not in its tables), the marks (U+200E, U+200F,
 * U+061C). RFC 7622's PRECIS profiles refuse them all (they are format characters, class
 * DISALLOWED), so a name cannot display as another ("alice\u202Eexe" showing as "aliceexe"
 * reversed). Refused in every part of a JID, resources included.
 */
const BIDI_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** Whether `text` contains a bidirectional control character (see BIDI_CONTROL). */
export function hasBidiControl(text: string): boolean {
  return BIDI_CONTROL.test(text);
}

function refuseBidiControls(part: string, what: string): void {
  if (BIDI_CONTROL.test(part)) throw new InvalidJidError(`${what} contains a bidirectional control character`);
}

/** Nodeprep's extra prohibitions (RFC 3920 appendix A.5). */
const NODE_PROHIBITED = /["&'/:<>@]/u;

/** Scripts whose letters are right-to-left (RFC 3454 table D.1), for the bidi rule. */
const RTL = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;

const MAX_PART_BYTES = 1023; // RFC 7622 section 3.1

function foldAndNormalise(input: string): string {
  const mapped = input.replace(MAP_TO_NOTHING, "").normalize("NFKC").toLowerCase();
  return mapped.replace(/[ßςſẞﬀﬁﬂ]/gu, (c) => FOLD_EXTRA[c] ?? c).normalize("NFKC");
}

function checkBidi(part: string, what: string): void {
  if (!RTL.test(part)) return;
  const chars = [...part];
  const hasLtr = chars.some((c) => /\p{L}/u.test(c) && !RTL.test(c));
  if (hasLtr || !RTL.test(chars[0]!) || !RTL.test(chars[chars.length - 1]!)) {
    throw new InvalidJidError(`${what}: mixes right-to-left and left-to-right text`);
  }
}

function checkLength(part: string, what: string): void {
  if (part.length === 0) throw new InvalidJidError(`${what} is empty`);
  if (Buffer.byteLength(part, "utf8") > MAX_PART_BYTES) {
    throw new InvalidJidError(`${what} is longer than ${MAX_PART_BYTES} bytes`);
  }
}

/**
 * Lower-case ASCII parts, by far the most common, are already in prepared form: folding and NFKC
 * leave them unchanged, none of their characters is prohibited and none is right-to-left, so the
 * Unicode preparation can be skipped. (The full JID form is PREPARED_ASCII_JID below.)
 */
const PREPARED_ASCII_LOCALPART = /^[a-z0-9!#$%*+\-.=?^_`{|}~]{1,1023}$/;
const PREPARED_ASCII_DOMAIN = /^[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/;

/** Prepares a JID localpart (a username) as Prosody's nodeprep does. */
export function nodeprep(localpart: string): string {
  return PREPARED_ASCII_LOCALPART.test(localpart) ? localpart : nodeprepUnicode(localpart);
}

/** nodeprep without the ASCII shortcut (exported so tests can hold the two to each other). */
export function nodeprepUnicode(localpart: string): string {
  const prepared = foldAndNormalise(localpart);
  checkLength(prepared, "localpart");
  refuseBidiControls(prepared, "localpart");
  if (PROHIBITED.test(prepared) || NODE_PROHIBITED.test(prepared)) {
    throw new InvalidJidError("localpart contains a character that is not allowed");
  }
  checkBidi(prepared, "localpart");
  return prepared;
}

/** Prepares a domain: case folded, NFKC, a trailing dot dropped, labels checked. */
export function nameprep(domain: string): string {
  return domain.length <= 1023 && PREPARED_ASCII_DOMAIN.test(domain) ? domain : nameprepUnicode(domain);
}

/** nameprep without the ASCII shortcut (exported so tests can hold the two to each other). */
export function nameprepUnicode(domain: string): string {
  const prepared = foldAndNormalise(domain).replace(/\.$/, "");
  checkLength(prepared, "domain");
  refuseBidiControls(prepared, "domain");
  if (PROHIBITED.test(prepared) || /[\s"&'/:<>@\\[\]?#%]/u.test(prepared)) {
    throw new InvalidJidError("domain contains a character that is not allowed");
  }
  for (const label of prepared.split(".")) {
    if (label.length === 0 || label.length > 63) {
      throw new InvalidJidError("domain has an empty or over-long label");
    }
  }
  checkBidi(prepared, "domain");
  return prepared;
}

/**
 * Why `resource` is not acceptable as a resourcepart, or null when it is. Resources are kept as
 * sent (not case-folded or normalised), but refused when empty, longer than 1023 bytes (RFC
 * 7622 3.1), or containing control characters (U+0000-U+001F, U+007F) or bidirectional controls.
 */
export function resourceProblem(resource: string): string | null {
  if (resource === "") return "resource is empty";
  if (Buffer.byteLength(resource, "utf8") > MAX_PART_BYTES) return `resource is longer than ${MAX_PART_BYTES} bytes`;
  if (/[\u0000-\u001f\u007f]/.test(resource)) return "resource contains a control character";
  if (BIDI_CONTROL.test(resource)) return "resource contains a bidirectional control character";
  return null;
}

/** The longest resourcepart RFC 7622 allows, in UTF-8 bytes. */
export const MAX_RESOURCE_BYTES = MAX_PART_BYTES;

export interface BareJid {
  local: string;
  domain: string;
}

/**
 * Parses and prepares a JID, keeping only its bare part (a resource is dropped).
 * A token is for an account, so a JID without a localpart is refused.
 */
export function prepareBareJid(jid: string): BareJid {
  if (typeof jid !== "string") throw new InvalidJidError("JID must be a string");
  if (jid.length > 3071) throw new InvalidJidError("JID is too long");
  const slash = jid.indexOf("/");
  const bare = slash === -1 ? jid : jid.slice(0, slash);
  const at = bare.indexOf("@");
  if (at === -1) throw new InvalidJidError("JID has no localpart (expected user@domain)");
  return { local: nodeprep(bare.slice(0, at)), domain: nameprep(bare.slice(at + 1)) };
}

/**
 * Lower-case ASCII JIDs, by far the most common, are already in prepared form: nodeprep and
 * nameprep leave them unchanged, so the full Unicode preparation can be skipped.
 */
const PREPARED_ASCII_JID = /^[a-z0-9!#$%*+\-.=?^_`{|}~]{1,1023}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/;

/** The prepared bare JID as the string tokens are signed over: `localpart@domain`. */
export function normaliseBareJid(jid: string): string {
  if (typeof jid === "string" && jid.length <= 1023 && PREPARED_ASCII_JID.test(jid)) return jid;
  const { local, domain } = prepareBareJid(jid);
  return `${local}@${domain}`;
}
