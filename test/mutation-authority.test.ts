/**
 * Rules of the token authority (src/auth/authority.ts) and the SASL mechanisms (src/auth/sasl)
 * that `npm run mutate` (docs/mutation.md) found without a test of their own: each domain's window,
 * nonce length and disabled accounts as configured (and their defaults), domain names prepared,
 * the keyring handed out, revocations read after the token verifies and failing closed; the
 * SASL condition for each refusal, the authzid rules, the gate, the one-time password order,
 * where PLAIN is offered, the guard after a mechanism ends, and EXTERNAL's refusals.
 */
import { describe, expect, test } from "@jest/globals";
import { TokenAuthority } from "../src/auth/authority.js";
import { decodeSaslPayload } from "../src/auth/sasl/encoding.js";
import { externalMechanism } from "../src/auth/sasl/external.js";
import { parsePlainMessage } from "../src/auth/sasl/message.js";
import { ABORTED, INVALID_MECHANISM, SaslRegistry, type MechanismFactory } from "../src/auth/sasl/registry.js";
import { authenticateTokenMessage, checkPassword, plainTokenMechanism, xTokenMechanism } from "../src/auth/sasl/token-mechanisms.js";
import type { SaslContext, SaslOutcome, TokenCheck } from "../src/auth/sasl/types.js";
import { mintToken } from "../src/core/token/mint.js";
import { KeyError } from "../src/core/token/keys.js";
import { WINDOW_RULE } from "../src/core/token/window.js";

