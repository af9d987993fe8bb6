/**
 * Fuzz targets for authentication: SASL message parsing (src/auth/sasl: encoding.ts, message.ts,
 * token-mechanisms.ts through the registry) and the token format reader (src/core/token/format.ts,
 * verify.ts checkToken), with JID preparation (src/core/jid/prep.ts) on the way.
 *
 * Contracts (from the sources): decodeSaslPayload and parsePlainMessage return a value for every
 * input and never throw; a mechanism's step() "never throws; every call gets an outcome"
 * (authenticateTokenMessage may only reject when the authority does, and ours does not);
 * checkToken's token "never" makes it throw (only the caller's options may); parseToken is "strict
 * and total"; nodeprep/nameprep/prepareBareJid throw InvalidJidError and nothing else.
 * Invariants checked besides:
 * - a decoded payload is canonical base64: it encodes back to the same text;
 * - a mechanism's failure is never the guard's "internal-error" (that is a caught crash), and a
 *   finished mechanism answers every further step with a failure;
 * - a success is for the JID the token was minted for, and only with a token minted for it;
 * - checkToken accepts only tokens minted for that JID (mutations of them never);
 * - a parsed token formats back to the same text;
 * - nodeprep and nameprep agree with their Unicode paths and are idempotent.
 */
import fc from "fast-check";
import { createHash } from "node:crypto";
import { createXTokenSasl, decodeSaslPayload, encodeSaslPayload, parsePlainMessage, authenticateTokenMessage, type SaslOutcome } from "../../src/auth/sasl/index.js";
import { TokenAuthority } from "../../src/auth/authority.js";
import { MemoryReplayStore } from "../../src/core/replay/memory.js";
import { mintToken } from "../../src/core/token/mint.js";
import { checkToken, REJECT_REASONS } from "../../src/core/token/verify.js";
import { formatToken, parseToken, tokenSignatureStart } from "../../src/core/token/format.js";
import { Keyring, type TokenKey } from "../../src/core/token/keys.js";
import { base32Encode } from "../../src/core/otp/base32.js";
import { InvalidJidError, nameprep, nameprepUnicode, nodeprep, nodeprepUnicode, normaliseBareJid } from "../../src/core/jid/prep.js";
import { check, Finding, type Target } from "./fuzz-engine.js";
import { anyString, DOMAIN, DICTIONARY, mutated, mutationOp, mutate, OTHER_DOMAIN, TOKEN_MARK } from "./fuzz-inputs.js";

/** Every token is minted and checked at this instant, so a run's tokens never expire. */
export const FIXED_NOW = 1_750_000_000;

/** Strong keys, the same in every run (derived from a label). */
export function fuzzKey(label: string): TokenKey {
  const bytes = createHash("sha256").update(`x-token fuzz ${label}`).digest();
  return { tokenSecret: bytes.toString("base64"), otpSeed: base32Encode(bytes.subarray(0, 20)) };
}

export const KEYS: Record<string, TokenKey[]> = {
  [DOMAIN]: [fuzzKey("main current"), fuzzKey("main old")],
  [OTHER_DOMAIN]: [fuzzKey("other")],
};

/**
 * Tokens minted lately, with the JID each is for: the oracle for acceptances. Two generations of
 * at most 10 000 each, so a run keeps a bounded number (an input looks up only its own tokens).
 */
let mintedNow = new Map<string, string>();
let mintedBefore = new Map<string, string>();
export const minted = {
  get: (token: string): string | undefined => mintedNow.get(token) ?? mintedBefore.get(token),
  set(token: string, jid: string): void {
    if (mintedNow.size >= 10_000) {
      mintedBefore = mintedNow;
      mintedNow = new Map();
    }
    mintedNow.set(token, jid);
  },
};
let nonceCounter = 0;

/** A fresh token (a nonce never used before in this run) for `jid`, minted at FIXED_NOW. */
export function freshToken(jid: string, { keyIndex = 0, nonceDigits = 32 }: { keyIndex?: number; nonceDigits?: number } = {}): string {
  const domain = jid.slice(jid.indexOf("@") + 1);
  const keys = KEYS[domain]!;
  const nonce = String(++nonceCounter).padStart(nonceDigits, "0");
  const token = mintToken({ jid, key: keys[keyIndex % keys.length]!, now: FIXED_NOW, nonce, nonceDigits });
  minted.set(token, normaliseBareJid(jid));
  return token;
}

