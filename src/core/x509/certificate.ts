/**
 * What SASL EXTERNAL needs of a client certificate (XEP-0178, XEP-0257), read from its DER bytes
 * once and strictly: its SHA-256 fingerprint (the key it is registered under), its validity, and
 * the JIDs of its subjectAltName otherName `id-on-xmppAddr` (RFC 6120 13.7.1.4).
 *
 * Why our own reading of the DER: Node's X509Certificate has no access to an extension's bytes,
 * and its `subjectAltName` is a text ("othername:XmppAddr:a@b, DNS:c") in which a JID holding a
 * comma is quoted and escaped, and an otherName whose value is not a UTF8String is printed in yet
 * another way: one more parser of a text built for people, over values an attacker chooses. The
 * structure needed here is small (RFC 5280 4.1): certificate, TBSCertificate, validity,
 * extensions, subjectAltName's GeneralNames. The reader is bounded (the certificate's size is
 * capped, lengths are checked against their enclosing element, no recursion beyond the fixed
 * structure) and refuses anything that is not DER (indefinite or non-minimal lengths, trailing
 * bytes, a second subjectAltName, an xmppAddr that is not a UTF8String or not valid UTF-8).
 * Node's X509Certificate (OpenSSL) must accept the same bytes too, so a certificate registered
 * here is one TLS can present.
 */
import { X509Certificate, createHash } from "node:crypto";

/** A client certificate is a few hundred bytes to 2 KB (RSA 4096); more is refused before reading. */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;

/** id-on-xmppAddr (RFC 6120 13.7.1.4). */
export const XMPP_ADDR_OID = "1.3.6.1.5.5.7.8.5";
const SUBJECT_ALT_NAME_OID = "2.5.29.17";
/** The most JIDs one certificate may carry; each is checked against the account at every use. */
export const MAX_XMPP_ADDRS = 16;

export class CertificateError extends Error {
  override readonly name = "CertificateError";
}

export interface ParsedCertificate {
  /** The DER bytes. */
  der: Buffer;
  /** SHA-256 of the DER bytes, lower-case hex without separators. */
  fingerprint: string;
  /** Validity, in unix seconds (notBefore and notAfter are both included). */
  notBefore: number;
  notAfter: number;
  /** The id-on-xmppAddr values, as written in the certificate (not prepared), in order. */
  xmppAddrs: string[];
}

/** SHA-256 of a certificate's DER bytes, as the records key it. */
export function certificateFingerprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

