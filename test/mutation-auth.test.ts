/**
 * Rules of the login policy (src/auth/policy) that `npm run mutate` (docs/mutation.md) found
 * without a test of their own: trusted proxies' entries at their edges (prefix lengths per family,
 * what a prefix may be written as), what an address that is none matches, which forwarded headers
 * count as forwarded, empty list items; the failure log's summaries at shutdown and from its
 * timer, its room for addresses freed when their minutes are over, and the overflow's count of
 * addresses.
 */
import { afterEach, describe, expect, jest, test } from "@jest/globals";
import { TrustedProxies, TrustedProxiesError, clientOrigin } from "../src/auth/policy/trusted-proxies.js";
import { FailureLog } from "../src/auth/policy/failure-log.js";
import { TokenAuthority } from "../src/auth/authority.js";
import { encodeSaslPayload } from "../src/auth/sasl/encoding.js";
import { MAX_PLAIN_MESSAGE_BYTES, parsePlainMessage } from "../src/auth/sasl/message.js";
import { failure } from "../src/auth/sasl/registry.js";
import { mintToken } from "../src/core/token/mint.js";
import { KeyError } from "../src/core/token/keys.js";
import { nonceDigitsProblem } from "../src/core/token/format.js";

const refusal = (entries: string[]): Error => {
  try {
    TrustedProxies.parse(entries);
  } catch (err) {
    return err as Error;
  }
  throw new Error("accepted");
};

describe("trusted proxies: entries", () => {
  test("prefix lengths: up to 32 for IPv4 and 128 for IPv6, digits only", () => {
    const v4 = TrustedProxies.parse(["192.0.2.0/32", "198.51.100.0/24"]);
    expect(v4.has("192.0.2.0")).toBe(true);
    expect(v4.has("198.51.100.77")).toBe(true);
    expect(v4.has("198.51.101.1")).toBe(false);
    const v6 = TrustedProxies.parse(["2001:db8::/64", "2001:db8:1::1/128"]);
    expect(v6.has("2001:db8::abcd")).toBe(true);
    expect(v6.has("2001:db8:1::1")).toBe(true);
    expect(v6.has("2001:db8:2::1")).toBe(false);
    const tooLong = refusal(["192.0.2.0/24", "192.0.2.0/33"]);
    expect(tooLong).toBeInstanceOf(TrustedProxiesError);
    expect(tooLong.name).toBe("TrustedProxiesError");
    expect(tooLong.message).toBe("entry 1 has a prefix length outside 0-32");
    expect(refusal(["2001:db8::/129"]).message).toBe("entry 0 has a prefix length outside 0-128");
    for (const bits of ["", "x8", "8x", "0024", "+8", "2 4"]) {
      expect(refusal([`192.0.2.0/${bits}`]).message).toBe("entry 0 has a prefix length outside 0-32");
    }
  });

  test("what is no address matches nothing, and throws nothing", () => {
    const all = TrustedProxies.parse(["0.0.0.0/0", "::/0"]);
    expect(all.has(undefined)).toBe(false);
    expect(all.has("")).toBe(false);
    expect(all.has("not-an-address")).toBe(false);
    expect(all.has("10.0.0.1")).toBe(true);
  });
});

describe("trusted proxies: the client's origin", () => {
  const proxies = TrustedProxies.parse(["10.0.0.1"]);

  test("either forwarded header, alone, from a peer not trusted, is reported as ignored", () => {
    expect(clientOrigin("192.0.2.9", { "x-forwarded-proto": "https" }, proxies)).toEqual({ address: "192.0.2.9", viaTrustedProxy: false, forwardedProto: null, ignoredForwardedHeaders: true });
    expect(clientOrigin("192.0.2.9", { "x-forwarded-for": "203.0.113.5" }, proxies)).toEqual({ address: "192.0.2.9", viaTrustedProxy: false, forwardedProto: null, ignoredForwardedHeaders: true });
    expect(clientOrigin("192.0.2.9", {}, proxies)).toEqual({ address: "192.0.2.9", viaTrustedProxy: false, forwardedProto: null, ignoredForwardedHeaders: false });
  });

  test("from a trusted proxy, empty list items are skipped, not taken as the last hop or scheme", () => {
    expect(clientOrigin("10.0.0.1", { "x-forwarded-for": " 203.0.113.5 , ", "x-forwarded-proto": "HTTPS , " }, proxies)).toEqual({
      address: "203.0.113.5",
      viaTrustedProxy: true,
      forwardedProto: "https",
      ignoredForwardedHeaders: false,
    });
    expect(clientOrigin("10.0.0.1", { "x-forwarded-proto": " , " }, proxies)).toEqual({ address: "10.0.0.1", viaTrustedProxy: true, forwardedProto: null, ignoredForwardedHeaders: false });
  });
});