export function newAuthority(): TokenAuthority {
  return new TokenAuthority({
    domains: {
      [DOMAIN]: { keys: KEYS[DOMAIN]!, window: 1, nonceDigits: 32, disabledUsers: ["disabled"] },
      [OTHER_DOMAIN]: { keys: KEYS[OTHER_DOMAIN]!, window: 0, nonceDigits: 32 },
    },
    replay: new MemoryReplayStore({ maxEntries: 100_000 }),
    now: () => FIXED_NOW,
  });
}

const SASL_CONDITIONS = new Set([
  "aborted", "account-disabled", "credentials-expired", "encryption-required", "incorrect-encoding", "invalid-authzid",
  "invalid-mechanism", "malformed-request", "mechanism-too-weak", "not-authorized", "temporary-auth-failure",
]);

/** PLAIN-shaped messages; TOKEN_MARK becomes a fresh token for fuzz0@example.test when the input runs. */
const PLAIN_TEMPLATES = [
  `\0fuzz0\0${TOKEN_MARK}`,
  `fuzz0@${DOMAIN}\0fuzz0\0${TOKEN_MARK}`,
  `\0FUZZ0\0${TOKEN_MARK}`,
  `\0Fuzz0\0${TOKEN_MARK}\u00ad`,
  `fuzz1@${DOMAIN}\0fuzz0\0${TOKEN_MARK}`,
  `fuzz0@${DOMAIN}/res\0fuzz0\0${TOKEN_MARK}`,
  `\0fuzz1\0${TOKEN_MARK}`,
  `\0fuzz0\0${TOKEN_MARK}\0extra`,
  `\0disabled\0${TOKEN_MARK}`,
  `\0fu\u200bzz0\0${TOKEN_MARK}`,
  `\0ﬀuzz0\0${TOKEN_MARK}`,
  `\0\u05d0\u05d1\0${TOKEN_MARK}`,
  `\0fuzz0\0 ${TOKEN_MARK}`,
  `\0fuzz0\0`,
  `\0\0${TOKEN_MARK}`,
  `fuzz0\0${TOKEN_MARK}`,
];

/** A message with its TOKEN_MARK (if it survived mutation) replaced by a fresh token for `jid`. */
function fill(bytes: Buffer, jid: string): { message: Buffer; token: string | null } {
  const mark = Buffer.from(TOKEN_MARK);
  const at = bytes.indexOf(mark);
  if (at === -1) return { message: bytes, token: null };
  const token = freshToken(jid);
  return { message: Buffer.concat([bytes.subarray(0, at), Buffer.from(token), bytes.subarray(at + mark.length)]), token };
}

type SaslInput =
  | { kind: "payload"; text: string }
  | { kind: "plain"; bytes: Buffer }
  | { kind: "mechanism"; mechanism: string; initial: boolean; bytes: Buffer; second: Buffer | null; secure: boolean; forFuzz1: boolean; direct: boolean };