interface Tlv {
  tag: number;
  /** Offsets of the contents in the buffer. */
  start: number;
  end: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One DER element at `offset`, inside `[offset, limit)`: single-byte tags, definite minimal lengths. */
function readTlv(buf: Buffer, offset: number, limit: number, what: string): Tlv {
  if (offset + 2 > limit) throw new CertificateError(`${what}: truncated`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new CertificateError(`${what}: multi-byte tags are not used in certificates`);
  let length = buf[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new CertificateError(`${what}: indefinite length is not DER`);
    if (count > 3) throw new CertificateError(`${what}: length too large`);
    if (start + count > limit) throw new CertificateError(`${what}: truncated`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[start + i]!;
    if (buf[start] === 0 || length < 0x80) throw new CertificateError(`${what}: length is not in its shortest form (not DER)`);
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new CertificateError(`${what}: longer than what contains it`);
  return { tag, start, end };
}

/** The elements of a constructed element, in order; each must end exactly where the next starts. */
function children(buf: Buffer, parent: Tlv, what: string, max: number): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    if (out.length >= max) throw new CertificateError(`${what}: more than ${max} elements`);
    const tlv = readTlv(buf, at, parent.end, what);
    out.push(tlv);
    at = tlv.end;
  }
  return out;
}

function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (!tlv || tlv.tag !== tag) throw new CertificateError(`${what}: missing or of the wrong type`);
  return tlv;
}

function oid(buf: Buffer, tlv: Tlv, what: string): string {
  expectTag(tlv, 0x06, what);
  const bytes = buf.subarray(tlv.start, tlv.end);
  if (bytes.length === 0 || bytes.length > 64 || (bytes[bytes.length - 1]! & 0x80) !== 0) throw new CertificateError(`${what}: not an object identifier`);
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of bytes) {
    if (fresh && byte === 0x80) throw new CertificateError(`${what}: object identifier not in its shortest form`);
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new CertificateError(`${what}: object identifier arc too large`);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
}

const TIME = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 4.1.2.5 allows them. */
function time(buf: Buffer, tlv: Tlv | undefined, what: string): number {
  if (!tlv || (tlv.tag !== 0x17 && tlv.tag !== 0x18)) throw new CertificateError(`${what}: not a time`);
  const text = buf.toString("latin1", tlv.start, tlv.end);
  const match = TIME.exec(text);
  const expected = tlv.tag === 0x17 ? 13 : 15;
  if (!match || text.length !== expected) throw new CertificateError(`${what}: not a time in the form RFC 5280 requires`);
  let year = Number(match[1]);
  if (tlv.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const [month, day, hour, minute, second] = match.slice(2).map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new CertificateError(`${what}: not a calendar time`);
  }
  return ms / 1000;
}

/** The xmppAddr values of a subjectAltName extension's value (GeneralNames). */
function xmppAddrsOf(buf: Buffer, value: Tlv): string[] {
  const names = readTlv(buf, value.start, value.end, "subjectAltName");
  if (names.tag !== 0x30 || names.end !== value.end) throw new CertificateError("subjectAltName: not one sequence of names");
  const found: string[] = [];
  for (const name of children(buf, names, "subjectAltName", 64)) {
    // otherName [0] IMPLICIT SEQUENCE { type-id OID, value [0] EXPLICIT ANY }; other kinds are not ours.
    if (name.tag !== 0xa0) continue;
    const [typeId, explicit, ...rest] = children(buf, name, "otherName", 3);
    if (!typeId || !explicit || rest.length > 0 || explicit.tag !== 0xa0) throw new CertificateError("otherName: not a type and one value");
    if (oid(buf, typeId, "otherName type") !== XMPP_ADDR_OID) continue;
    const [text, ...more] = children(buf, explicit, "xmppAddr", 2);
    if (!text || more.length > 0 || text.tag !== 0x0c) throw new CertificateError("xmppAddr: must be one UTF8String");
    let jid: string;
    try {
      jid = utf8.decode(buf.subarray(text.start, text.end));
    } catch {
      throw new CertificateError("xmppAddr: not valid UTF-8");
    }
    if (jid === "" || jid.length > 3071) throw new CertificateError("xmppAddr: empty or too long for a JID");
    if (found.length >= MAX_XMPP_ADDRS) throw new CertificateError(`more than ${MAX_XMPP_ADDRS} xmppAddr names`);
    found.push(jid);
  }
  return found;
}

/**
 * Reads a DER certificate (see the top of this file); throws CertificateError saying what is
 * wrong with it. Nothing about its issuer or signature is checked: certificates registered for
 * EXTERNAL are self-signed per device, and trust comes from the registration.
 */
export function parseCertificate(input: Uint8Array): ParsedCertificate {
  if (input.length > MAX_CERTIFICATE_BYTES) throw new CertificateError(`the certificate is larger than ${MAX_CERTIFICATE_BYTES} bytes`);
  const der = Buffer.from(input);
  const certificate = readTlv(der, 0, der.length, "certificate");
  if (certificate.tag !== 0x30) throw new CertificateError("certificate: not a sequence (not a DER certificate)");
  if (certificate.end !== der.length) throw new CertificateError("certificate: bytes after its end");
  const [tbs, signatureAlgorithm, signature, ...extra] = children(der, certificate, "certificate", 4);
  expectTag(tbs, 0x30, "tbsCertificate");
  expectTag(signatureAlgorithm, 0x30, "signatureAlgorithm");
  expectTag(signature, 0x03, "signature");
  if (extra.length > 0) throw new CertificateError("certificate: more than three parts");
  const fields = children(der, tbs!, "tbsCertificate", 10);
  let i = 0;
  if (fields[i]?.tag === 0xa0) i++; // version
  expectTag(fields[i++], 0x02, "serialNumber");
  expectTag(fields[i++], 0x30, "signature algorithm");
  expectTag(fields[i++], 0x30, "issuer");
  const validity = expectTag(fields[i++], 0x30, "validity");
  expectTag(fields[i++], 0x30, "subject");
  expectTag(fields[i++], 0x30, "subjectPublicKeyInfo");
  const [from, to, ...moreTimes] = children(der, validity, "validity", 3);
  if (moreTimes.length > 0) throw new CertificateError("validity: more than two times");
  const notBefore = time(der, from, "notBefore");
  const notAfter = time(der, to, "notAfter");
  if (fields[i]?.tag === 0x81) i++; // issuerUniqueID
  if (fields[i]?.tag === 0x82) i++; // subjectUniqueID
  let xmppAddrs: string[] = [];
  const extensions = fields[i];
  if (extensions !== undefined) {
    expectTag(extensions, 0xa3, "extensions");
    i++;
    const list = readTlv(der, extensions.start, extensions.end, "extensions");
    if (list.tag !== 0x30 || list.end !== extensions.end) throw new CertificateError("extensions: not one sequence");
    let sawSubjectAltName = false;
    for (const extension of children(der, list, "extensions", 64)) {
      expectTag(extension, 0x30, "extension");
      const parts = children(der, extension, "extension", 3);
      const id = oid(der, parts[0]!, "extension id");
      const value = parts[parts.length - 1]!;
      if (parts.length < 2 || (parts.length === 3 && parts[1]!.tag !== 0x01)) throw new CertificateError("extension: not an id, a critical flag and a value");
      expectTag(value, 0x04, "extension value");
      if (id !== SUBJECT_ALT_NAME_OID) continue;
      // Two subjectAltName extensions would be two answers to "whose certificate is this".
      if (sawSubjectAltName) throw new CertificateError("two subjectAltName extensions");
      sawSubjectAltName = true;
      xmppAddrs = xmppAddrsOf(der, value);
    }
  }
  if (i !== fields.length) throw new CertificateError("tbsCertificate: unexpected fields");
  // OpenSSL must read it as a certificate too (TLS will present exactly these bytes).
  try {
    new X509Certificate(der);
  } catch {
    throw new CertificateError("not a certificate OpenSSL can read");
  }
  return { der, fingerprint: certificateFingerprint(der), notBefore, notAfter, xmppAddrs };
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g;

/**
 * The DER bytes of a certificate given as DER, or as PEM with exactly one CERTIFICATE block (a
 * file with a chain, or with a private key in it, is refused: the key must never be sent).
 */
export function certificateDer(input: Uint8Array): Buffer {
  const bytes = Buffer.from(input);
  if (bytes.length > 4 * MAX_CERTIFICATE_BYTES) throw new CertificateError(`the file is larger than ${4 * MAX_CERTIFICATE_BYTES} bytes`);
  if (bytes[0] === 0x30) return bytes;
  const text = bytes.toString("latin1");
  if (/PRIVATE KEY-----/.test(text)) throw new CertificateError("the file holds a private key: give the certificate alone (keep the key on the device)");
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== 1) throw new CertificateError(blocks.length === 0 ? "neither DER nor a PEM certificate" : "more than one certificate in the file: give one");
  const base64 = blocks[0]![1]!.replace(/\r?\n/g, "");
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(base64)) throw new CertificateError("the PEM block is not base64");
  return Buffer.from(base64, "base64");
}
