/**
 * Issue 20's "Done when", server side, with the real @xmpp/client 0.14: SASL2 with X-TOKEN as the
 * first login and <request-token/>, then FAST (HT-SHA-256-NONE) with no X-TOKEN at all, from a
 * new client instance with the same user agent; after a restart on the same SQLite data
 * directory; refused, with the right condition, for another user agent, another user, after
 * invalidate, past expiry (a clock we move); rotation as XEP-0484 says; an OTP account's one
 * code then FAST; the same metrics and log lines as legacy logins.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { randomUUID } from "node:crypto";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import { enrolOtpCredential } from "../src/auth/otp/manage.js";
import { hotp } from "../src/core/otp/hotp.js";
import type { LoginMetrics } from "../src/server/sasl-exchange.js";
import { RawClient, DOMAIN, saslAuth, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";
import { fastLogin, TokenJar } from "./helpers/fast-client.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import { htInitiator } from "../src/auth/fast/ht.js";

afterAll(removeTempDirs);

/** The server's clock: real time plus what a test moved it by. */
let offset = 0;
const clock = () => Date.now() / 1000 + offset;
afterEach(() => {
  offset = 0;
});

const DAY = 24 * 3600;

describe("SASL2 + FAST with @xmpp/client 0.14", () => {
  let t: TestServer;
  const finished: Parameters<LoginMetrics["loginFinished"]>[0][] = [];
  beforeAll(async () => {
    t = await startTestServer({ start: { now: clock, fast: { tokenLifetimeSeconds: 14 * DAY, rotateAfterSeconds: DAY }, metrics: { loginFinished: (e) => finished.push(e) } } });
  });
  afterAll(() => t.close());
  const port = () => t.server.ports.c2s!;
  const mint = (user: string) => t.mint(user, { now: clock() });

  /** A first login with X-TOKEN that gets a FAST token; returns the jar holding it. */
  async function firstLogin(username: string, userAgentId: string): Promise<TokenJar> {
    const jar = new TokenJar();
    const first = await fastLogin({ port: port(), username, userAgentId, jar, xToken: mint(username), resource: "phone" });
    expect(first.outcome).toBe("online");
    expect(first.mechanisms).toEqual(["X-TOKEN"]);
    expect(jar.token).not.toBeNull();
    return jar;
  }

  test("X-TOKEN in SASL2 gets a token; a new client with the same user agent and no X-TOKEN logs in with HT-SHA-256-NONE", async () => {
    const agent = randomUUID();
    const jar = await firstLogin("alice", agent);
    const saved = jar.token!;
    expect(saved.mechanism).toBe("HT-SHA-256-NONE");
    // At least 128 bits: 32 random bytes in base64url.
    expect(saved.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const expiry = Date.parse(saved.expiry);
    expect(Math.abs(expiry / 1000 - (clock() + 14 * DAY))).toBeLessThan(5);
    // Bind 2: the client's resource is the tag, the server adds the rest.
    expect(t.logLines.some((l) => l.startsWith(`info authenticated alice@${DOMAIN} from 127.0.0.1 via X-TOKEN over tcp`))).toBe(true);

    // xmpp.js deletes a token it does not have before asking for one: count from here.
    const deletedBefore = jar.deleted;
    const again = await fastLogin({ port: port(), username: "alice", userAgentId: agent, jar, resource: "phone" });
    expect(again.outcome).toBe("online");
    expect(again.mechanisms).toEqual(["HT-SHA-256-NONE"]);
    expect(again.jid).toMatch(new RegExp(`^alice@${DOMAIN.replace(".", "\\.")}/phone\\.[0-9a-f]{12}$`));
    expect(t.logLines.some((l) => l.startsWith(`info authenticated alice@${DOMAIN} from 127.0.0.1 via HT-SHA-256-NONE over tcp`))).toBe(true);
    // The token is still good: a login does not use it up (only rotation replaces it).
    const third = await fastLogin({ port: port(), username: "alice", userAgentId: agent, jar });
    expect(third.outcome).toBe("online");
    expect(jar.deleted).toBe(deletedBefore);
  });

  test("another user agent's id: not-authorized (and the token is not used)", async () => {
    const jar = await firstLogin("bob", randomUUID());
    const other = await fastLogin({ port: port(), username: "bob", userAgentId: randomUUID(), jar });
    expect(other.failures[0]).toBe("not-authorized");
    expect(other.outcome).not.toBe("online");
    expect(t.logLines.some((l) => l === `warn authentication failed for bob@${DOMAIN} from 127.0.0.1: fast-invalid`)).toBe(true);
  });

  test("another user with the token: not-authorized", async () => {
    const agent = randomUUID();
    const jar = await firstLogin("carol", agent);
    const mallory = await fastLogin({ port: port(), username: "mallory", userAgentId: agent, jar });
    expect(mallory.failures[0]).toBe("not-authorized");
    expect(mallory.outcome).not.toBe("online");
  });

  test("past its expiry: credentials-expired, then a fresh X-TOKEN on the same stream gets a new token", async () => {
    const agent = randomUUID();
    const jar = await firstLogin("dave", agent);
    const old = jar.token!.token;
    offset = 14 * DAY + 1;
    const deletedBefore = jar.deleted;
    const expired = await fastLogin({ port: port(), username: "dave", userAgentId: agent, jar });
    expect(expired.failures).toEqual(["credentials-expired"]);
    expect(jar.deleted).toBe(deletedBefore + 1);
    // xmpp.js falls back on the same stream; with an X-TOKEN it logs in and asks for a new token.
    jar.token = { ...jar.saved[0]!, token: old };
    const fallback = await fastLogin({ port: port(), username: "dave", userAgentId: agent, jar, xToken: mint("dave") });
    expect(fallback.failures).toEqual(["credentials-expired"]);
    expect(fallback.mechanisms).toEqual(["HT-SHA-256-NONE", "X-TOKEN"]);
    expect(fallback.outcome).toBe("online");
    expect(jar.token!.token).not.toBe(old);
    expect((await fastLogin({ port: port(), username: "dave", userAgentId: agent, jar })).outcome).toBe("online");
  });

  test("rotation: past the rotation age a FAST login brings a new token; once it is used the old one stops working", async () => {
    const agent = randomUUID();
    const jar = await firstLogin("erin", agent);
    const first = jar.token!;
    offset = DAY + 10;
    const rotated = await fastLogin({ port: port(), username: "erin", userAgentId: agent, jar });
    expect(rotated.outcome).toBe("online");
    const second = jar.token!;
    expect(second.token).not.toBe(first.token);
    expect(jar.saved).toHaveLength(2);
    // Until the new one is used, the old one still works (the client may have lost the answer).
    const oldJar = new TokenJar();
    oldJar.token = first;
    expect((await fastLogin({ port: port(), username: "erin", userAgentId: agent, jar: oldJar })).outcome).toBe("online");
    // That login was with a token past the rotation age too: it brought yet another new one.
    const third = oldJar.token!;
    expect(third.token).not.toBe(first.token);
    // The newest token is used: it becomes current, and every older one stops working.
    const thirdJar = new TokenJar();
    thirdJar.token = third;
    expect((await fastLogin({ port: port(), username: "erin", userAgentId: agent, jar: thirdJar })).outcome).toBe("online");
    for (const stale of [first, second]) {
      const staleJar = new TokenJar();
      staleJar.token = stale;
      const refused = await fastLogin({ port: port(), username: "erin", userAgentId: agent, jar: staleJar });
      expect(refused.failures).toEqual(["not-authorized"]);
    }
  });

  test("invalidate='true' on a FAST login: that token stops working", async () => {
    const agent = randomUUID();
    const jar = await firstLogin("frank", agent);
    const token = jar.token!.token;
    // xmpp.js has no call for it: the element, over a raw TLS stream.
    const raw = await RawClient.connect(port());
    raw.write(streamHeader());
    await raw.waitFor("</stream:features>");
    raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await raw.waitFor("<proceed");
    await raw.startTls(t.caCert);
    raw.clear();
    raw.write(streamHeader());
    await raw.waitFor("</stream:features>");
    raw.clear();
    const response = Buffer.concat([Buffer.from("frank\0"), htInitiator(token)]).toString("base64");
    raw.write(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>${response}</initial-response><user-agent id='${agent}'/><fast xmlns='urn:xmpp:fast:0' invalidate='true'/></authenticate>`);
    const answer = await raw.waitFor(/<\/success>/);
    expect(answer).not.toContain("<token");
    raw.destroy();
    const after = await fastLogin({ port: port(), username: "frank", userAgentId: agent, jar });
    expect(after.failures).toEqual(["not-authorized"]);
  });

  test("SASL2 logins are counted and logged like legacy ones (one policy, one set of figures)", async () => {
    finished.length = 0;
    const agent = randomUUID();
    const jar = await firstLogin("grace", agent);
    await fastLogin({ port: port(), username: "grace", userAgentId: agent, jar });
    await fastLogin({ port: port(), username: "grace", userAgentId: randomUUID(), jar: Object.assign(new TokenJar(), { token: jar.token }) });
    expect(finished.map((e) => `${e.mechanism} ${e.result} ${e.reason}`)).toEqual(["X-TOKEN success ok", "HT-SHA-256-NONE success ok", "HT-SHA-256-NONE failure fast-invalid"]);
    // A legacy login writes the same line as a SASL2 one, but for the wire's mark.
    const legacy = await RawClient.connect(port());
    legacy.write(streamHeader());
    await legacy.waitFor("</stream:features>");
    legacy.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await legacy.waitFor("<proceed");
    await legacy.startTls(t.caCert);
    legacy.write(streamHeader());
    await legacy.waitFor(/<\/stream:features>[\s\S]*<\/stream:features>/);
    legacy.write(saslAuth("grace", mint("grace")));
    await legacy.waitFor("<success");
    legacy.destroy();
    expect(finished.at(-1)).toMatchObject({ mechanism: "X-TOKEN", result: "success" });
    const lines = t.logLines.filter((l) => l.startsWith(`info authenticated grace@${DOMAIN}`));
    expect(lines).toEqual([
      `info authenticated grace@${DOMAIN} from 127.0.0.1 via X-TOKEN over tcp (SASL2)`,
      `info authenticated grace@${DOMAIN} from 127.0.0.1 via HT-SHA-256-NONE over tcp (SASL2)`,
      `info authenticated grace@${DOMAIN} from 127.0.0.1 via X-TOKEN over tcp`,
    ]);
  });
});

describe("over WebSocket", () => {
  test("a token from a WebSocket login logs in over WebSocket and over TCP (the binding is the account and the user agent)", async () => {
    const t = await startTestServer({ loopbackWebSocketIsSecure: true });
    try {
      const service = `ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`;
      const agent = randomUUID();
      const jar = new TokenJar();
      const first = await fastLogin({ port: 0, service, allowInsecure: true, username: "wendy", userAgentId: agent, jar, xToken: t.mint("wendy") });
      expect(first.outcome).toBe("online");
      expect(jar.token).not.toBeNull();
      const again = await fastLogin({ port: 0, service, username: "wendy", userAgentId: agent, jar });
      expect(again.outcome).toBe("online");
      expect(again.mechanisms).toEqual(["HT-SHA-256-NONE"]);
      const tcp = await fastLogin({ port: t.server.ports.c2s!, username: "wendy", userAgentId: agent, jar });
      expect(tcp.mechanisms).toEqual(["HT-SHA-256-NONE"]);
      expect(tcp.outcome).toBe("online");
      expect(t.logLines.some((l) => l.startsWith(`info authenticated wendy@${DOMAIN} from 127.0.0.1 via HT-SHA-256-NONE over websocket (SASL2)`))).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe("a one-time password account", () => {
  test("logs in once with its code in SASL2 (PLAIN) and then reconnects with FAST", async () => {
    const t = await startTestServer();
    try {
      const secret = Buffer.alloc(20, 7);
      await enrolOtpCredential(t.server.storage.otp, { jid: `olga@${DOMAIN}`, kind: "hotp", secret, pin: "4321" });
      const code = hotp(secret, 0);
      const agent = randomUUID();
      const jar = new TokenJar();
      // PLAIN with PIN + code: xmpp.js's own PLAIN, as an OTP account's client uses it.
      const { client, xml } = await import("@xmpp/client");
      const xmpp = client({
        service: `xmpp://127.0.0.1:${t.server.ports.c2s}`,
        domain: DOMAIN,
        userAgent: xml("user-agent", { id: agent }),
        credentials: async (authenticate) => authenticate({ username: "olga", password: `4321${code}` }, "PLAIN", xml("user-agent", { id: agent })),
      });
      xmpp.reconnect.stop();
      xmpp.on("error", () => {});
      xmpp.fast.saveToken = async (token: typeof jar.token) => {
        jar.token = token;
      };
      // xmpp.js asks for a token only once FAST failed or there was none: with none, it does.
      await xmpp.start();
      expect(xmpp.jid?.bare().toString()).toBe(`olga@${DOMAIN}`);
      await xmpp.stop();
      expect(jar.token?.mechanism).toBe("HT-SHA-256-NONE");
      expect(t.logLines.some((l) => l.startsWith(`info authenticated olga@${DOMAIN} from 127.0.0.1 via PLAIN over tcp (SASL2)`))).toBe(true);
      // The code is used up; FAST logs in without any.
      const again = await fastLogin({ port: t.server.ports.c2s!, username: "olga", userAgentId: agent, jar });
      expect(again.outcome).toBe("online");
      expect(again.mechanisms).toEqual(["HT-SHA-256-NONE"]);
    } finally {
      await t.close();
    }
  });
});

describe("FAST tokens survive a restart (SQLite)", () => {
  test("a token handed out before the server stopped logs in after it started again on the same data directory", async () => {
    const dir = tempDir("fast-restart-");
    const storage = openSqliteStorage({ dir, exclusive: true });
    const first = await startTestServer({ storage });
    const agent = randomUUID();
    const jar = new TokenJar();
    try {
      const login = await fastLogin({ port: first.server.ports.c2s!, username: "henry", userAgentId: agent, jar, xToken: first.mint("henry") });
      expect(login.outcome).toBe("online");
    } finally {
      await first.close();
      storage.close();
    }
    const reopened = openSqliteStorage({ dir, exclusive: true });
    const second = await startTestServer({ storage: reopened, keys: first.keys });
    try {
      const again = await fastLogin({ port: second.server.ports.c2s!, username: "henry", userAgentId: agent, jar });
      expect(again.outcome).toBe("online");
      expect(again.mechanisms).toEqual(["HT-SHA-256-NONE"]);
    } finally {
      await second.close();
      reopened.close();
    }
  });
});