describe("failure log", () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test("addresses whose minute is over make room for new ones, which are logged as usual", () => {
    const lines: string[] = [];
    let now = 0;
    const log = new FailureLog({ warn: (l) => lines.push(l) }, { linesPerMinute: 1, maxAddresses: 2, now: () => now });
    log.failure("192.0.2.1", "fail a");
    log.failure("192.0.2.1", "fail a again");
    log.failure("192.0.2.2", "fail b");
    now = 60_000;
    log.failure("192.0.2.3", "fail c");
    expect(lines).toEqual(["fail a", "fail b", "… and 1 more failure from 192.0.2.1 in the last minute", "fail c"]);
    log.flush();
  });

  test("beyond maxAddresses: failures counted, addresses counted up to maxAddresses, summed up at shutdown", () => {
    const lines: string[] = [];
    const log = new FailureLog({ warn: (l) => lines.push(l) }, { linesPerMinute: 5, maxAddresses: 1, now: () => 0 });
    log.failure("192.0.2.1", "fail a");
    for (const ip of ["192.0.2.2", "192.0.2.3", "192.0.2.4"]) log.failure(ip, `fail ${ip}`);
    expect(lines).toEqual(["fail a"]);
    log.flush();
    expect(lines).toEqual(["fail a", "… and 3 more failures from 1 more address in the last minute (too many addresses to log each)"]);
  });

  test("the summary comes from the log's own timer, within a quarter minute after the minute is over", () => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    const lines: string[] = [];
    const log = new FailureLog({ warn: (l) => lines.push(l) }, { linesPerMinute: 1 });
    log.failure("192.0.2.1", "fail");
    log.failure("192.0.2.1", "fail again");
    jest.advanceTimersByTime(59_999);
    expect(lines).toEqual(["fail"]);
    jest.advanceTimersByTime(15_001);
    expect(lines).toEqual(["fail", "… and 1 more failure from 192.0.2.1 in the last minute"]);
    log.flush();
  });

  test("one timer however many failures are held back, and none once nothing is pending", () => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    const log = new FailureLog({ warn: () => {} }, { linesPerMinute: 1 });
    expect(jest.getTimerCount()).toBe(0);
    for (let i = 0; i < 20; i++) log.failure("192.0.2.1", "fail");
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(75_000);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe("token authority and the PLAIN-shaped message", () => {
  const KEY = { tokenSecret: "mutation-auth-secret", otpSeed: "XVGR73KMZH2M4XMY" };

  test("a reload replaces the hosted domains: added ones are hosted, removed ones refuse", async () => {
    const authority = new TokenAuthority({ domains: { "a.example": { keys: [KEY], disabledUsers: ["eve"] } }, now: () => 1_700_000_000 });
    authority.replaceDomains({ "b.example": { keys: [KEY] } });
    expect(authority.hosts("a.example")).toBe(false);
    expect(authority.hosts("b.example")).toBe(true);
    expect(authority.domains).toEqual(["b.example"]);
    expect(authority.accountProblem("alice", "a.example")).toBe("unknown-domain");
    expect(authority.accountProblem("eve", "b.example")).toBe(null);
    const token = mintToken({ jid: "alice@b.example", key: KEY, now: 1_700_000_000 });
    expect(await authority.check("alice", "b.example", token)).toEqual(expect.objectContaining({ ok: true, jid: "alice@b.example" }));
    expect(() => authority.replaceDomains({ "c.example": { keys: [KEY], nonceDigits: 3 } })).toThrow(new KeyError(`c.example: ${nonceDigitsProblem(3)}`));
    expect(authority.hosts("b.example")).toBe(true);
  });

  test("isToken: a token's shape, and nothing else (a PIN and a code are not one)", () => {
    const authority = new TokenAuthority({ domains: { "a.example": { keys: [KEY] } } });
    expect(authority.isToken(mintToken({ jid: "alice@a.example", key: KEY, now: 1_700_000_000 }))).toBe(true);
    expect(authority.isToken("1234567890")).toBe(false);
    expect(authority.isToken("")).toBe(false);
  });

  test("payloads: an empty one is an empty element, others canonical base64", () => {
    expect(encodeSaslPayload(Buffer.alloc(0))).toBe("");
    expect(encodeSaslPayload(Buffer.from("hi"))).toBe("aGk=");
  });

  test("a message of exactly the limit is read, one byte more is refused; empty fields are refused", () => {
    const at = (length: number) => Buffer.from(`\0alice\0${"s".repeat(length - 7)}`);
    expect(parsePlainMessage(at(MAX_PLAIN_MESSAGE_BYTES))).toEqual({ authzid: "", localpart: "alice", secret: "s".repeat(MAX_PLAIN_MESSAGE_BYTES - 7) });
    expect(parsePlainMessage(at(MAX_PLAIN_MESSAGE_BYTES + 1))).toEqual({ error: "message-too-long" });
    expect(parsePlainMessage(Buffer.from("\0\0secret"))).toEqual({ error: "empty-field" });
    expect(parsePlainMessage(Buffer.from("\0alice\0"))).toEqual({ error: "empty-field" });
    // A secret SASLprep maps to nothing (a soft hyphen) is refused too (the library refuses it).
    expect(parsePlainMessage(Buffer.from("\0alice\0\u00ad"))).toEqual({ error: "prep-failed" });
  });

  test("a failure without a JID has no jid field at all", () => {
    expect(failure("aborted", "aborted")).toEqual({ kind: "failure", condition: "aborted", reason: "aborted" });
    expect("jid" in failure("aborted", "aborted")).toBe(false);
    expect(failure("not-authorized", "bad", "a@b")).toEqual({ kind: "failure", condition: "not-authorized", reason: "bad", jid: "a@b" });
  });
});
