/**
 * SASL2 (XEP-0388), Bind 2 (XEP-0386) and FAST (XEP-0484) on the wire, with a raw client trying
 * to break them: elements cut into single bytes, bad base64, a missing or unusable user agent, a
 * FAST token of another account, a second <authenticate/> after a failure, the failure budget,
 * an oversized element, HT with no initial response (never a challenge), an HMAC holding NUL
 * bytes, the legacy wire untouched (no HT there), FAST not offered without TLS.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { createHmac } from "node:crypto";
import { HT_SHA_256_NONE, htInitiator, htResponder, parseHtMessage, verifierOf } from "../src/auth/fast/ht.js";
import { userAgentHash } from "../src/auth/fast/tokens.js";
import { StorageError, memoryStorage } from "../src/core/records/storage.js";
import { RawClient, DOMAIN, saslAuth, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";

const SASL2 = "urn:xmpp:sasl:2";
const b64 = (text: string | Buffer) => Buffer.from(text).toString("base64");
const xToken = (user: string, token: string) => b64(`\0${user}\0${token}`);
const ht = (user: string, token: string) => Buffer.concat([Buffer.from(`${user}\0`), htInitiator(token)]).toString("base64");
/** SASL2's answers end with one of these. */
const ANSWER = /<\/(success|failure)>|<failure[^>]*\/>|<challenge[^>]*(\/>|>[^<]*<\/challenge>)/;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ limits: { maxAuthFailuresPerConnection: 3 } });
});
afterAll(() => t.close());

/** A stream after STARTTLS, its features read and cleared. */
async function tlsStream(on: TestServer = t): Promise<RawClient> {
  const c = await RawClient.connect(on.server.ports.c2s!);
  c.write(streamHeader());
  await c.waitFor("</stream:features>");
  c.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await c.waitFor("<proceed");
  await c.startTls(on.caCert);
  c.clear();
  c.write(streamHeader());
  await c.waitFor("</stream:features>");
  c.clear();
  return c;
}

function authenticate(mechanism: string, initial: string | null, extra = ""): string {
  return `<authenticate xmlns='${SASL2}' mechanism='${mechanism}'>${initial === null ? "" : `<initial-response>${initial}</initial-response>`}${extra}</authenticate>`;
}

const agentOf = (id: string) => `<user-agent id='${id}'><software>raw</software></user-agent>`;
const REQUEST = `<request-token xmlns='urn:xmpp:fast:0' mechanism='${HT_SHA_256_NONE}'/>`;

/** An X-TOKEN login asking for a FAST token; returns the token. */
async function tokenFor(user: string, agent: string): Promise<string> {
  const c = await tlsStream();
  c.write(authenticate("X-TOKEN", xToken(user, t.mint(user)), agentOf(agent) + REQUEST));
  const text = await c.waitFor("</success>");
  c.destroy();
  return /token=["']([^"']+)["']/.exec(text)![1]!;
}

