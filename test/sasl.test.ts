/** The SASL server side as pure functions: every input gets an outcome, with the right condition. */
import { describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import saslprep from "@mongodb-js/saslprep";
import { prepareSaslString } from "../src/auth/sasl/message.js";
import { mintToken, MemoryReplayStore } from "../src/index.js";
import {
  TokenAuthority,
  createXTokenSasl,
  authenticateXToken,
  decodeSaslPayload,
  SaslRegistry,
  ABORTED,
  INVALID_MECHANISM,
  type SaslContext,
  type SaslOutcome,
} from "../src/auth/index.js";
import { KeyError, PreparedKey } from "../src/core/token/keys.js";
import { checkedToken, vectors as allVectors } from "./helpers/vectors.js";

/**
 * The vectors an authority can host: a few use weak keys on purpose ("k", a repeated seed),
 * which a server refuses (checked below); checkToken still verifies them (token.test.ts).
 */
const isWeak = (c: { otpSeed: string; tokenSecret: string }) => new PreparedKey({ otpSeed: c.otpSeed, tokenSecret: c.tokenSecret }).weakness !== null;
const vectors = allVectors.filter((c) => !isWeak(c));

const KEY = { tokenSecret: "sasl-test-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const OTHER_KEY = { tokenSecret: "another-secret-of-ours", otpSeed: "GEZDGNBVGY3TQOJQ" };
const NOW = 1_700_000_000;
const ctx: SaslContext = { domain: "example.com", secure: true, remoteAddress: "192.0.2.1" };

function authority(options: { disabled?: string[]; replay?: MemoryReplayStore; sharedKeys?: boolean } = {}) {
  return new TokenAuthority({
    domains: {
      "example.com": { keys: [KEY], disabledUsers: options.disabled ?? [] },
      "example.org": { keys: [options.sharedKeys ? KEY : OTHER_KEY] },
    },
    replay: options.replay ?? new MemoryReplayStore(),
    now: () => NOW,
  });
}

function message(localpart: string, token: string, authzid = ""): Buffer {
  return Buffer.from(`${authzid}\0${localpart}\0${token}`, "utf8");
}

function token(localpart = "alice", domain = "example.com", key = KEY): string {
  return mintToken({ jid: `${localpart}@${domain}`, key, now: NOW });
}

async function run(msg: Buffer | null, options: Parameters<typeof authority>[0] = {}, context = ctx): Promise<SaslOutcome> {
  const mechanism = createXTokenSasl({ authority: authority(options) }).start("X-TOKEN", context)!;
  return mechanism.step(msg);
}

describe("X-TOKEN server mechanism", () => {
  test("a good token succeeds with the prepared bare JID", async () => {
    expect(await run(message("Alice", token()))).toEqual({ kind: "success", jid: "alice@example.com" });
  });

  test("the shared vectors with weak keys cannot be hosted: the authority refuses them", () => {
    const weak = allVectors.filter(isWeak);
    expect(weak.length).toBeGreaterThan(0);
    for (const c of weak) {
      expect(() => new TokenAuthority({ domains: { "example.com": { keys: [{ otpSeed: c.otpSeed, tokenSecret: c.tokenSecret }] } } })).toThrow(KeyError);
    }
  });

  test("the shared vectors' initial responses log in", async () => {
    for (const c of vectors.filter((v) => v.saslInitialResponse !== undefined)) {
      const domain = c.jid.slice(c.jid.indexOf("@") + 1);
      const auth = new TokenAuthority({ domains: { [domain]: { keys: [{ otpSeed: c.otpSeed, tokenSecret: c.tokenSecret }] } }, now: () => c.mintedAt });
      const payload = decodeSaslPayload(c.saslInitialResponse!);
      if (payload.kind !== "data") throw new Error("vector payload did not decode");
      expect(await authenticateXToken(auth, { message: payload.data, domain, secure: true })).toEqual({ kind: "success", jid: c.jid });
    }
  });

  test("every check of the shared vectors, through the authority: the token it names logs in exactly when valid", async () => {
    const checks = vectors.flatMap((c) => c.checks.map((check) => ({ c, check })));
    expect(checks.some(({ check }) => check.token !== undefined)).toBe(true);
    for (const { c, check } of checks) {
      const at = check.jid.indexOf("@");
      const domain = check.jid.slice(at + 1);
      const auth = new TokenAuthority({ domains: { [domain]: { keys: [{ otpSeed: c.otpSeed, tokenSecret: c.tokenSecret }] } }, now: () => check.at });
      const outcome = await authenticateXToken(auth, { message: message(check.jid.slice(0, at), checkedToken(c, check)), domain, secure: true });
      expect([c.name, check.token ?? "token", check.jid, check.at, outcome.kind]).toEqual([c.name, check.token ?? "token", check.jid, check.at, check.valid ? "success" : "failure"]);
    }
  });

  test("no initial response: an empty challenge, then the response", async () => {
    const mechanism = createXTokenSasl({ authority: authority() }).start("X-TOKEN", ctx)!;
    expect(await mechanism.step(null)).toEqual({ kind: "challenge", data: Buffer.alloc(0) });
    expect(await mechanism.step(message("alice", token()))).toMatchObject({ kind: "success" });
    expect(await mechanism.step(message("alice", token()))).toMatchObject({ kind: "failure", condition: "malformed-request", reason: "step-after-end" });
  });

  test.each([
    ["no NUL separators", Buffer.from("alice token"), "not-three-fields"],
    ["an empty username", message("", "x"), "empty-field"],
    ["an empty token", message("alice", ""), "empty-field"],
    ["invalid UTF-8", Buffer.from([0, 0x61, 0, 0xff, 0xfe]), "invalid-utf8"],
    ["a prohibited character in the username", message("al ice", "x"), "prep-failed"],
    ["a control character in the token", message("alice", "a\u0007b"), "prep-failed"],
    ["a token without a space", message("alice", token().replace(" ", "")), "malformed"],
    ["a nonce one digit longer (1alice's digit moved into it)", message("alice", token("1alice").replace(" ", "1 ")), "malformed"],
    ["a nonce one digit shorter", message("alice", token().replace(/\d /, " ")), "malformed"],
    ["a message over 4 KiB", message("alice", "1".repeat(5000)), "message-too-long"],
  ])("%s -> malformed-request", async (_what, msg, reason) => {
    expect(await run(msg)).toMatchObject({ kind: "failure", condition: "malformed-request", reason });
  });

  test("refused tokens -> not-authorized, with the precise reason kept for the log", async () => {
    expect(await run(message("bob", token("alice")))).toEqual({ kind: "failure", condition: "not-authorized", reason: "bad-signature", jid: "bob@example.com" });
    const old = mintToken({ jid: "alice@example.com", key: KEY, now: NOW - 120 });
    expect(await run(message("alice", old))).toMatchObject({ condition: "not-authorized", reason: "otp-out-of-window" });
  });

  test("the same token twice -> not-authorized (replayed)", async () => {
    const replay = new MemoryReplayStore();
    const t = token();
    expect(await run(message("alice", t), { replay })).toMatchObject({ kind: "success" });
    expect(await run(message("alice", t), { replay })).toMatchObject({ condition: "not-authorized", reason: "replayed" });
  });

  test("a token for the same user on another hosted domain is refused, even with shared keys", async () => {
    const forCom = token("alice", "example.com");
    const orgCtx = { ...ctx, domain: "example.org" };
    expect(await run(message("alice", forCom), { sharedKeys: true }, orgCtx)).toMatchObject({ condition: "not-authorized", reason: "bad-signature" });
  });

  test("authzid: empty or the same bare JID is fine; anyone else -> invalid-authzid", async () => {
    expect(await run(message("alice", token(), "Alice@Example.com"))).toMatchObject({ kind: "success" });
    expect(await run(message("alice", token(), "bob@example.com"))).toMatchObject({ condition: "invalid-authzid" });
    expect(await run(message("alice", token(), "alice@example.com/phone"))).toMatchObject({ condition: "invalid-authzid" });
    expect(await run(message("alice", token(), "not a jid"))).toMatchObject({ condition: "invalid-authzid" });
  });

  test("a disabled account -> account-disabled, before the token is used up", async () => {
    const replay = new MemoryReplayStore();
    expect(await run(message("mallory", token("mallory")), { disabled: ["mallory"], replay })).toMatchObject({ condition: "account-disabled" });
    expect(replay.size).toBe(0);
  });

  test("a full replay store -> temporary-auth-failure", async () => {
    const replay = new MemoryReplayStore({ maxEntries: 1 });
    expect(await run(message("alice", token()), { replay })).toMatchObject({ kind: "success" });
    expect(await run(message("bob", token("bob")), { replay })).toMatchObject({ condition: "temporary-auth-failure", reason: "replay-store-full" });
  });

  test("a gate that denies -> temporary-auth-failure without checking the token", async () => {
    const replay = new MemoryReplayStore();
    const sasl = createXTokenSasl({ authority: authority({ replay }), gate: () => "deny" });
    expect(await sasl.start("X-TOKEN", ctx)!.step(message("alice", token()))).toMatchObject({ condition: "temporary-auth-failure", reason: "rate-limited" });
    expect(replay.size).toBe(0);
  });

  test("never throws: random bytes always give an outcome", async () => {
    const sasl = createXTokenSasl({ authority: authority() });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const outcome = await sasl.start("X-TOKEN", ctx)!.step(Buffer.from(bytes));
        expect(outcome.kind).toBe("failure");
      }),
      { numRuns: 300 },
    );
  });
});