const KEY = { tokenSecret: "mutation-authority-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const NOW = 1_700_000_010; // 10 s into a 30 s step
const STEP = 30;

describe("token authority: each domain as configured", () => {
  test("a bad window is refused with the domain's name, and the authority keeps its domains", () => {
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [KEY], window: 11 } } })).toThrow(new KeyError(`a.example: window must be ${WINDOW_RULE}, got 11`));
    expect(() => new TokenAuthority({ domains: { "a.example": { keys: [KEY], window: -1 } } })).toThrow(KeyError);
    const authority = new TokenAuthority({ domains: { "a.example": { keys: [KEY] } } });
    expect(() => authority.replaceDomains({ "b.example": { keys: [KEY], window: 1.5 } })).toThrow(KeyError);
    expect(authority.domains).toEqual(["a.example"]);
  });

  test("the window: one step either side by default, the configured number otherwise", async () => {
    const at = (window: number | undefined) =>
      new TokenAuthority({ domains: { "a.example": window === undefined ? { keys: [KEY] } : { keys: [KEY], window } }, now: () => NOW });
    const minted = (offset: number) => mintToken({ jid: "alice@a.example", key: KEY, now: NOW + offset * STEP });
    expect(await at(undefined).check("alice", "a.example", minted(-1))).toEqual(expect.objectContaining({ ok: true }));
    expect(await at(undefined).check("alice", "a.example", minted(1))).toEqual(expect.objectContaining({ ok: true }));
    expect(await at(undefined).check("alice", "a.example", minted(-2))).toEqual({ ok: false, reason: "otp-out-of-window" });
    expect(await at(0).check("alice", "a.example", minted(-1))).toEqual({ ok: false, reason: "otp-out-of-window" });
    expect(await at(0).check("alice", "a.example", minted(0))).toEqual(expect.objectContaining({ ok: true }));
    expect(await at(2).check("alice", "a.example", minted(-2))).toEqual(expect.objectContaining({ ok: true }));
  });

  test("the nonce length: 32 digits by default, the configured length otherwise, exactly", async () => {
    const def = new TokenAuthority({ domains: { "a.example": { keys: [KEY] } }, now: () => NOW });
    const long = new TokenAuthority({ domains: { "a.example": { keys: [KEY], nonceDigits: 40 } }, now: () => NOW });
    const t32 = () => mintToken({ jid: "alice@a.example", key: KEY, now: NOW });
    const t40 = () => mintToken({ jid: "alice@a.example", key: KEY, now: NOW, nonceDigits: 40 });
    expect(await def.check("alice", "a.example", t32())).toEqual(expect.objectContaining({ ok: true }));
    expect(await def.check("alice", "a.example", t40())).toEqual({ ok: false, reason: "malformed" });
    expect(await long.check("alice", "a.example", t40())).toEqual(expect.objectContaining({ ok: true }));
    expect(await long.check("alice", "a.example", t32())).toEqual({ ok: false, reason: "malformed" });
  });

  test("domain names are prepared once (nameprep) when configured", async () => {
    const authority = new TokenAuthority({ domains: { "A.Example": { keys: [KEY] } }, now: () => NOW });
    expect(authority.domains).toEqual(["a.example"]);
    expect(authority.hosts("a.example")).toBe(true);
    expect(authority.hosts("A.Example")).toBe(false);
    const token = mintToken({ jid: "alice@a.example", key: KEY, now: NOW });
    expect(await authority.check("alice", "a.example", token)).toEqual({ ok: true, jid: "alice@a.example", keyIndex: 0, step: Math.floor(NOW / STEP), expiresAt: (Math.floor(NOW / STEP) + 2) * STEP });
  });

  test("disabled accounts are refused before the token is looked at, and only they", async () => {
    const authority = new TokenAuthority({ domains: { "a.example": { keys: [KEY], disabledUsers: ["eve"] } }, now: () => NOW });
    expect(authority.accountProblem("eve", "a.example")).toBe("account-disabled");
    expect(authority.accountProblem("alice", "a.example")).toBe(null);
    expect(authority.accountProblem("alice", "b.example")).toBe("unknown-domain");
    const eves = mintToken({ jid: "eve@a.example", key: KEY, now: NOW });
    expect(await authority.check("eve", "a.example", eves)).toEqual({ ok: false, reason: "account-disabled" });
    // Not claimed: the same token would still verify once she is enabled again.
    authority.replaceDomains({ "a.example": { keys: [KEY] } });
    expect(await authority.check("eve", "a.example", eves)).toEqual(expect.objectContaining({ ok: true }));
    expect(await authority.check("alice", "b.example", eves)).toEqual({ ok: false, reason: "unknown-domain" });
  });

  test("the keyring of a hosted domain mints tokens it accepts; none for another domain", async () => {
    const authority = new TokenAuthority({ domains: { "a.example": { keys: [KEY] } }, now: () => NOW });
    const keyring = authority.keyring("a.example");
    expect(keyring).toBeDefined();
    const token = mintToken({ jid: "alice@a.example", key: keyring!, now: NOW });
    expect(await authority.check("alice", "a.example", token)).toEqual(expect.objectContaining({ ok: true }));
    expect(authority.keyring("b.example")).toBeUndefined();
  });

  test("by default: one replay store (a token is accepted once) and the system clock", async () => {
    const authority = new TokenAuthority({ domains: { "a.example": { keys: [KEY] } } });
    const token = mintToken({ jid: "alice@a.example", key: KEY });
    expect(await authority.check("alice", "a.example", token)).toEqual(expect.objectContaining({ ok: true }));
    expect(await authority.check("alice", "a.example", token)).toEqual({ ok: false, reason: "replayed" });
  });
});

describe("token authority: revocations", () => {
  const step = Math.floor(NOW / STEP);
  const withNotBefore = (notBefore: (jid: string) => Promise<number | null>) => {
    const asked: string[] = [];
    const authority = new TokenAuthority({
      domains: { "a.example": { keys: [KEY] } },
      now: () => NOW,
      revocations: { notBefore: (jid) => (asked.push(jid), notBefore(jid)) },
    });
    return { authority, asked };
  };

  test("a token minted before the account's not-before is refused (and used); one from the step after is accepted", async () => {
    const { authority, asked } = withNotBefore(async () => step * STEP + 1);
    const before = mintToken({ jid: "alice@a.example", key: KEY, now: NOW });
    expect(await authority.check("alice", "a.example", before)).toEqual({ ok: false, reason: "revoked" });
    expect(asked).toEqual(["alice@a.example"]);
    const after = mintToken({ jid: "alice@a.example", key: KEY, now: NOW + STEP });
    expect(await authority.check("alice", "a.example", after)).toEqual(expect.objectContaining({ ok: true, step: step + 1 }));
    expect(await authority.check("alice", "a.example", before)).toEqual({ ok: false, reason: "replayed" });
  });

  test("no not-before, or one at the start of the token's step: accepted", async () => {
    const none = withNotBefore(async () => null);
    expect(await none.authority.check("alice", "a.example", mintToken({ jid: "alice@a.example", key: KEY, now: NOW }))).toEqual(expect.objectContaining({ ok: true }));
    const edge = withNotBefore(async () => step * STEP);
    expect(await edge.authority.check("alice", "a.example", mintToken({ jid: "alice@a.example", key: KEY, now: NOW }))).toEqual(expect.objectContaining({ ok: true }));
  });

  test("records that cannot answer refuse the login as a store error; a token that fails is refused without asking them", async () => {
    const { authority, asked } = withNotBefore(async () => {
      throw new Error("store down");
    });
    expect(await authority.check("alice", "a.example", mintToken({ jid: "alice@a.example", key: KEY, now: NOW }))).toEqual({ ok: false, reason: "replay-store-error" });
    asked.length = 0;
    expect(await authority.check("alice", "a.example", "12345678 nope")).toEqual({ ok: false, reason: "malformed" });
    expect(asked).toEqual([]);
  });
});