export function saslTarget(): Target<SaslInput> {
  const templates = PLAIN_TEMPLATES.map((t) => Buffer.from(t));
  const plainMutated = mutated(templates, 6, [...templates, ...DICTIONARY]);
  const base64Corpus = [...templates.map((t) => t.toString("base64")), "=", "", "AA==", "AAA=", "AAAA", "QQ==", "QR==", "QUI=", "QUJ=", "A===", "====", "AA==AA==", " AA==", "AA==\n"];
  const payloadText = fc.oneof(
    { arbitrary: fc.tuple(fc.constantFrom(...base64Corpus), fc.array(mutationOp, { maxLength: 4 })).map(([t, ops]) => mutate(Buffer.from(t), ops, [Buffer.from("+/=AQgw")]).toString("latin1")), weight: 4 },
    { arbitrary: fc.base64String({ maxLength: 64 }), weight: 2 },
    { arbitrary: anyString(64), weight: 1 },
  );
  let authority = newAuthority();
  let registry = createXTokenSasl({ authority });
  let runs = 0;
  const outcomes = new Map<string, number>();
  const count = (o: SaslOutcome) => {
    const key = o.kind === "failure" ? `failure ${o.reason}` : o.kind;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  };
  const checkOutcome = (o: SaslOutcome, token: string | null, expectedJid: string | null) => {
    check(o && (o.kind === "challenge" || o.kind === "success" || o.kind === "failure"), "sasl: an outcome of no known kind", () => JSON.stringify(o));
    if (o.kind === "failure") {
      check(SASL_CONDITIONS.has(o.condition), "sasl: a failure with an unknown condition", o.condition);
      // The registry's guard turns an exception in a mechanism into this: a crash, caught.
      check(o.reason !== "internal-error", "sasl: a mechanism threw (the guard answered internal-error)", () => JSON.stringify(o));
    }
    if (o.kind === "success") {
      check(token !== null && expectedJid !== null && o.jid === expectedJid, "sasl: success for a JID the token was not minted for", () => `success as ${o.jid}, token for ${expectedJid}`);
    }
    count(o);
  };
  return {
    name: "sasl",
    about: "SASL: payload decoding, PLAIN-shaped message parsing, X-TOKEN/PLAIN mechanisms through the registry with fresh and mutated tokens",
    weight: 15,
    async: true,
    batch: 10_000,
    arbitrary: fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant("payload" as const), text: payloadText }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant("plain" as const), bytes: plainMutated }), weight: 2 },
      {
        arbitrary: fc.record({
          kind: fc.constant("mechanism" as const),
          mechanism: fc.constantFrom("X-TOKEN", "X-TOKEN", "PLAIN", "x-token", "SCRAM-SHA-1", "", "X-TOKEN\0", "__proto__", "constructor"),
          initial: fc.boolean(),
          bytes: plainMutated,
          second: fc.option(plainMutated, { freq: 3 }),
          secure: fc.boolean(),
          forFuzz1: fc.boolean(),
          direct: fc.boolean(),
        }),
        weight: 4,
      },
    ),
    async run(input) {
      if (++runs % 10_000 === 0) {
        // A fresh replay store now and then: used tokens pile up otherwise (the clock stands still).
        authority = newAuthority();
        registry = createXTokenSasl({ authority });
      }
      if (input.kind === "payload") {
        const decoded = decodeSaslPayload(input.text);
        check(decoded.kind === "none" || decoded.kind === "data" || decoded.kind === "invalid", "sasl: decodeSaslPayload gave no known kind", input.text);
        if (decoded.kind === "none") check(input.text === "", "sasl: a non-empty payload decoded as none", input.text);
        if (decoded.kind === "data" && input.text !== "=") {
          check(encodeSaslPayload(decoded.data) === input.text, "sasl: a decoded payload is not canonical base64", () => JSON.stringify(input.text));
        }
        return;
      }
      if (input.kind === "plain") {
        const parsed = parsePlainMessage(input.bytes);
        if ("error" in parsed) return;
        check(parsed.localpart !== "" && parsed.secret !== "" && !parsed.localpart.includes("\0") && !parsed.secret.includes("\0"), "sasl: parsePlainMessage gave empty or NUL fields", () => JSON.stringify(parsed));
        let again: string;
        try {
          again = nodeprep(parsed.localpart);
        } catch (err) {
          throw new Finding("invariant", "sasl: a prepared localpart does not prepare again", `${String(err)}: ${JSON.stringify(parsed.localpart)}`);
        }
        check(again === parsed.localpart, "sasl: nodeprep is not idempotent on a parsed localpart", () => `${JSON.stringify(parsed.localpart)} -> ${JSON.stringify(again)}`);
        return;
      }
      const user = input.forFuzz1 ? "fuzz1" : "fuzz0";
      const jid = `${user}@${DOMAIN}`;
      const { message, token } = fill(input.bytes, jid);
      const ctx = { domain: DOMAIN, secure: input.secure, remoteAddress: "192.0.2.1" };
      if (input.direct) {
        // The one-shot function other servers call: an outcome for every message, no rejection.
        const outcome = await authenticateTokenMessage(message, ctx, { authority });
        checkOutcome(outcome, token, token ? jid : null);
        return;
      }
      const mechanism = registry.start(input.mechanism, ctx);
      if (!mechanism) {
        check(!registry.offered(ctx).includes(input.mechanism), "sasl: an offered mechanism did not start", input.mechanism);
        return;
      }
      let outcome = await mechanism.step(input.initial ? message : null);
      checkOutcome(outcome, input.initial ? token : null, input.initial && token ? jid : null);
      if (outcome.kind === "challenge") {
        const second = input.second ? fill(input.second, jid) : { message, token };
        outcome = await mechanism.step(second.message);
        checkOutcome(outcome, second.token, second.token ? jid : null);
      }
      if (outcome.kind !== "challenge") {
        const after = await mechanism.step(message);
        check(after.kind === "failure" && after.reason === "step-after-end", "sasl: a finished mechanism took another step", () => JSON.stringify(after));
      }
    },
    notes: () => [`outcomes: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")}`],
  };
}

