/**
 * FastTokenRecords, both engines through the same cases: slots, promotion, invalidation,
 * revocation of an account, expiry sweep, the per-account bound; SQLite across a reopen and
 * between two handles on one file (a promotion is atomic across processes sharing it).
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { createHash } from "node:crypto";
import { MAX_FAST_BINDINGS_PER_ACCOUNT, MemoryFastTokens, type FastTokenBinding, type FastTokenRecords, type FastTokenSecret } from "../src/core/records/fast-tokens.js";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const sha = (text: string) => createHash("sha256").update(text).digest();
const binding = (account = "alice@example.com", agent = "agent-1", mechanism = "HT-SHA-256-NONE"): FastTokenBinding => ({
  account,
  agentHash: sha(agent).toString("hex"),
  mechanism,
});
const token = (name: string, issuedAt = 1000, expiresAt = 2000): FastTokenSecret => ({ verifier: sha(name), responder: sha(`r-${name}`), issuedAt, expiresAt });

const engines: [string, () => FastTokenRecords][] = [
  ["memory", () => new MemoryFastTokens()],
  ["sqlite", () => openSqliteStorage({ dir: tempDir("fast-records-") }).fast],
];

describe.each(engines)("%s engine", (_name, make) => {
  test("a new token goes to 'new', is promoted on use, and the old current is then gone", () => {
    const records = make();
    expect(records.find(binding())).toEqual({ current: null, new: null });
    records.issue(binding(), token("one"));
    expect(Buffer.from(records.find(binding()).new!.verifier)).toEqual(sha("one"));
    expect(records.find(binding()).current).toBeNull();
    expect(records.promote(binding(), sha("one"))).toBe(true);
    expect(records.promote(binding(), sha("one"))).toBe(false);
    const after = records.find(binding());
    expect(after.new).toBeNull();
    expect(Buffer.from(after.current!.verifier)).toEqual(sha("one"));
    expect(Buffer.from(after.current!.responder)).toEqual(sha("r-one"));
    expect([after.current!.issuedAt, after.current!.expiresAt]).toEqual([1000, 2000]);
    // Rotation: the next one waits in "new"; the current one still works until it is used.
    records.issue(binding(), token("two", 1500, 2500));
    expect(Buffer.from(records.find(binding()).current!.verifier)).toEqual(sha("one"));
    expect(records.promote(binding(), sha("one"))).toBe(false);
    expect(records.promote(binding(), sha("two"))).toBe(true);
    expect(Buffer.from(records.find(binding()).current!.verifier)).toEqual(sha("two"));
  });

  test("a token issued again replaces the one waiting in 'new'", () => {
    const records = make();
    records.issue(binding(), token("one"));
    records.issue(binding(), token("two"));
    expect(records.promote(binding(), sha("one"))).toBe(false);
    expect(records.promote(binding(), sha("two"))).toBe(true);
  });

  test("bindings are apart: other user agent, other account, other mechanism", () => {
    const records = make();
    records.issue(binding(), token("one"));
    for (const other of [binding("bob@example.com"), binding(undefined, "agent-2"), binding(undefined, undefined, "HT-SHA-256-ENDP")]) {
      expect(records.find(other)).toEqual({ current: null, new: null });
      expect(records.promote(other, sha("one"))).toBe(false);
      expect(records.invalidate(other, sha("one"))).toBe(false);
    }
    expect(records.find(binding()).new).not.toBeNull();
  });

  test("invalidate removes the one token, in either slot", () => {
    const records = make();
    records.issue(binding(), token("one"));
    records.promote(binding(), sha("one"));
    records.issue(binding(), token("two"));
    expect(records.invalidate(binding(), sha("three"))).toBe(false);
    expect(records.invalidate(binding(), sha("one"))).toBe(true);
    expect(records.find(binding()).current).toBeNull();
    expect(records.invalidate(binding(), sha("two"))).toBe(true);
    expect(records.find(binding())).toEqual({ current: null, new: null });
  });

  test("revokeAccount removes every token of the account and no other's", () => {
    const records = make();
    records.issue(binding(), token("one"));
    records.promote(binding(), sha("one"));
    records.issue(binding(), token("two"));
    records.issue(binding(undefined, "agent-2"), token("three"));
    records.issue(binding("bob@example.com"), token("four"));
    expect(records.revokeAccount("alice@example.com")).toBe(3);
    expect(records.revokeAccount("alice@example.com")).toBe(0);
    expect(records.find(binding())).toEqual({ current: null, new: null });
    expect(records.find(binding(undefined, "agent-2"))).toEqual({ current: null, new: null });
    expect(records.find(binding("bob@example.com")).new).not.toBeNull();
  });

  test("removeExpired forgets tokens expired at or before the instant", () => {
    const records = make();
    records.issue(binding(), token("one", 1000, 2000));
    records.promote(binding(), sha("one"));
    records.issue(binding(), token("two", 1500, 3000));
    expect(records.removeExpired(1999)).toBe(0);
    expect(records.removeExpired(2000)).toBe(1);
    expect(records.find(binding()).current).toBeNull();
    expect(records.find(binding()).new).not.toBeNull();
  });

  test(`an account keeps at most ${MAX_FAST_BINDINGS_PER_ACCOUNT} user agents: the one issued longest ago goes`, () => {
    const records = make();
    for (let i = 0; i <= MAX_FAST_BINDINGS_PER_ACCOUNT; i++) records.issue(binding(undefined, `agent-${i}`), token(`t${i}`, 1000 + i, 5000));
    expect(records.find(binding(undefined, "agent-0"))).toEqual({ current: null, new: null });
    expect(records.find(binding(undefined, "agent-1")).new).not.toBeNull();
    expect(records.find(binding(undefined, `agent-${MAX_FAST_BINDINGS_PER_ACCOUNT}`)).new).not.toBeNull();
    expect(records.find(binding("bob@example.com"))).toEqual({ current: null, new: null });
  });
});

test("memory: at most maxBindings in all", () => {
  const records = new MemoryFastTokens(2);
  records.issue(binding("a@example.com"), token("a"));
  records.issue(binding("b@example.com"), token("b"));
  records.issue(binding("c@example.com"), token("c"));
  expect(records.find(binding("a@example.com")).new).toBeNull();
  expect(records.find(binding("c@example.com")).new).not.toBeNull();
});

test("sqlite: tokens survive a reopen, and a promotion is taken once across two handles", () => {
  const dir = tempDir("fast-records-");
  const first = openSqliteStorage({ dir });
  first.fast.issue(binding(), token("one"));
  first.close();
  const a = openSqliteStorage({ dir });
  const b = openSqliteStorage({ dir });
  try {
    expect(a.fast.find(binding()).new).not.toBeNull();
    expect(a.fast.promote(binding(), sha("one"))).toBe(true);
    expect(b.fast.promote(binding(), sha("one"))).toBe(false);
    expect(Buffer.from(b.fast.find(binding()).current!.verifier)).toEqual(sha("one"));
  } finally {
    a.close();
    b.close();
  }
});