describe("SASL: the token mechanisms", () => {
  const ctx: SaslContext = { domain: "a.example", secure: true };
  const message = (authzid: string, user: string, secret: string) => Buffer.from(`${authzid}\0${user}\0${secret}`);
  const answering = (verdict: { ok: true; jid: string } | { ok: false; reason: string }, seen: string[][] = []): TokenCheck => ({
    check: async (localpart, domain, token) => (seen.push([localpart, domain, token]), verdict),
  });

  test("each refusal gets its condition: store trouble is temporary, disabled is disabled, malformed is malformed, the rest not-authorized", async () => {
    const cases: [string, string][] = [
      ["replay-store-full", "temporary-auth-failure"],
      ["replay-store-error", "temporary-auth-failure"],
      ["otp-store-error", "temporary-auth-failure"],
      ["account-disabled", "account-disabled"],
      ["malformed", "malformed-request"],
      ["bad-signature", "not-authorized"],
      ["replayed", "not-authorized"],
      ["revoked", "not-authorized"],
    ];
    for (const [reason, condition] of cases) {
      expect(await authenticateTokenMessage(message("", "alice", "t"), ctx, { authority: answering({ ok: false, reason }) })).toEqual({ kind: "failure", condition, reason, jid: "alice@a.example" });
    }
  });

  test("the token is checked for the prepared localpart at the stream's domain; success carries the authority's JID", async () => {
    const seen: string[][] = [];
    const outcome = await authenticateTokenMessage(message("", "Alice", "tok en"), ctx, { authority: answering({ ok: true, jid: "alice@a.example" }, seen) });
    expect(outcome).toEqual({ kind: "success", jid: "alice@a.example" });
    expect(seen).toEqual([["alice", "a.example", "tok en"]]);
  });

  test("authzid: empty or the same bare JID (prepared) is fine; another, a full JID or no JID is invalid-authzid, unchecked", async () => {
    const seen: string[][] = [];
    const authority = answering({ ok: true, jid: "alice@a.example" }, seen);
    for (const authzid of ["alice@a.example", "ALICE@A.Example"]) {
      expect(await authenticateTokenMessage(message(authzid, "alice", "t"), ctx, { authority })).toEqual({ kind: "success", jid: "alice@a.example" });
    }
    expect(seen).toHaveLength(2);
    for (const authzid of ["bob@a.example", "alice@b.example", "alice@a.example/res", "a.example", "@@@", "alice@"]) {
      expect(await authenticateTokenMessage(message(authzid, "alice", "t"), ctx, { authority })).toEqual({ kind: "failure", condition: "invalid-authzid", reason: "invalid-authzid", jid: "alice@a.example" });
    }
    expect(seen).toHaveLength(2);
  });

  test("a malformed message is refused with its parse error and no check", async () => {
    const seen: string[][] = [];
    expect(await authenticateTokenMessage(Buffer.from("alice\0t"), ctx, { authority: answering({ ok: true, jid: "x" }, seen) })).toEqual({ kind: "failure", condition: "malformed-request", reason: "not-three-fields" });
    expect(seen).toEqual([]);
  });

  test("the gate sees the JID before any check; a deny is rate-limited, an allow goes on", async () => {
    const seen: string[][] = [];
    const gated: string[] = [];
    const authority = answering({ ok: true, jid: "alice@a.example" }, seen);
    const deny = async (_c: SaslContext, jid: string) => (gated.push(jid), "deny" as const);
    expect(await authenticateTokenMessage(message("", "alice", "t"), ctx, { authority, gate: deny })).toEqual({ kind: "failure", condition: "temporary-auth-failure", reason: "rate-limited", jid: "alice@a.example" });
    expect(gated).toEqual(["alice@a.example"]);
    expect(seen).toEqual([]);
    expect(await authenticateTokenMessage(message("", "alice", "t"), ctx, { authority, gate: () => "allow" })).toEqual({ kind: "success", jid: "alice@a.example" });
  });

  test("checkPassword: a token's shape goes to the authority only; another goes to OTP first, then the authority when OTP has no account", async () => {
    const calls: string[] = [];
    const authority: TokenCheck = { isToken: (p) => p.startsWith("tok"), check: async (l) => (calls.push(`token ${l}`), { ok: false, reason: "malformed" }) };
    const otp = (answer: { ok: true; jid: string } | null) => ({ check: async (l: string) => (calls.push(`otp ${l}`), answer) });
    expect(await checkPassword({ authority, otp: otp({ ok: true, jid: "alice@a.example" }) }, "alice", "a.example", "1234 567890")).toEqual({ ok: true, jid: "alice@a.example" });
    expect(calls).toEqual(["otp alice"]);
    calls.length = 0;
    expect(await checkPassword({ authority, otp: otp({ ok: true, jid: "alice@a.example" }) }, "alice", "a.example", "tok")).toEqual({ ok: false, reason: "malformed" });
    expect(calls).toEqual(["token alice"]);
    calls.length = 0;
    expect(await checkPassword({ authority, otp: otp(null) }, "alice", "a.example", "1234")).toEqual({ ok: false, reason: "malformed" });
    expect(calls).toEqual(["otp alice", "token alice"]);
    calls.length = 0;
    // An authority that cannot tell a token's shape: credentials first.
    expect(await checkPassword({ authority: { check: authority.check }, otp: otp({ ok: true, jid: "alice@a.example" }) }, "alice", "a.example", "tok")).toEqual({ ok: true, jid: "alice@a.example" });
    expect(calls).toEqual(["otp alice"]);
    calls.length = 0;
    expect(await checkPassword({ authority }, "alice", "a.example", "1234")).toEqual({ ok: false, reason: "malformed" });
    expect(calls).toEqual(["token alice"]);
  });

  test("PLAIN takes a PIN + code for an OTP account; X-TOKEN never asks OTP", async () => {
    const calls: string[] = [];
    const authority: TokenCheck = { isToken: () => false, check: async () => (calls.push("token"), { ok: false, reason: "malformed" }) };
    const otp = { check: async () => (calls.push("otp"), { ok: true as const, jid: "alice@a.example" }) };
    const plain = plainTokenMechanism({ authority, otp }).start(ctx);
    expect(await plain.step(message("", "alice", "1234 567890"))).toEqual({ kind: "success", jid: "alice@a.example" });
    expect(calls).toEqual(["otp"]);
    calls.length = 0;
    const xtoken = xTokenMechanism({ authority, otp }).start(ctx);
    expect(await xtoken.step(message("", "alice", "1234 567890"))).toEqual({ kind: "failure", condition: "malformed-request", reason: "malformed", jid: "alice@a.example" });
    expect(calls).toEqual(["token"]);
  });

  test("no initial response: an empty challenge first, then the message", async () => {
    const mech = xTokenMechanism({ authority: answering({ ok: true, jid: "alice@a.example" }) }).start(ctx);
    expect(await mech.step(null)).toEqual({ kind: "challenge", data: Buffer.alloc(0) });
    expect(await mech.step(message("", "alice", "t"))).toEqual({ kind: "success", jid: "alice@a.example" });
  });

  test("PLAIN is offered under TLS, or without it only when allowed; X-TOKEN always", () => {
    const authority = answering({ ok: false, reason: "malformed" });
    const plain = plainTokenMechanism({ authority });
    expect(plain.name).toBe("PLAIN");
    expect(plain.offered({ domain: "a.example", secure: true })).toBe(true);
    expect(plain.offered({ domain: "a.example", secure: false })).toBe(false);
    expect(plainTokenMechanism({ authority, allowPlainWithoutTls: false }).offered({ domain: "a.example", secure: false })).toBe(false);
    expect(plainTokenMechanism({ authority, allowPlainWithoutTls: true }).offered({ domain: "a.example", secure: false })).toBe(true);
    const xtoken = xTokenMechanism({ authority });
    expect(xtoken.name).toBe("X-TOKEN");
    expect(xtoken.offered({ domain: "a.example", secure: false })).toBe(true);
  });
});