describe("the registry", () => {
  test("PLAIN (password = token) is offered only on secure streams unless allowed", async () => {
    const a = authority();
    expect(createXTokenSasl({ authority: a }).offered({ ...ctx, secure: false })).toEqual(["X-TOKEN"]);
    expect(createXTokenSasl({ authority: a }).offered(ctx)).toEqual(["X-TOKEN", "PLAIN"]);
    expect(createXTokenSasl({ authority: a, allowPlainWithoutTls: true }).offered({ ...ctx, secure: false })).toEqual(["X-TOKEN", "PLAIN"]);
    expect(createXTokenSasl({ authority: a }).start("PLAIN", { ...ctx, secure: false })).toBeNull();
    const plain = createXTokenSasl({ authority: a }).start("PLAIN", ctx)!;
    expect(await plain.step(message("alice", token()))).toEqual({ kind: "success", jid: "alice@example.com" });
  });

  test("unknown mechanisms are not started; the transport answers invalid-mechanism", () => {
    expect(createXTokenSasl({ authority: authority() }).start("SCRAM-SHA-1", ctx)).toBeNull();
    expect(INVALID_MECHANISM).toMatchObject({ kind: "failure", condition: "invalid-mechanism" });
  });

  test("<abort/> has its outcome: aborted", () => {
    expect(ABORTED).toMatchObject({ kind: "failure", condition: "aborted" });
  });

  test("a mechanism that throws still gets a reply, and a finished one refuses more steps", async () => {
    const registry = new SaslRegistry().use({
      name: "BROKEN",
      offered: () => true,
      start: () => ({ step: () => Promise.reject(new Error("bug")) }),
    });
    const mechanism = registry.start("BROKEN", ctx)!;
    expect(await mechanism.step(Buffer.from("x"))).toEqual({ kind: "failure", condition: "temporary-auth-failure", reason: "internal-error" });
    expect(await mechanism.step(Buffer.from("x"))).toMatchObject({ condition: "malformed-request", reason: "step-after-end" });
  });

  test("a throwing gate becomes temporary-auth-failure (internal-error), not an exception", async () => {
    const sasl = createXTokenSasl({ authority: authority(), gate: () => { throw new Error("gate bug"); } });
    expect(await sasl.start("X-TOKEN", ctx)!.step(message("alice", token()))).toMatchObject({ condition: "temporary-auth-failure", reason: "internal-error" });
  });

  test("the one-shot entry point takes a gate, and turns its errors into a reply", async () => {
    const a = authority();
    const base = { message: message("alice", token()), domain: "example.com", secure: true };
    expect(await authenticateXToken(a, { ...base, gate: () => "deny" })).toMatchObject({ condition: "temporary-auth-failure", reason: "rate-limited" });
    const broken = () => { throw new Error("gate bug"); };
    expect(await authenticateXToken(a, { ...base, gate: broken })).toEqual({ kind: "failure", condition: "temporary-auth-failure", reason: "internal-error" });
    expect(await authenticateXToken(a, base)).toEqual({ kind: "success", jid: "alice@example.com" });
  });

  test("a stream for a domain the authority does not host -> not-authorized (unknown-domain)", async () => {
    const other = { ...ctx, domain: "example.net" };
    expect(await run(message("alice", token("alice", "example.net")), {}, other)).toMatchObject({ condition: "not-authorized", reason: "unknown-domain" });
  });
});

