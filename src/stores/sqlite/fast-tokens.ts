/**
 * FAST tokens in the SQLite database (FastTokenRecords): one row per slot, never the token itself.
 * Every change is one immediate transaction, so a promotion, an invalidation or a revocation is
 * atomic across the processes sharing the file, and committed before the login it belongs to is
 * answered: a token handed out survives a SIGKILL the next instant.
 */
import type Database from "better-sqlite3";
import { MAX_FAST_BINDINGS_PER_ACCOUNT, type FastTokenBinding, type FastTokenRecords, type FastTokenSecret, type FastTokenSlots } from "../../core/records/fast-tokens.js";

interface Row {
  slot: "current" | "new";
  verifier: Buffer;
  responder: Buffer;
  issued_at: number;
  expires_at: number;
}

type BindingParams = [string, string, string];
const params = ({ account, agentHash, mechanism }: FastTokenBinding): BindingParams => [account, agentHash, mechanism];
const WHERE_BINDING = "account = ? AND agent_hash = ? AND mechanism = ?";

export class SqliteFastTokens implements FastTokenRecords {
  private readonly statements;
  private readonly issueOne: (binding: FastTokenBinding, token: FastTokenSecret) => void;
  private readonly promoteOne: (binding: FastTokenBinding, verifier: Buffer) => boolean;

  constructor(db: Database.Database) {
    const statements = {
      find: db.prepare<BindingParams, Row>(`SELECT slot, verifier, responder, issued_at, expires_at FROM fast_tokens WHERE ${WHERE_BINDING}`),
      putNew: db.prepare<[...BindingParams, Buffer, Buffer, number, number]>(
        "INSERT INTO fast_tokens (account, agent_hash, mechanism, slot, verifier, responder, issued_at, expires_at) VALUES (?, ?, ?, 'new', ?, ?, ?, ?) " +
          "ON CONFLICT (account, agent_hash, mechanism, slot) DO UPDATE SET verifier = excluded.verifier, responder = excluded.responder, issued_at = excluded.issued_at, expires_at = excluded.expires_at",
      ),
      bindingsOf: db.prepare<[string], { agent_hash: string; mechanism: string }>(
        "SELECT agent_hash, mechanism FROM fast_tokens WHERE account = ? GROUP BY agent_hash, mechanism ORDER BY MAX(issued_at) DESC, agent_hash, mechanism",
      ),
      removeBinding: db.prepare<BindingParams>(`DELETE FROM fast_tokens WHERE ${WHERE_BINDING}`),
      dropCurrent: db.prepare<[...BindingParams, ...BindingParams, Buffer]>(
        `DELETE FROM fast_tokens WHERE ${WHERE_BINDING} AND slot = 'current' AND EXISTS (SELECT 1 FROM fast_tokens WHERE ${WHERE_BINDING} AND slot = 'new' AND verifier = ?)`,
      ),
      promote: db.prepare<[...BindingParams, Buffer]>(`UPDATE fast_tokens SET slot = 'current' WHERE ${WHERE_BINDING} AND slot = 'new' AND verifier = ?`),
      invalidate: db.prepare<[...BindingParams, Buffer]>(`DELETE FROM fast_tokens WHERE ${WHERE_BINDING} AND verifier = ?`),
      revokeAccount: db.prepare<[string]>("DELETE FROM fast_tokens WHERE account = ?"),
      removeExpired: db.prepare<[number]>("DELETE FROM fast_tokens WHERE expires_at <= ?"),
    };
    this.statements = statements;
    const issue = db.transaction((binding: FastTokenBinding, token: FastTokenSecret) => {
      statements.putNew.run(...params(binding), Buffer.from(token.verifier), Buffer.from(token.responder), Math.floor(token.issuedAt), Math.ceil(token.expiresAt));
      for (const old of statements.bindingsOf.all(binding.account).slice(MAX_FAST_BINDINGS_PER_ACCOUNT)) {
        statements.removeBinding.run(binding.account, old.agent_hash, old.mechanism);
      }
    });
    const promote = db.transaction((binding: FastTokenBinding, verifier: Buffer) => {
      statements.dropCurrent.run(...params(binding), ...params(binding), verifier);
      return statements.promote.run(...params(binding), verifier).changes === 1;
    });
    this.issueOne = (binding, token) => issue.immediate(binding, token);
    this.promoteOne = (binding, verifier) => promote.immediate(binding, verifier);
  }

  find(binding: FastTokenBinding): FastTokenSlots {
    const slots: FastTokenSlots = { current: null, new: null };
    for (const row of this.statements.find.all(...params(binding))) {
      slots[row.slot] = { verifier: row.verifier, responder: row.responder, issuedAt: row.issued_at, expiresAt: row.expires_at };
    }
    return slots;
  }

  issue(binding: FastTokenBinding, token: FastTokenSecret): void {
    this.issueOne(binding, token);
  }

  promote(binding: FastTokenBinding, verifier: Uint8Array): boolean {
    return this.promoteOne(binding, Buffer.from(verifier));
  }

  invalidate(binding: FastTokenBinding, verifier: Uint8Array): boolean {
    return this.statements.invalidate.run(...params(binding), Buffer.from(verifier)).changes > 0;
  }

  revokeAccount(account: string): number {
    return this.statements.revokeAccount.run(account).changes;
  }

  removeExpired(now: number): number {
    return this.statements.removeExpired.run(Math.floor(now)).changes;
  }
}
