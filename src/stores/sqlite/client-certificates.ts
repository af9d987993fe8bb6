/**
 * Client certificates in the SQLite database (ClientCertificateRecords). A registration's checks
 * (fingerprint free, name free, under the bound) and its insert are one immediate transaction,
 * so two processes (the server and `x-token cert add`) cannot both register past a rule; the
 * fingerprint is the primary key all the same. Committed before the registration is answered.
 */
import type Database from "better-sqlite3";
import { checkNewClientCertificate, type ClientCertificate, type ClientCertificateRecords, type ClientCertificateSpec } from "../../core/client-certs/records.js";

interface Row {
  fingerprint: string;
  account: string;
  name: string;
  der: Buffer;
  no_cert_management: 0 | 1;
  disabled: 0 | 1;
  not_before: number;
  not_after: number;
  xmpp_addrs: string;
  added_at: number;
}

const COLUMNS = "fingerprint, account, name, der, no_cert_management, disabled, not_before, not_after, xmpp_addrs, added_at";

const toRecord = (row: Row): ClientCertificate => ({
  fingerprint: row.fingerprint,
  account: row.account,
  name: row.name,
  der: new Uint8Array(row.der),
  noCertManagement: row.no_cert_management === 1,
  disabled: row.disabled === 1,
  notBefore: row.not_before,
  notAfter: row.not_after,
  xmppAddrs: JSON.parse(row.xmpp_addrs) as string[],
  addedAt: row.added_at,
});

export class SqliteClientCertificates implements ClientCertificateRecords {
  private readonly statements;
  private readonly addOne: (spec: ClientCertificateSpec) => ClientCertificate;
  private readonly removeOne: (account: string, name: string) => ClientCertificate | null;

  constructor(db: Database.Database) {
    const statements = {
      byFingerprint: db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM client_certificates WHERE fingerprint = ?`),
      forAccount: db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM client_certificates WHERE account = ? ORDER BY added_at, name`),
      all: db.prepare<[], Row>(`SELECT ${COLUMNS} FROM client_certificates ORDER BY account, added_at, name`),
      named: db.prepare<[string, string], Row>(`SELECT ${COLUMNS} FROM client_certificates WHERE account = ? AND name = ?`),
      insert: db.prepare(`INSERT INTO client_certificates (${COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`),
      disable: db.prepare<[string, string], Row>(`UPDATE client_certificates SET disabled = 1 WHERE account = ? AND name = ? RETURNING ${COLUMNS}`),
      remove: db.prepare("DELETE FROM client_certificates WHERE account = ? AND name = ?"),
    };
    this.statements = statements;
    const add = db.transaction((spec: ClientCertificateSpec) => {
      checkNewClientCertificate(this, spec);
      statements.insert.run(
        spec.fingerprint,
        spec.account,
        spec.name,
        Buffer.from(spec.der),
        spec.noCertManagement ? 1 : 0,
        spec.notBefore,
        spec.notAfter,
        JSON.stringify(spec.xmppAddrs),
        Date.now(),
      );
      return toRecord(statements.byFingerprint.get(spec.fingerprint)!);
    });
    const remove = db.transaction((account: string, name: string) => {
      const row = statements.named.get(account, name);
      if (!row) return null;
      statements.remove.run(account, name);
      return toRecord(row);
    });
    this.addOne = (spec) => add.immediate(spec);
    this.removeOne = (account, name) => remove.immediate(account, name);
  }

  byFingerprint(fingerprint: string): ClientCertificate | null {
    const row = this.statements.byFingerprint.get(fingerprint);
    return row ? toRecord(row) : null;
  }

  forAccount(account: string): ClientCertificate[] {
    return this.statements.forAccount.all(account).map(toRecord);
  }

  all(): ClientCertificate[] {
    return this.statements.all.all().map(toRecord);
  }

  add(spec: ClientCertificateSpec): ClientCertificate {
    return this.addOne(spec);
  }

  disable(account: string, name: string): ClientCertificate | null {
    const row = this.statements.disable.get(account, name);
    return row ? toRecord(row) : null;
  }

  remove(account: string, name: string): ClientCertificate | null {
    return this.removeOne(account, name);
  }
}