// ---- tokens and JIDs --------------------------------------------------------------------------

type TokenInput =
  | { kind: "token"; token: string; jid: string; prepared: boolean; window: number; nonceDigits: number }
  | { kind: "jid"; text: string };

const JID_CORPUS = [
  `fuzz0@${DOMAIN}`, `Fuzz0@Example.TEST`, `fuzz0@${DOMAIN}/res`, `fuzz0@${DOMAIN}.`, `ﬀ@${DOMAIN}`, `ß@${DOMAIN}`, `a\u0301@${DOMAIN}`,
  `\u05d0\u05d1@${DOMAIN}`, `\u05d0a@${DOMAIN}`, `a\u202e@${DOMAIN}`, `@${DOMAIN}`, `fuzz0@`, `fuzz0`, `a@b@c`, `a"b@${DOMAIN}`, `a@ex ample.test`,
  `a@${"x".repeat(64)}.test`, `${"a".repeat(1024)}@${DOMAIN}`, `a@xn--bcher-kva.test`, `A@B.C/D`, `a@[::1]`, `a@1.2.3.4`, `\u00ad@${DOMAIN}`,
  `fuzz0\u0000@${DOMAIN}`, `fuzz0@${DOMAIN}\u3002test`, `\ud800@${DOMAIN}`, `ǅ@${DOMAIN}`, `İ@${DOMAIN}`, `ﷺ@${DOMAIN}`,
];

