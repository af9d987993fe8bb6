/**
 * Client certificates registered for SASL EXTERNAL (XEP-0178, XEP-0257; docs/client-certs.md):
 * one account per certificate (keyed by its SHA-256 fingerprint), a name unique per account, and
 * whether it is disabled or may manage certificates itself. The rules of registering one (its
 * reading, the JIDs it names, the bound per account) are src/auth/client-certs'; the records only
 * keep what they are given, atomically wherever they are shared.
 */

export interface ClientCertificateSpec {
  /** SHA-256 of the DER bytes, lower-case hex. */
  fingerprint: string;
  /** The prepared bare JID of the account it logs in. */
  account: string;
  /** Unique per account: "laptop", "kiosk". */
  name: string;
  der: Uint8Array;
  /** Sessions that log in with it may not manage certificates (XEP-0257 `no-cert-management`). */
  noCertManagement: boolean;
  /** Validity in unix seconds, as the certificate says. */
  notBefore: number;
  notAfter: number;
  /** Its id-on-xmppAddr JIDs, as written in it. */
  xmppAddrs: string[];
}

export interface ClientCertificate extends ClientCertificateSpec {
  /** A disabled certificate logs nobody in; it stays listed until revoked. */
  disabled: boolean;
  /** Unix milliseconds. */
  addedAt: number;
}

/** What a login with a certificate carries into the session: which certificate, and the resources it allows. */
export interface CertificateLogin {
  fingerprint: string;
  /** null: any resource; else only these (the certificate's full JIDs). */
  resources: string[] | null;
}

/** The verdict on a certificate presented to log in (src/auth/client-certs' certificateLogin). */
export type CertificateLoginVerdict = { ok: true; account: string; login: CertificateLogin } | { ok: false; reason: string; account?: string };

/** The most certificates one account may have registered. */
export const MAX_CLIENT_CERTIFICATES_PER_ACCOUNT = 16;

/**
 * A registration the records refuse. `reason` says which rule, for protocol answers:
 * `name-taken`, `already-registered` (to this account), `registered-elsewhere` (to another), `too-many`.
 */
export class ClientCertRecordsError extends Error {
  override readonly name = "ClientCertRecordsError";
  constructor(
    readonly reason: "name-taken" | "already-registered" | "registered-elsewhere" | "too-many",
    message: string,
  ) {
    super(message);
  }
}

export interface ClientCertificateRecords {
  /** The certificate with this fingerprint (read at every EXTERNAL offer and login), or null. */
  byFingerprint(fingerprint: string): ClientCertificate | null;
  /** An account's certificates, oldest first. */
  forAccount(account: string): ClientCertificate[];
  /** Every certificate, by account then age (the CLI's listing). */
  all(): ClientCertificate[];
  /** Stores a new certificate; ClientCertRecordsError when a rule above refuses it. */
  add(spec: ClientCertificateSpec): ClientCertificate;
  /** Marks the account's certificate `name` disabled; the record, or null when there is none. */
  disable(account: string, name: string): ClientCertificate | null;
  /** Removes the account's certificate `name`; the removed record, or null when there was none. */
  remove(account: string, name: string): ClientCertificate | null;
}

function refusal(records: ClientCertificateRecords, spec: ClientCertificateSpec): ClientCertRecordsError | null {
  const owner = records.byFingerprint(spec.fingerprint);
  if (owner && owner.account === spec.account) return new ClientCertRecordsError("already-registered", `this certificate is already registered to ${spec.account} as ${JSON.stringify(owner.name)}`);
  if (owner) return new ClientCertRecordsError("registered-elsewhere", "this certificate is registered to another account");
  const mine = records.forAccount(spec.account);
  if (mine.some((c) => c.name === spec.name)) return new ClientCertRecordsError("name-taken", `${spec.account} already has a certificate named ${JSON.stringify(spec.name)}`);
  if (mine.length >= MAX_CLIENT_CERTIFICATES_PER_ACCOUNT) {
    return new ClientCertRecordsError("too-many", `${spec.account} already has ${MAX_CLIENT_CERTIFICATES_PER_ACCOUNT} certificates, the most an account may have; revoke one first`);
  }
  return null;
}

/** The checks of `add`, for every engine (the SQLite one runs them inside its transaction). */
export function checkNewClientCertificate(records: ClientCertificateRecords, spec: ClientCertificateSpec): void {
  const refused = refusal(records, spec);
  if (refused) throw refused;
}

const copy = (c: ClientCertificate): ClientCertificate => ({ ...c, der: Uint8Array.from(c.der), xmppAddrs: [...c.xmppAddrs] });

/** The memory engine: nothing survives the process. */
export class MemoryClientCertificates implements ClientCertificateRecords {
  private readonly byPrint = new Map<string, ClientCertificate>();

  byFingerprint(fingerprint: string): ClientCertificate | null {
    const found = this.byPrint.get(fingerprint);
    return found ? copy(found) : null;
  }

  forAccount(account: string): ClientCertificate[] {
    return [...this.byPrint.values()].filter((c) => c.account === account).map(copy);
  }

  all(): ClientCertificate[] {
    return [...this.byPrint.values()].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : a.addedAt - b.addedAt)).map(copy);
  }

  add(spec: ClientCertificateSpec): ClientCertificate {
    checkNewClientCertificate(this, spec);
    const record: ClientCertificate = { ...spec, der: Uint8Array.from(spec.der), xmppAddrs: [...spec.xmppAddrs], disabled: false, addedAt: Date.now() };
    this.byPrint.set(record.fingerprint, record);
    return copy(record);
  }

  disable(account: string, name: string): ClientCertificate | null {
    const found = [...this.byPrint.values()].find((c) => c.account === account && c.name === name);
    if (!found) return null;
    found.disabled = true;
    return copy(found);
  }

  remove(account: string, name: string): ClientCertificate | null {
    const found = [...this.byPrint.values()].find((c) => c.account === account && c.name === name);
    if (!found) return null;
    this.byPrint.delete(found.fingerprint);
    return copy(found);
  }
}
