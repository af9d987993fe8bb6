/**
 * One-time password credentials in the SQLite database (OtpCredentials). A login's move on a
 * credential is one conditional UPDATE, in an immediate transaction, so it is atomic across every
 * process sharing the file (`serve` and any number of `x-token extauth` workers): the HOTP counter
 * moves past a code only while it is still at or below it, a TOTP step is recorded only while no
 * later or equal step is; of two logins racing with one code, one changes the row and succeeds.
 * Committed before the login is answered, so a used code stays used after any restart.
 */
import type Database from "better-sqlite3";
import type { OtpAlgorithm } from "../../core/otp/hotp.js";
import { MAX_OTP_CREDENTIALS_PER_ACCOUNT, OtpRecordsError, type OtpCredential, type OtpCredentialSpec, type OtpCredentials, type OtpKind } from "../../core/records/otp.js";

interface Row {
  id: number;
  jid: string;
  name: string;
  kind: OtpKind;
  algorithm: OtpAlgorithm;
  digits: 6 | 8;
  period: 30 | 60 | null;
  secret: Buffer;
  pin_hash: string | null;
  counter: number;
  last_step: number | null;
  created_at: number;
}

const COLUMNS = "id, jid, name, kind, algorithm, digits, period, secret, pin_hash, counter, last_step, created_at";

const toCredential = (row: Row): OtpCredential => ({
  id: row.id,
  jid: row.jid,
  name: row.name,
  kind: row.kind,
  algorithm: row.algorithm,
  digits: row.digits,
  period: row.period,
  secret: new Uint8Array(row.secret),
  pinHash: row.pin_hash,
  counter: row.counter,
  lastStep: row.last_step,
  createdAt: row.created_at,
});

export class SqliteOtpCredentials implements OtpCredentials {
  private readonly statements;
  private readonly addOne: (spec: OtpCredentialSpec) => OtpCredential;
  private readonly importSpecs: (specs: readonly OtpCredentialSpec[], replace: boolean) => { added: number; replacedAccounts: number };
  private readonly advance: (id: number, used: number) => boolean;
  private readonly claim: (id: number, step: number) => boolean;

  constructor(db: Database.Database) {
    const statements = {
      forAccount: db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM otp_credentials WHERE jid = ? ORDER BY id`),
      all: db.prepare<[], Row>(`SELECT ${COLUMNS} FROM otp_credentials ORDER BY jid, id`),
      count: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM otp_credentials WHERE jid = ?"),
      named: db.prepare<[string, string], { id: number }>("SELECT id FROM otp_credentials WHERE jid = ? AND name = ?"),
      insert: db.prepare(
        "INSERT INTO otp_credentials (jid, name, kind, algorithm, digits, period, secret, pin_hash, counter, last_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      byId: db.prepare<[number | bigint], Row>(`SELECT ${COLUMNS} FROM otp_credentials WHERE id = ?`),
      removeAll: db.prepare("DELETE FROM otp_credentials WHERE jid = ?"),
      removeNamed: db.prepare("DELETE FROM otp_credentials WHERE jid = ? AND name = ?"),
      advance: db.prepare("UPDATE otp_credentials SET counter = ? WHERE id = ? AND kind = 'hotp' AND counter <= ?"),
      claim: db.prepare("UPDATE otp_credentials SET last_step = ? WHERE id = ? AND kind = 'totp' AND (last_step IS NULL OR last_step < ?)"),
      setCounter: db.prepare("UPDATE otp_credentials SET counter = ? WHERE id = ? AND kind = 'hotp'"),
    };
    this.statements = statements;
    const insert = (spec: OtpCredentialSpec): OtpCredential => {
      if (statements.named.get(spec.jid, spec.name)) throw new OtpRecordsError(`${spec.jid} already has a credential named ${JSON.stringify(spec.name)}`);
      if (statements.count.get(spec.jid)!.n >= MAX_OTP_CREDENTIALS_PER_ACCOUNT) {
        throw new OtpRecordsError(`${spec.jid} already has ${MAX_OTP_CREDENTIALS_PER_ACCOUNT} credentials, the most an account may have`);
      }
      const { lastInsertRowid } = statements.insert.run(
        spec.jid,
        spec.name,
        spec.kind,
        spec.algorithm,
        spec.digits,
        spec.period,
        Buffer.from(spec.secret),
        spec.pinHash,
        spec.counter,
        spec.lastStep,
        Date.now(),
      );
      return toCredential(statements.byId.get(lastInsertRowid)!);
    };
    const add = db.transaction(insert);
    const importAll = db.transaction((specs: readonly OtpCredentialSpec[], replace: boolean) => {
      const accounts = [...new Set(specs.map((s) => s.jid))];
      const taken = accounts.filter((jid) => statements.count.get(jid)!.n > 0);
      if (taken.length > 0 && !replace) throw new OtpRecordsError(`already have credentials (give --replace to replace them): ${taken.join(", ")}`);
      for (const jid of taken) statements.removeAll.run(jid);
      // A refusal part-way throws out of the transaction: nothing of the import is kept.
      for (const spec of specs) insert(spec);
      return { added: specs.length, replacedAccounts: taken.length };
    });
    const advance = db.transaction((id: number, used: number) => statements.advance.run(used + 1, id, used).changes === 1);
    const claim = db.transaction((id: number, step: number) => statements.claim.run(step, id, step).changes === 1);
    this.addOne = (spec) => add.immediate(spec);
    this.importSpecs = (specs, replace) => importAll.immediate(specs, replace);
    this.advance = (id, used) => advance.immediate(id, used);
    this.claim = (id, step) => claim.immediate(id, step);
  }

  forAccount(jid: string): OtpCredential[] {
    return this.statements.forAccount.all(jid).map(toCredential);
  }

  all(): OtpCredential[] {
    return this.statements.all.all().map(toCredential);
  }

  add(spec: OtpCredentialSpec): OtpCredential {
    return this.addOne(spec);
  }

  remove(jid: string, name?: string): number {
    return (name === undefined ? this.statements.removeAll.run(jid) : this.statements.removeNamed.run(jid, name)).changes;
  }

  importAll(specs: readonly OtpCredentialSpec[], { replace }: { replace: boolean }): { added: number; replacedAccounts: number } {
    return this.importSpecs(specs, replace);
  }

  advanceCounter(id: number, used: number): boolean {
    return this.advance(id, used);
  }

  claimStep(id: number, step: number): boolean {
    return this.claim(id, step);
  }

  setCounter(id: number, counter: number): boolean {
    return this.statements.setCounter.run(counter, id).changes === 1;
  }
}