export function tokenTarget(): Target<TokenInput> {
  // A pool of tokens minted for known JIDs (both keys, three nonce lengths), to mutate.
  const pool: { token: string; jid: string; nonceDigits: number }[] = [];
  const keyring = new Keyring(KEYS[DOMAIN]!);
  for (const [i, local] of ["fuzz0", "fuzz1", "Fuzz0", "ß", "a\u0301", "\u05d0\u05d1", "x".repeat(300)].entries()) {
    for (const nonceDigits of [16, 32, 128]) {
      const jid = `${local}@${DOMAIN}`;
      pool.push({ token: freshToken(jid, { keyIndex: i, nonceDigits }), jid: normaliseBareJid(jid), nonceDigits });
    }
  }
  const poolBytes = pool.map((p) => Buffer.from(p.token));
  const poolEntry = new Map(pool.map((p) => [p.token, p]));
  const tokenText = fc.oneof(
    { arbitrary: mutated(poolBytes, 4, [...poolBytes, ...DICTIONARY]).map((b) => b.toString("latin1")), weight: 4 },
    { arbitrary: mutated(poolBytes, 4).map((b) => b.toString("utf8")), weight: 2 },
    { arbitrary: fc.constantFrom(...pool.map((p) => p.token)), weight: 1 },
    { arbitrary: anyString(200), weight: 1 },
    { arbitrary: fc.stringMatching(/^\d{8,140} [A-Za-z0-9+/]{42,44}=?=?$/), weight: 2 },
  );
  const jidText = fc.oneof(
    { arbitrary: fc.constantFrom(...JID_CORPUS, ...pool.map((p) => p.jid)), weight: 2 },
    { arbitrary: mutated(JID_CORPUS.map((j) => Buffer.from(j)), 3).map((b) => b.toString("utf8")), weight: 4 },
    { arbitrary: anyString(24).map((s) => `${s}@${DOMAIN}`), weight: 1 },
    { arbitrary: anyString(40), weight: 1 },
  );
  const stats = { accepted: 0, reasons: new Map<string, number>(), parsed: 0, jids: 0 };
  const prepAgrees = (fast: (s: string) => string, slow: (s: string) => string, text: string, what: string): string | null => {
    let a: string | Error, b: string | Error;
    try {
      a = fast(text);
    } catch (err) {
      if (!(err instanceof InvalidJidError)) throw err;
      a = err;
    }
    try {
      b = slow(text);
    } catch (err) {
      if (!(err instanceof InvalidJidError)) throw err;
      b = err;
    }
    check(typeof a === typeof b && (typeof a !== "string" || a === b), `jid: ${what} and its Unicode path disagree`, () => `${JSON.stringify(text)}: ${String(a)} vs ${String(b)}`);
    if (typeof a !== "string") return null;
    let again: string;
    try {
      again = fast(a);
    } catch (err) {
      throw new Finding("invariant", `jid: ${what} output does not prepare again`, `${JSON.stringify(text)} -> ${JSON.stringify(a)}: ${String(err)}`);
    }
    check(again === a, `jid: ${what} is not idempotent`, () => `${JSON.stringify(text)} -> ${JSON.stringify(a)} -> ${JSON.stringify(again)}`);
    return a;
  };
  return {
    name: "token",
    about: "token format and checkToken with garbage and mutated minted tokens; JID preparation (nodeprep/nameprep, fast and Unicode paths)",
    weight: 15,
    async: false,
    arbitrary: fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant("token" as const),
          token: tokenText,
          jid: fc.oneof({ arbitrary: fc.constantFrom(...pool.map((p) => p.jid)), weight: 4 }, { arbitrary: jidText, weight: 1 }),
          prepared: fc.boolean(),
          window: fc.constantFrom(0, 1, 1, 10),
          nonceDigits: fc.constantFrom(16, 32, 32, 128),
        }),
        weight: 3,
      },
      { arbitrary: fc.record({ kind: fc.constant("jid" as const), text: jidText }), weight: 1 },
    ),
    run(input) {
      if (input.kind === "jid") {
        stats.jids++;
        const at = input.text.indexOf("@");
        prepAgrees(nodeprep, nodeprepUnicode, at === -1 ? input.text : input.text.slice(0, at), "nodeprep");
        const slash = input.text.indexOf("/");
        prepAgrees(nameprep, nameprepUnicode, input.text.slice(at + 1, slash === -1 ? undefined : slash), "nameprep");
        let bare: string;
        try {
          bare = normaliseBareJid(input.text);
        } catch (err) {
          if (err instanceof InvalidJidError) return;
          throw err;
        }
        let again: string;
        try {
          again = normaliseBareJid(bare);
        } catch (err) {
          throw new Finding("invariant", "jid: a normalised bare JID does not normalise again", `${JSON.stringify(input.text)} -> ${JSON.stringify(bare)}: ${String(err)}`);
        }
        check(again === bare, "jid: normaliseBareJid is not idempotent", () => `${JSON.stringify(input.text)} -> ${JSON.stringify(bare)} -> ${JSON.stringify(again)}`);
        return;
      }
      const { token, window, nonceDigits } = input;
      // jidPrepared promises a prepared JID: only given when it is one.
      const jid = input.jid;
      let prepared = input.prepared;
      if (prepared) {
        try {
          prepared = normaliseBareJid(jid) === jid;
        } catch (err) {
          if (!(err instanceof InvalidJidError)) throw err;
          prepared = false;
        }
      }
      const result = checkToken(token, { jid, keys: keyring, now: FIXED_NOW, window, nonceDigits, jidPrepared: prepared });
      if (result.ok) {
        stats.accepted++;
        const entry = poolEntry.get(token);
        const mintedFor = entry && entry.nonceDigits === nonceDigits ? entry.jid : undefined;
        let want: string | null = null;
        try {
          want = normaliseBareJid(jid);
        } catch {
          want = null;
        }
        check(mintedFor !== undefined && mintedFor === want && result.jid === want, "token: checkToken accepted a token not minted for that JID (or nonce length)", () => `token ${JSON.stringify(token)} for ${JSON.stringify(jid)} with nonceDigits ${nonceDigits}: minted for ${entry?.jid} with ${entry?.nonceDigits}`);
      } else {
        check(REJECT_REASONS.includes(result.reason), "token: checkToken gave an unknown reason", result.reason);
        stats.reasons.set(result.reason, (stats.reasons.get(result.reason) ?? 0) + 1);
      }
      const parts = parseToken(token);
      check((parts !== null) === tokenSignatureStart(token) >= 0, "token: parseToken and tokenSignatureStart disagree", () => JSON.stringify(token));
      if (parts) {
        stats.parsed++;
        const again = formatToken(parts.otp, parts.nonce, parts.signature);
        check(again === token, "token: a parsed token formats to another text", () => `${JSON.stringify(token)} -> ${JSON.stringify(again)}`);
      }
    },
    notes: () => [
      `tokens accepted ${stats.accepted}, parsed ${stats.parsed}, refused: ${[...stats.reasons].map(([k, v]) => `${k} ${v}`).join(", ")}; JIDs prepared ${stats.jids}`,
    ],
  };
}