describe("SASL: the registry and its guard", () => {
  const ctx: SaslContext = { domain: "a.example", secure: false };
  const scripted = (name: string, offered: boolean, outcomes: (() => Promise<SaslOutcome>)[]): MechanismFactory => ({
    name,
    offered: () => offered,
    start: () => {
      let at = 0;
      return { step: () => outcomes[at++]!() };
    },
  });

  test("offered: in registration order, only those offered here; start: null for one not offered or unknown", () => {
    const registry = new SaslRegistry().use(scripted("B", true, [])).use(scripted("A", true, [])).use(scripted("C", false, []));
    expect(registry.offered(ctx)).toEqual(["B", "A"]);
    expect(registry.start("C", ctx)).toBeNull();
    expect(registry.start("D", ctx)).toBeNull();
    expect(registry.start("A", ctx)).not.toBeNull();
  });

  test("after a success or failure every step is refused; challenges keep it going; a throw is a temporary failure", async () => {
    const challenge = async () => ({ kind: "challenge" as const, data: Buffer.from("c") });
    const success = async () => ({ kind: "success" as const, jid: "alice@a.example" });
    const registry = new SaslRegistry()
      .use(scripted("OK", true, [challenge, challenge, success, success]))
      .use(scripted("THROWS", true, [async () => { throw new Error("bug"); }, success]));
    const ok = registry.start("OK", ctx)!;
    expect(await ok.step(null)).toEqual({ kind: "challenge", data: Buffer.from("c") });
    expect(await ok.step(Buffer.alloc(0))).toEqual({ kind: "challenge", data: Buffer.from("c") });
    expect(await ok.step(Buffer.alloc(0))).toEqual({ kind: "success", jid: "alice@a.example" });
    expect(await ok.step(Buffer.alloc(0))).toEqual({ kind: "failure", condition: "malformed-request", reason: "step-after-end" });
    const throws = registry.start("THROWS", ctx)!;
    expect(await throws.step(null)).toEqual({ kind: "failure", condition: "temporary-auth-failure", reason: "internal-error" });
    expect(await throws.step(null)).toEqual({ kind: "failure", condition: "malformed-request", reason: "step-after-end" });
  });

  test("the fixed outcomes for abort and an unknown mechanism", () => {
    expect(ABORTED).toEqual({ kind: "failure", condition: "aborted", reason: "aborted" });
    expect(INVALID_MECHANISM).toEqual({ kind: "failure", condition: "invalid-mechanism", reason: "invalid-mechanism" });
  });
});

