/**
 * Client certificates for SASL EXTERNAL (XEP-0178) and their management (XEP-0257, the CLI, the
 * ad-hoc command, library callers): the one set of rules every way in follows.
 *
 * - A certificate is read once, strictly (core/x509), when it is registered; what a login needs
 *   (fingerprint, validity, JIDs) is kept with it, so a login reads no DER.
 * - Its id-on-xmppAddr JIDs, if any, must all name the account it is registered to (a full JID
 *   also fixes the resource, as in Prosody's mod_client_certs); a certificate naming two
 *   accounts, or another one, is refused.
 * - One account per certificate; names unique per account; at most
 *   MAX_CLIENT_CERTIFICATES_PER_ACCOUNT per account (the records enforce these atomically).
 * - A login with it needs it enabled, valid now (notBefore <= now <= notAfter) and the account
 *   on the stream's domain; the account's own refusals (a disabled account) are the authority's.
 */
import { InvalidJidError, prepareBareJid, resourceProblem } from "../../core/jid/prep.js";
import { CertificateError, certificateDer, parseCertificate } from "../../core/x509/certificate.js";
import { ClientCertRecordsError, type CertificateLoginVerdict, type ClientCertificate, type ClientCertificateRecords } from "../../core/client-certs/records.js";
import { systemClock, type Clock } from "../../core/clock.js";

export { CertificateError, MAX_CERTIFICATE_BYTES, certificateDer, certificateFingerprint, parseCertificate, type ParsedCertificate } from "../../core/x509/certificate.js";
export {
  MAX_CLIENT_CERTIFICATES_PER_ACCOUNT,
  ClientCertRecordsError,
  type CertificateLogin,
  type CertificateLoginVerdict,
  type ClientCertificate,
  type ClientCertificateRecords,
} from "../../core/client-certs/records.js";

/** The longest certificate name, in characters (XEP-0257 names are labels shown to people). */
export const MAX_CERTIFICATE_NAME_CHARS = 64;

/**
 * Why a registration or a change was refused: `reason` for protocol answers, the message for
 * people (never a secret; a certificate is public).
 */
export class ClientCertError extends Error {
  override readonly name = "ClientCertError";
  constructor(
    readonly reason: "bad-certificate" | "bad-name" | "bad-account" | "other-account-jid" | "not-found" | ClientCertRecordsError["reason"],
    message: string,
  ) {
    super(message);
  }
}

/** The prepared bare JID of an account, or ClientCertError. */
export function certificateAccount(jid: string): string {
  try {
    if (jid.includes("/")) throw new InvalidJidError("an account is a bare JID (no /resource)");
    const { local, domain } = prepareBareJid(jid);
    return `${local}@${domain}`;
  } catch (err) {
    if (err instanceof InvalidJidError) throw new ClientCertError("bad-account", `not an account's JID: ${err.message}`);
    throw err;
  }
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "" || [...trimmed].length > MAX_CERTIFICATE_NAME_CHARS || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new ClientCertError("bad-name", `a certificate's name is 1 to ${MAX_CERTIFICATE_NAME_CHARS} characters, without control characters`);
  }
  return trimmed;
}

/**
 * The resources a login with this certificate may bind: null for any (no JIDs in it, or a bare
 * one), else those its full JIDs give. Throws ClientCertError when a JID in it is not of
 * `account`.
 */
export function allowedResources(xmppAddrs: readonly string[], account: string): string[] | null {
  if (xmppAddrs.length === 0) return null;
  const resources: string[] = [];
  let anyResource = false;
  for (const addr of xmppAddrs) {
    const slash = addr.indexOf("/");
    let bare: string;
    try {
      const parsed = prepareBareJid(addr);
      bare = `${parsed.local}@${parsed.domain}`;
    } catch (err) {
      if (!(err instanceof InvalidJidError)) throw err;
      throw new ClientCertError("other-account-jid", "the certificate's xmppAddr is not a valid JID");
    }
    if (bare !== account) throw new ClientCertError("other-account-jid", `the certificate names another account in its xmppAddr than ${account}`);
    if (slash === -1) anyResource = true;
    else {
      const resource = addr.slice(slash + 1);
      if (resourceProblem(resource) !== null) throw new ClientCertError("other-account-jid", "the certificate's xmppAddr has an invalid resource");
      resources.push(resource);
    }
  }
  return anyResource ? null : resources;
}