describe("SASL payload encoding", () => {
  test.each([
    ["", { kind: "none" }],
    ["=", { kind: "data", data: Buffer.alloc(0) }],
    ["YWJj", { kind: "data", data: Buffer.from("abc") }],
    ["YWI=", { kind: "data", data: Buffer.from("ab") }],
    ["YWJ", { kind: "invalid" }],
    ["YW J j", { kind: "invalid" }],
    ["YWJ=", { kind: "invalid" }], // non-zero padding bits
    ["!!!!", { kind: "invalid" }],
  ])("%j", (text, expected) => {
    expect(decodeSaslPayload(text)).toEqual(expected);
  });

  test("accepts exactly the texts that are Node's own encoding of their bytes, whatever the last characters", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 63 }), (bytes, swap) => {
        const canonical = Buffer.from(bytes).toString("base64");
        expect(decodeSaslPayload(canonical)).toEqual({ kind: "data", data: Buffer.from(bytes) });
        // The last data character replaced by any other: accepted exactly when it is still canonical.
        const last = canonical.replace(/=+$/, "").length - 1;
        const variant = canonical.slice(0, last) + alphabet[swap] + canonical.slice(last + 1);
        const reencodes = Buffer.from(variant, "base64").toString("base64") === variant;
        expect(decodeSaslPayload(variant).kind).toBe(reencodes ? "data" : "invalid");
      }),
      { numRuns: 3000 },
    );
  });
});