describe("SASL: payloads and the PLAIN-shaped message", () => {
  test("decoding: empty is no payload, '=' is an empty one, only canonical base64 is data", () => {
    expect(decodeSaslPayload("")).toEqual({ kind: "none" });
    expect(decodeSaslPayload("=")).toEqual({ kind: "data", data: Buffer.alloc(0) });
    expect(decodeSaslPayload("aGk=")).toEqual({ kind: "data", data: Buffer.from("hi") });
    expect(decodeSaslPayload("aGl=")).toEqual({ kind: "invalid" });
    expect(decodeSaslPayload("aG k=")).toEqual({ kind: "invalid" });
    expect(decodeSaslPayload("==")).toEqual({ kind: "invalid" });
  });

  test("fields: three exactly, UTF-8 only, the authzid kept as sent, localpart and secret prepared", () => {
    expect(parsePlainMessage(Buffer.from("a\0b\0c\0d"))).toEqual({ error: "not-three-fields" });
    expect(parsePlainMessage(Buffer.from([0, 0x61, 0, 0xff]))).toEqual({ error: "invalid-utf8" });
    expect(parsePlainMessage(Buffer.from("Bob@X\0Alice\0s\u00a0t"))).toEqual({ authzid: "Bob@X", localpart: "alice", secret: "s t" });
    expect(parsePlainMessage(Buffer.from("\0al ice\0t"))).toEqual({ error: "prep-failed" });
  });
});