export interface RegisterOptions {
  /** The account's JID (bare). */
  account: string;
  name: string;
  /** DER, or PEM with one CERTIFICATE block. */
  certificate: Uint8Array;
  /** Sessions logged in with it may not manage certificates (XEP-0257). */
  noCertManagement?: boolean;
}

function asClientCertError<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof CertificateError) throw new ClientCertError("bad-certificate", `not a usable certificate: ${err.message}`);
    if (err instanceof ClientCertRecordsError) throw new ClientCertError(err.reason, err.message);
    throw err;
  }
}

/** Registers a certificate for an account (see the rules at the top); the record, or ClientCertError. */
export function registerClientCertificate(records: ClientCertificateRecords, options: RegisterOptions): ClientCertificate {
  const account = certificateAccount(options.account);
  const name = checkName(options.name);
  return asClientCertError(() => {
    const parsed = parseCertificate(certificateDer(options.certificate));
    allowedResources(parsed.xmppAddrs, account);
    return records.add({
      fingerprint: parsed.fingerprint,
      account,
      name,
      der: parsed.der,
      noCertManagement: options.noCertManagement === true,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      xmppAddrs: parsed.xmppAddrs,
    });
  });
}

export function listClientCertificates(records: ClientCertificateRecords, account: string): ClientCertificate[] {
  return records.forAccount(certificateAccount(account));
}

/** Disables one certificate (no further logins with it); ClientCertError `not-found` when there is none. */
export function disableClientCertificate(records: ClientCertificateRecords, account: string, name: string): ClientCertificate {
  const found = records.disable(certificateAccount(account), name);
  if (!found) throw new ClientCertError("not-found", `no certificate named ${JSON.stringify(name)}`);
  return found;
}

/**
 * Removes one certificate. The sessions that logged in with it are the server's to end
 * (RunningServer.endCertificateSessions, which the server's own management calls do).
 */
export function revokeClientCertificate(records: ClientCertificateRecords, account: string, name: string): ClientCertificate {
  const found = records.remove(certificateAccount(account), name);
  if (!found) throw new ClientCertError("not-found", `no certificate named ${JSON.stringify(name)}`);
  return found;
}

/** The certificate registered with this fingerprint to `account`, found from a file (the CLI's revoke FILE). */
export function registeredFromFile(records: ClientCertificateRecords, account: string, file: Uint8Array): ClientCertificate {
  const parsed = asClientCertError(() => parseCertificate(certificateDer(file)));
  const found = records.byFingerprint(parsed.fingerprint);
  if (!found || found.account !== certificateAccount(account)) throw new ClientCertError("not-found", `this certificate is not registered to ${certificateAccount(account)}`);
  return found;
}

/**
 * Why the certificate `fingerprint` logs nobody into `domain` now, or the account and what the
 * login carries. Reasons are words for logs and metrics.
 */
export function certificateLogin(
  records: Pick<ClientCertificateRecords, "byFingerprint">,
  fingerprint: string,
  domain: string,
  now: Clock = systemClock,
): CertificateLoginVerdict {
  const record = records.byFingerprint(fingerprint);
  if (!record) return { ok: false, reason: "certificate-not-registered" };
  const account = record.account;
  if (record.disabled) return { ok: false, reason: "certificate-disabled", account };
  const t = now();
  if (t < record.notBefore) return { ok: false, reason: "certificate-not-yet-valid", account };
  if (t > record.notAfter) return { ok: false, reason: "certificate-expired", account };
  if (account.slice(account.lastIndexOf("@") + 1) !== domain) return { ok: false, reason: "certificate-other-domain", account };
  let resources: string[] | null;
  try {
    resources = allowedResources(record.xmppAddrs, account);
  } catch (err) {
    if (err instanceof ClientCertError) return { ok: false, reason: "certificate-names-other-account", account };
    throw err;
  }
  return { ok: true, account, login: { fingerprint, resources } };
}