describe("prepareSaslString: SASLprep with a printable-ASCII shortcut", () => {
  /** What the library says, or the error's class name when it refuses. */
  const viaLibrary = (value: string): string => {
    try {
      return saslprep(value);
    } catch (err) {
      return `refused: ${(err as Error).name}`;
    }
  };
  const viaShortcut = (value: string): string => {
    try {
      return prepareSaslString(value);
    } catch (err) {
      return `refused: ${(err as Error).name}`;
    }
  };

  test("every printable ASCII character, and strings of them, come out as the library prepares them", () => {
    for (let c = 0x20; c <= 0x7e; c++) expect(prepareSaslString(String.fromCharCode(c))).toBe(saslprep(String.fromCharCode(c)));
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }), (s) => prepareSaslString(s) === saslprep(s)));
  });

  test("anything else goes to the library: controls, spaces, soft hyphens, ligatures, bidi, unassigned", () => {
    for (const odd of ["\u0000", "\u0009", "\u007f", "a\u00a0b", "soft\u00adhyphen", "\ufb01x", "\u0627\u0644", "a\u0627", "\u0221", "I\u0307", "\ud800"]) {
      expect(viaShortcut(odd)).toBe(viaLibrary(odd));
    }
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => viaShortcut(s) === viaLibrary(s)));
  });
});