function failureOf(text: string): string {
  return /<failure xmlns=["']urn:xmpp:sasl:2["']><([a-z-]+) xmlns=["']urn:ietf:params:xml:ns:xmpp-sasl["']\/>/.exec(text)?.[1] ?? `no failure in ${text}`;
}

describe("the offer", () => {
  test("after STARTTLS: legacy <mechanisms> as before, and <authentication> with Bind 2 and FAST inline", async () => {
    const c = await RawClient.connect(t.server.ports.c2s!);
    c.write(streamHeader());
    const before = await c.waitFor("</stream:features>");
    // TLS is required: nothing to authenticate with before it, on either wire.
    expect(before).not.toContain("<authentication");
    expect(before).not.toContain("<mechanisms");
    // SASL2 before TLS, when TLS is required: encryption-required, and the stream is closed.
    const early = await RawClient.connect(t.server.ports.c2s!);
    early.write(streamHeader());
    await early.waitFor("</stream:features>");
    early.write(authenticate("X-TOKEN", xToken("alice", t.mint("alice"))));
    expect(await early.waitForClose()).toContain('<failure xmlns="urn:xmpp:sasl:2"><encryption-required xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/></failure>');
    c.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await c.waitFor("<proceed");
    await c.startTls(t.caCert);
    c.clear();
    c.write(streamHeader());
    const features = await c.waitFor("</stream:features>");
    expect(features).toContain('<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>X-TOKEN</mechanism><mechanism>PLAIN</mechanism></mechanisms>');
    expect(features).toContain(
      '<authentication xmlns="urn:xmpp:sasl:2"><mechanism>X-TOKEN</mechanism><mechanism>PLAIN</mechanism><inline><bind xmlns="urn:xmpp:bind:0"/><fast xmlns="urn:xmpp:fast:0"><mechanism>HT-SHA-256-NONE</mechanism></fast></inline></authentication>',
    );
    c.destroy();
  });

  test("without TLS (allowed by configuration): SASL2 without FAST, and HT is an invalid mechanism", async () => {
    const plain = await startTestServer({ requireTls: false, allowPlainWithoutTls: true, tls: false });
    try {
      const c = await RawClient.connect(plain.server.ports.c2s!);
      c.write(streamHeader());
      const features = await c.waitFor("</stream:features>");
      expect(features).toContain('<inline><bind xmlns="urn:xmpp:bind:0"/></inline>');
      expect(features).not.toContain("urn:xmpp:fast:0");
      c.clear();
      c.write(authenticate(HT_SHA_256_NONE, ht("alice", "whatever"), agentOf("a")));
      expect(failureOf(await c.waitFor(ANSWER))).toBe("invalid-mechanism");
      // No token is handed out on such a stream, even when asked for.
      c.clear();
      c.write(authenticate("X-TOKEN", xToken("alice", plain.mint("alice")), agentOf("a") + REQUEST));
      const success = await c.waitFor("</success>");
      expect(success).not.toContain("<token");
      c.destroy();
    } finally {
      await plain.close();
    }
  });

  test("legacy SASL never offers nor takes HT-SHA-256-NONE", async () => {
    const token = await tokenFor("ivan", "agent-ivan");
    const c = await tlsStream();
    c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='HT-SHA-256-NONE'>${ht("ivan", token)}</auth>`);
    expect(await c.waitFor("</failure>")).toContain("<invalid-mechanism/>");
    c.destroy();
  });
});

describe("success", () => {
  test("X-TOKEN with Bind 2: success carries the full JID, <bound/> and the token; the features that follow have no legacy bind; no stream restart", async () => {
    const c = await tlsStream();
    c.write(authenticate("X-TOKEN", xToken("alice", t.mint("alice")), agentOf("agent-1") + `<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag></bind>` + REQUEST));
    const text = await c.waitFor(/<stream:features[^>]*\/>/);
    const success = /<success[\s\S]*<\/success>/.exec(text)![0];
    expect(success).toMatch(new RegExp(`<authorization-identifier>alice@${DOMAIN}/Phone\\.[0-9a-f]{12}</authorization-identifier><bound xmlns="urn:xmpp:bind:0"/><token xmlns="urn:xmpp:fast:0" token="[A-Za-z0-9_-]{43}" expiry="\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"/>`));
    expect(text).not.toContain("<stream:stream");
    expect(text).not.toContain("xmpp-bind");
    // Bound: stanzas work at once.
    c.clear();
    c.write("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
    expect(await c.waitFor(/<iq [^>]*id="p1"/)).toMatch(/type="result"/);
    c.destroy();
  });

  test("without Bind 2: the features offer legacy bind, which is then required", async () => {
    const c = await tlsStream();
    c.write(authenticate("X-TOKEN", xToken("bert", t.mint("bert")), agentOf("agent-1")));
    const text = await c.waitFor("</stream:features>");
    expect(text).toContain(`<authorization-identifier>bert@${DOMAIN}</authorization-identifier></success>`);
    expect(text).toContain('<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>');
    c.clear();
    c.write("<message to='alice@example.test'><body>hi</body></message>");
    expect(await c.waitForClose()).toContain("bind a resource first");
  });

  test("X-TOKEN without an initial response: an empty SASL2 challenge, then the response", async () => {
    const c = await tlsStream();
    c.write(authenticate("X-TOKEN", null));
    expect(await c.waitFor(ANSWER)).toMatch(/<challenge xmlns="urn:xmpp:sasl:2"\/>/);
    c.clear();
    c.write(`<response xmlns='${SASL2}'>${xToken("cleo", t.mint("cleo"))}</response>`);
    expect(await c.waitFor("</success>")).toContain(`cleo@${DOMAIN}`);
    c.destroy();
  });

  test("every element cut into single bytes", async () => {
    const c = await tlsStream();
    const text = authenticate("X-TOKEN", xToken("dora", t.mint("dora")), agentOf("agent-1") + `<bind xmlns='urn:xmpp:bind:0'><tag>é</tag></bind>` + REQUEST);
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) c.write(bytes.subarray(i, i + 1));
    const answer = await c.waitFor("</success>");
    expect(answer).toMatch(new RegExp(`dora@${DOMAIN}/é\\.[0-9a-f]{12}`));
    const token = /token="([^"]+)"/.exec(answer)![1]!;
    c.destroy();
    const d = await tlsStream();
    const ht2 = Buffer.from(authenticate(HT_SHA_256_NONE, ht("dora", token), agentOf("agent-1")));
    for (let i = 0; i < ht2.length; i++) d.write(ht2.subarray(i, i + 1));
    expect(await d.waitFor("</success>")).toContain(`<additional-data>${htResponder(token).toString("base64")}</additional-data>`);
    d.destroy();
  });

  test("the HT initial response is split at the first NUL: an HMAC holding NUL bytes logs in", async () => {
    // A token whose initiator HMAC holds a NUL, stored as the server stores its own.
    let token = "";
    for (let i = 0; !htInitiator(token).includes(0); i++) token = `nul-token-${i}`;
    const agent = "agent-nul";
    t.server.storage.fast.issue(
      { account: `nina@${DOMAIN}`, agentHash: userAgentHash(agent), mechanism: HT_SHA_256_NONE },
      { verifier: verifierOf(htInitiator(token)), responder: htResponder(token), issuedAt: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 3600 },
    );
    const c = await tlsStream();
    c.write(authenticate(HT_SHA_256_NONE, ht("nina", token), agentOf(agent)));
    expect(await c.waitFor(ANSWER)).toContain("</success>");
    c.destroy();
  });
});

describe("failures leave the stream usable", () => {
  test("bad base64: incorrect-encoding, then a second <authenticate/> on the same stream logs in", async () => {
    const c = await tlsStream();
    for (const bad of ["not base64!", "QQ", "QR==", "A B="]) {
      c.clear();
      c.write(authenticate("X-TOKEN", bad));
      expect(failureOf(await c.waitFor(ANSWER))).toBe("incorrect-encoding");
      if (bad === "QQ") break; // the budget is 3 failures per connection
    }
    c.clear();
    c.write(authenticate("X-TOKEN", xToken("emil", t.mint("emil"))));
    expect(await c.waitFor("</success>")).toContain(`emil@${DOMAIN}`);
    c.destroy();
  });

  test("HT with no user agent, or an unusable one: not-authorized; X-TOKEN without one logs in but gets no token", async () => {
    const token = await tokenFor("fay", "agent-fay");
    const c = await tlsStream();
    c.write(authenticate(HT_SHA_256_NONE, ht("fay", token)));
    expect(failureOf(await c.waitFor(ANSWER))).toBe("not-authorized");
    c.clear();
    c.write(authenticate(HT_SHA_256_NONE, ht("fay", token), `<user-agent id='${"x".repeat(257)}'/>`));
    expect(failureOf(await c.waitFor(ANSWER))).toBe("not-authorized");
    c.clear();
    c.write(authenticate("X-TOKEN", xToken("fay", t.mint("fay")), REQUEST));
    const success = await c.waitFor("</success>");
    expect(success).not.toContain("<token");
    c.destroy();
    expect(t.logLines).toContain(`warn authentication failed for fay@${DOMAIN} from 127.0.0.1: fast-no-user-agent`);
  });

  test("HT with the token of another account, or for another mechanism name: refused", async () => {
    const token = await tokenFor("gus", "agent-shared");
    const c = await tlsStream();
    c.write(authenticate(HT_SHA_256_NONE, ht("hana", token), agentOf("agent-shared")));
    expect(failureOf(await c.waitFor(ANSWER))).toBe("not-authorized");
    c.clear();
    c.write(authenticate("HT-SHA-256-ENDP", ht("gus", token), agentOf("agent-shared")));
    expect(failureOf(await c.waitFor(ANSWER))).toBe("invalid-mechanism");
    c.clear();
    c.write(authenticate(HT_SHA_256_NONE, ht("gus", token), agentOf("agent-shared")));
    expect(await c.waitFor(ANSWER)).toContain("</success>");
    c.destroy();
  });

  test("HT never challenges: no initial response, a short HMAC, no NUL: malformed-request", async () => {
    const c = await tlsStream();
    for (const initial of [null, b64("gus\0short"), b64("no-separator-at-all-and-32-bytes-of-stuff")]) {
      c.clear();
      c.write(authenticate(HT_SHA_256_NONE, initial, agentOf("a")));
      const answer = await c.waitFor(ANSWER);
      expect(answer).not.toContain("<challenge");
      expect(failureOf(answer)).toBe("malformed-request");
    }
    // Three failures: the connection's budget is used up.
    expect(await c.waitForClose()).toContain("policy-violation");
  });

  test("a response or an abort with no exchange running; an unknown SASL2 element closes the stream", async () => {
    const c = await tlsStream();
    c.write(`<response xmlns='${SASL2}'>${b64("x")}</response>`);
    expect(failureOf(await c.waitFor(ANSWER))).toBe("malformed-request");
    c.clear();
    c.write(`<abort xmlns='${SASL2}'/>`);
    expect(failureOf(await c.waitFor(ANSWER))).toBe("aborted");
    c.clear();
    c.write(`<next xmlns='${SASL2}'/>`);
    expect(await c.waitForClose()).toContain("not-authorized");
  });

  test("an oversized <authenticate/>: policy-violation before any check", async () => {
    const c = await tlsStream();
    c.write(authenticate("X-TOKEN", xToken("ivy", t.mint("ivy")), `<user-agent id='a'><software>${"x".repeat(t.config.limits.maxStanzaBytesBeforeAuth)}</software></user-agent>`));
    expect(await c.waitForClose()).toContain("policy-violation");
  });

  test("a legacy <auth/> and a SASL2 <response/> do not mix", async () => {
    const c = await tlsStream();
    c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-TOKEN'/>`);
    await c.waitFor("<challenge");
    c.clear();
    c.write(`<response xmlns='${SASL2}'>${xToken("jon", t.mint("jon"))}</response>`);
    expect(failureOf(await c.waitFor(ANSWER))).toBe("malformed-request");
    c.destroy();
  });
});