describe("SASL: EXTERNAL", () => {
  const login = { fingerprint: "ab", resources: null };
  const ctx: SaslContext = { domain: "a.example", secure: true, clientCertificate: "ab" };
  const mech = (verdict: Parameters<typeof externalMechanism>[0]["login"], accounts?: { accountProblem(l: string, d: string): string | null }) =>
    externalMechanism(accounts ? { login: verdict, accounts } : { login: verdict });
  const good = () => ({ ok: true as const, account: "alice@a.example", login });

  test("offered only with a certificate, on a secure stream, whose verdict is good", () => {
    const asked: string[][] = [];
    const factory = mech((fp, domain) => (asked.push([fp, domain]), good()));
    expect(factory.name).toBe("EXTERNAL");
    expect(factory.offered(ctx)).toBe(true);
    expect(asked).toEqual([["ab", "a.example"]]);
    expect(factory.offered({ ...ctx, secure: false })).toBe(false);
    expect(factory.offered({ domain: "a.example", secure: true })).toBe(false);
    expect(mech(() => ({ ok: false, reason: "revoked" })).offered(ctx)).toBe(false);
  });

  test("no initial response: an empty challenge; then empty or the account's JID succeeds, anything else is invalid-authzid", async () => {
    const factory = mech(good);
    const start = () => factory.start(ctx);
    expect(await start().step(null)).toEqual({ kind: "challenge", data: Buffer.alloc(0) });
    const success = { kind: "success", jid: "alice@a.example", certificate: login };
    expect(await start().step(Buffer.alloc(0))).toEqual(success);
    expect(await start().step(Buffer.from("Alice@A.example"))).toEqual(success);
    const invalid = { kind: "failure", condition: "invalid-authzid", reason: "invalid-authzid", jid: "alice@a.example" };
    for (const authzid of ["bob@a.example", "alice@a.example/r", "alice@a.example\0", "@@", "x".repeat(3072)]) expect(await start().step(Buffer.from(authzid))).toEqual(invalid);
    expect(await start().step(Buffer.from([0xff]))).toEqual(invalid);
  });

  test("checked again when used: a certificate gone, or refused now, or a disabled account, is refused", async () => {
    let verdict: ReturnType<typeof good> | { ok: false; reason: string; account?: string } = good();
    const factory = mech(() => verdict);
    expect(await factory.start({ ...ctx, secure: false }).step(Buffer.alloc(0))).toEqual({ kind: "failure", condition: "not-authorized", reason: "no-client-certificate" });
    verdict = { ok: false, reason: "revoked", account: "alice@a.example" };
    expect(await factory.start(ctx).step(Buffer.alloc(0))).toEqual({ kind: "failure", condition: "not-authorized", reason: "revoked", jid: "alice@a.example" });
    verdict = good();
    const asked: string[][] = [];
    const disabled = mech(good, { accountProblem: (l, d) => (asked.push([l, d]), "account-disabled") });
    expect(await disabled.start(ctx).step(Buffer.alloc(0))).toEqual({ kind: "failure", condition: "account-disabled", reason: "account-disabled", jid: "alice@a.example" });
    expect(asked).toEqual([["alice", "a.example"]]);
    const unknown = mech(good, { accountProblem: () => "unknown-domain" });
    expect(await unknown.start(ctx).step(Buffer.alloc(0))).toEqual({ kind: "failure", condition: "not-authorized", reason: "unknown-domain", jid: "alice@a.example" });
    const fine = mech(good, { accountProblem: () => null });
    expect(await fine.start(ctx).step(Buffer.alloc(0))).toEqual({ kind: "success", jid: "alice@a.example", certificate: login });
  });
});