test("parseHtMessage: the first NUL separates; the rest is the 32-byte HMAC whatever it holds", () => {
  const hmac = Buffer.alloc(32, 0);
  expect(parseHtMessage(Buffer.concat([Buffer.from("alice\0"), hmac]))).toEqual({ authcid: "alice", initiator: hmac });
  expect(parseHtMessage(Buffer.concat([Buffer.from("\0"), hmac]))).toEqual({ error: "empty-field" });
  expect(parseHtMessage(Buffer.concat([Buffer.from([0xff, 0]), hmac]))).toEqual({ error: "invalid-utf8" });
  expect(parseHtMessage(Buffer.from("alice"))).toEqual({ error: "no-separator" });
  expect(parseHtMessage(Buffer.alloc(5000, 1))).toEqual({ error: "message-too-long" });
  // The draft-09 vector xmpp.js's own tests use: token "foobar", HMAC-SHA-256(key "foobar", "Initiator").
  expect(htInitiator("foobar")).toEqual(createHmac("sha256", "foobar").update("Initiator").digest());
  expect(htResponder("foobar")).toEqual(createHmac("sha256", "foobar").update("Responder").digest());
});

describe("a FAST store that fails", () => {
  test("a token it cannot store is not handed out (the login stands, logged); one it cannot read is temporary-auth-failure", async () => {
    const storage = memoryStorage();
    const broken = await startTestServer({ storage });
    try {
      const fail = () => {
        throw new StorageError("database or disk is full");
      };
      storage.fast.issue = fail;
      const c = await tlsStream(broken);
      c.write(authenticate("X-TOKEN", xToken("kim", broken.mint("kim")), agentOf("agent-kim") + REQUEST));
      const success = await c.waitFor("</success>");
      expect(success).not.toContain("<token");
      expect(broken.logLines).toContain(`warn no FAST token for kim@${DOMAIN}: it could not be stored: StorageError: database or disk is full`);
      c.destroy();
      storage.fast.find = fail;
      const d = await tlsStream(broken);
      d.write(authenticate(HT_SHA_256_NONE, ht("kim", "any-token"), agentOf("agent-kim")));
      expect(failureOf(await d.waitFor(ANSWER))).toBe("temporary-auth-failure");
      expect(broken.logLines).toContain(`warn authentication failed for kim@${DOMAIN} from 127.0.0.1: fast-store-error`);
      d.destroy();
    } finally {
      await broken.close();
    }
  });
});
