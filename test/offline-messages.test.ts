/**
 * Offline messages (XEP-0160) on the wire: `chat` and `normal` messages to an account that has
 * logged in before and has no available resource with a non-negative priority are stored, and
 * delivered oldest first, each with a XEP-0203 delay, at its next non-negative available
 * presence; the bounds in count and bytes refuse with service-unavailable and keep what was
 * stored; what is never stored; a store that cannot write or hand over; and a restart of a real
 * `x-token serve` (SQLite in XTOKEN_DATA_DIR) after SIGTERM and after SIGKILL.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOMAIN, RawClient, loginRaw, saslAuth, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";
import { startServe, type ServeProcess } from "./helpers/serve-process.js";
import { mintToken } from "../src/core/token/mint.js";
import { MemoryAccounts } from "../src/core/records/accounts.js";
import { MemoryOfflineMessages, type OfflineMessages, type StoredMessage } from "../src/core/records/offline.js";
import { StorageError, memoryStorage } from "../src/core/records/storage.js";

const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});

let counter = 0;
/** A fresh account name per test, so what one test stores no other sees. */
const user = (name: string) => `${name}${++counter}`;

async function login(t: TestServer, localpart: string, resource?: string) {
  const session = await loginRaw(t, localpart, resource === undefined ? {} : { resource });
  clients.push(session.client);
  return session;
}

/** Logs `localpart` in once (its account exists from then on) and closes the stream: it is gone once the server closes its side. */
async function loggedInOnce(t: TestServer, localpart: string): Promise<void> {
  const { client } = await login(t, localpart);
  client.write("</stream:stream>");
  await client.waitForClose();
}

/** Waits until the server has handled everything `client` sent so far (a ping after it is answered). */
async function sync(client: RawClient): Promise<void> {
  const id = `sync${++counter}`;
  client.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await client.waitFor(new RegExp(`<iq [^>]*id="${id}"`));
}

/** Every `<message>` in what a client received, in order. */
function messages(text: string): string[] {
  return text.match(/<message [\s\S]*?<\/message>|<message [^>]*\/>/g) ?? [];
}

const DELAY = /<delay xmlns="urn:xmpp:delay" from="([^"]+)" stamp="([^"]+)">Offline Storage<\/delay>/;
const BOUNCE = (id: string, type: string, condition: string) =>
  new RegExp(`<message [^>]*id="${id}"[^>]*><error type="${type}"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`);
const attr = (stanza: string, name: string) => new RegExp(`<message [^>]*\\b${name}="([^"]*)"`).exec(stanza)?.[1];

describe("stored while offline, delivered at the next available presence (memory engine)", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  test("oldest first, each with a delay from the domain stamped when it was stored; to the bare JID; taken once", async () => {
    const bob = user("bob");
    const bare = `${bob}@${DOMAIN}`;
    await loggedInOnce(t, bob); // bob has logged in here once: his account exists
    const alice = await login(t, user("alice"));
    const before = Date.now();
    alice.client.write(`<message to='${bare}' type='chat' id='m1'><body>one</body></message>`);
    alice.client.write(`<message to='${bare}' id='m2'><subject>s</subject><body>two &amp; &lt;more&gt;</body></message>`);
    // A full JID that is not online is the bare JID (RFC 6121 8.5.3.2.1).
    alice.client.write(`<message to='${bare}/gone' type='normal' id='m3'><body>three</body></message>`);
    // Without a body, but not a chat state (a receipt): stored as well.
    alice.client.write(`<message to='${bare}' type='chat' id='m4'><received xmlns='urn:xmpp:receipts' id='x1'/></message>`);
    await sync(alice.client);
    const after = Date.now();
    expect(alice.client.received).not.toContain('type="error"');
    expect(t.server.storage.offline.count(bare)).toBe(4);

    const phone = await login(t, bob, "phone");
    phone.client.write("<presence/>");
    await phone.client.waitFor(() => messages(phone.client.received).length === 4);
    const got = messages(phone.client.received);
    expect(got.map((m) => attr(m, "id"))).toEqual(["m1", "m2", "m3", "m4"]);
    for (const m of got) {
      expect(attr(m, "from")).toBe(alice.jid);
      expect(attr(m, "to")).toBe(bare);
      expect(attr(m, "xmlns")).toBe("jabber:client");
      const [, from, stamp] = DELAY.exec(m)!;
      expect(from).toBe(DOMAIN);
      expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(stamp!)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(stamp!)).toBeLessThanOrEqual(after);
    }
    expect(got[1]).toContain("<subject>s</subject><body>two &amp; &lt;more&gt;</body>");
    expect(got[3]).toContain('<received xmlns="urn:xmpp:receipts" id="x1"/>');
    expect(t.server.storage.offline.count(bare)).toBe(0);

    // Another session's initial presence finds nothing left; live messages go to both as usual.
    const laptop = await login(t, bob, "laptop");
    laptop.client.write("<presence/>");
    await sync(laptop.client);
    alice.client.write(`<message to='${bare}' type='chat' id='live'><body>live</body></message>`);
    await laptop.client.waitFor('id="live"');
    await phone.client.waitFor('id="live"');
    expect(messages(laptop.client.received)).toHaveLength(1);
    expect(laptop.client.received).not.toContain("Offline Storage");
  });

  test("a session without presence, or available with a negative priority, gets none; raising the priority delivers them", async () => {
    const carol = user("carol");
    const bare = `${carol}@${DOMAIN}`;
    const quiet = await login(t, carol, "quiet"); // bound, never available
    const hidden = await login(t, carol, "hidden");
    hidden.client.write("<presence><priority>-1</priority></presence>");
    await sync(hidden.client);
    const alice = await login(t, user("alice"));
    alice.client.write(`<message to='${bare}' type='chat' id='n1'><body>later</body></message>`);
    alice.client.write(`<message to='${quiet.jid}' type='chat' id='direct'><body>to the full JID</body></message>`);
    await sync(alice.client);
    await quiet.client.waitFor('id="direct"'); // a full JID that is online gets it, available or not
    expect(t.server.storage.offline.count(bare)).toBe(1);
    await sync(hidden.client);
    expect(hidden.client.received).not.toContain("<message");
    expect(quiet.client.received).not.toContain('id="n1"');

    // Still negative: nothing. Then non-negative: the stored message comes, once.
    hidden.client.write("<presence><priority>-5</priority></presence>");
    await sync(hidden.client);
    expect(hidden.client.received).not.toContain("<message");
    hidden.client.write("<presence><priority>1</priority></presence>");
    await hidden.client.waitFor('id="n1"');
    expect(DELAY.test(hidden.client.received)).toBe(true);
    expect(t.server.storage.offline.count(bare)).toBe(0);
    expect(quiet.client.received).not.toContain('id="n1"');
  });

  test("a stored text that does not parse (a damaged file) is dropped with one line; the others are delivered", async () => {
    const erin = user("erin");
    const bare = `${erin}@${DOMAIN}`;
    await loggedInOnce(t, erin);
    const good = (id: string) => `<message xmlns="jabber:client" type="chat" id="${id}" to="${bare}" from="x@${DOMAIN}/r"><body>${id}</body></message>`;
    for (const stanza of [good("d1"), "<message xmlns='jabber:client'><body>cut", "<iq xmlns='jabber:client' type='get' id='i'/>", good("d2")]) {
      t.server.storage.offline.add(bare, { stanza, storedAt: Date.now() });
    }
    const back = await login(t, erin);
    back.client.write("<presence/>");
    await back.client.waitFor('id="d2"');
    await sync(back.client);
    expect(messages(back.client.received).map((m) => attr(m, "id"))).toEqual(["d1", "d2"]);
    expect(t.logLines).toContain(`warn 2 offline message(s) for ${bare} could not be read and were dropped`);
  });

  test("never stored: groupchat, headline, error, a chat state alone, <no-store/>, an account that never logged in, another domain", async () => {
    const dave = user("dave");
    const bare = `${dave}@${DOMAIN}`;
    await loggedInOnce(t, dave);
    const alice = await login(t, user("alice"));
    const send = (id: string, attrs: string, payload = "<body>x</body>", to = bare) => alice.client.write(`<message to='${to}' id='${id}' ${attrs}>${payload}</message>`);
    send("gc", "type='groupchat'");
    send("hl", "type='headline'");
    send("er", "type='error'", "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>");
    send("cs", "type='chat'", "<composing xmlns='http://jabber.org/protocol/chatstates'/><no-store xmlns='urn:xmpp:hints'/>");
    send("ns", "type='chat'", "<body>x</body><no-store xmlns='urn:xmpp:hints'/>");
    send("never", "type='chat'", "<body>x</body>", `never-${dave}@${DOMAIN}`);
    send("remote", "type='chat'", "<body>x</body>", `${dave}@elsewhere.test`);
    await sync(alice.client);
    expect(t.server.storage.offline.count(bare)).toBe(0);
    expect(t.server.storage.offline.count(`never-${dave}@${DOMAIN}`)).toBe(0);
    // What is not stored behaves as before: chat and normal bounce, the rest goes silently; a
    // chat state is neither stored nor bounced (XEP-0160 3).
    for (const id of ["ns", "never", "remote"]) expect(alice.client.received).toMatch(BOUNCE(id, "cancel", "service-unavailable"));
    for (const id of ["gc", "hl", "er", "cs"]) expect(alice.client.received).not.toContain(`id="${id}"`);
  });
});

describe("bounds (storage.offline.maxMessagesPerAccount / maxBytesPerAccount)", () => {
  test("past the count bound the sender gets service-unavailable; what was stored stays and is delivered", async () => {
    const t = await startTestServer({ storage: memoryStorage({ offlineLimits: { maxMessagesPerAccount: 2, maxBytesPerAccount: 1 << 20 } }) });
    try {
      const bob = user("bob");
      await loggedInOnce(t, bob);
      const alice = await login(t, user("alice"));
      for (const id of ["c1", "c2", "c3", "c4"]) alice.client.write(`<message to='${bob}@${DOMAIN}' type='chat' id='${id}'><body>${id}</body></message>`);
      await sync(alice.client);
      expect(alice.client.received).not.toMatch(/id="c[12]"/);
      // XEP-0160 2: a full queue is service-unavailable (type cancel), nothing said about the account.
      expect(alice.client.received).toMatch(BOUNCE("c3", "cancel", "service-unavailable"));
      expect(alice.client.received).toMatch(BOUNCE("c4", "cancel", "service-unavailable"));
      const back = await login(t, bob);
      back.client.write("<presence/>");
      await back.client.waitFor('id="c2"');
      await sync(back.client);
      expect(messages(back.client.received).map((m) => attr(m, "id"))).toEqual(["c1", "c2"]);
    } finally {
      await t.close();
    }
  });

  test("past the bytes bound likewise, counted on the stanza as stored", async () => {
    const limits = { maxMessagesPerAccount: 1000, maxBytesPerAccount: 1400 };
    const t = await startTestServer({ storage: memoryStorage({ offlineLimits: limits }) });
    try {
      const bob = user("bob");
      await loggedInOnce(t, bob);
      const alice = await login(t, user("alice"));
      const body = "x".repeat(500); // each stored stanza is about 650 bytes: two fit, not three
      for (const id of ["b1", "b2", "b3"]) alice.client.write(`<message to='${bob}@${DOMAIN}' type='chat' id='${id}'><body>${body}</body></message>`);
      await sync(alice.client);
      expect(alice.client.received).toMatch(BOUNCE("b3", "cancel", "service-unavailable"));
      expect(alice.client.received).not.toMatch(/id="b[12]"/);
      expect(t.server.storage.offline.count(`${bob}@${DOMAIN}`)).toBe(2);
      const back = await login(t, bob);
      back.client.write("<presence/>");
      await back.client.waitFor('id="b2"');
      await sync(back.client);
      expect(messages(back.client.received).map((m) => attr(m, "id"))).toEqual(["b1", "b2"]);
    } finally {
      await t.close();
    }
  });
});

/** The memory engine, with switches that make it fail as a full disk or a locked database would. */
class FailingOffline implements OfflineMessages {
  failAdd = false;
  failTake = false;
  private readonly inner = new MemoryOfflineMessages();
  readonly limits = this.inner.limits;
  add(owner: string, message: StoredMessage) {
    if (this.failAdd) throw new StorageError("database or disk is full");
    return this.inner.add(owner, message);
  }
  take(owner: string) {
    if (this.failTake) throw new StorageError("database is locked");
    return this.inner.take(owner);
  }
  count(owner: string) {
    return this.inner.count(owner);
  }
}

class FailingAccounts extends MemoryAccounts {
  failAdd = false;
  override add(jid: string): void {
    if (this.failAdd) throw new StorageError("database or disk is full");
    super.add(jid);
  }
}

describe("a store that fails", () => {
  const offline = new FailingOffline();
  const accounts = new FailingAccounts();
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ requireTls: false, storage: { ...memoryStorage(), offline, accounts } });
  });
  afterAll(async () => {
    await t.close();
  });

  test("a write that throws bounces with resource-constraint (wait) and stores nothing; a take that throws keeps them", async () => {
    const bob = user("bob");
    const bare = `${bob}@${DOMAIN}`;
    await loggedInOnce(t, bob);
    const alice = await login(t, user("alice"));
    offline.failAdd = true;
    alice.client.write(`<message to='${bare}' type='chat' id='f1'><body>lost?</body></message>`);
    await sync(alice.client);
    expect(alice.client.received).toMatch(BOUNCE("f1", "wait", "resource-constraint"));
    expect(offline.count(bare)).toBe(0);
    expect(t.logLines).toContain(`warn offline message for ${bare} not stored: StorageError: database or disk is full`);
    offline.failAdd = false;
    alice.client.write(`<message to='${bare}' type='chat' id='f2'><body>kept</body></message>`);
    await sync(alice.client);
    expect(alice.client.received).not.toContain('id="f2"');
    expect(offline.count(bare)).toBe(1);

    offline.failTake = true;
    const first = await login(t, bob);
    first.client.write("<presence/>");
    await sync(first.client);
    expect(first.client.received).not.toContain("<message");
    expect(offline.count(bare)).toBe(1);
    expect(t.logLines).toContain(`warn offline messages for ${bare} not delivered (they stay stored): StorageError: database is locked`);
    offline.failTake = false;
    // The next available presence (after unavailable) takes them.
    first.client.write("<presence type='unavailable'/><presence/>");
    await first.client.waitFor('id="f2"');
    expect(first.client.received).toContain("<body>kept</body>");
    expect(offline.count(bare)).toBe(0);
  });

  test("a bind whose account cannot be recorded fails with internal-server-error (wait); the stream can bind again", async () => {
    const erin = user("erin");
    const client = await RawClient.connect(t.server.ports.c2s!);
    clients.push(client);
    client.write(streamHeader());
    await client.waitFor("</stream:features>");
    client.write(saslAuth(erin, t.mint(erin)));
    await client.waitFor("<success");
    client.clear();
    client.write(streamHeader());
    await client.waitFor("</stream:features>");
    accounts.failAdd = true;
    client.write("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>");
    await client.waitFor(/id="bind1"[^>]*>[\s\S]*<\/iq>/);
    expect(client.received).toMatch(/<iq [^>]*id="bind1"[^>]*><error type="wait"><internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
    expect(accounts.has(`${erin}@${DOMAIN}`)).toBe(false);
    expect(t.server.sessionCount).toBeGreaterThan(0);
    accounts.failAdd = false;
    client.write("<iq type='set' id='bind2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>");
    await client.waitFor(`<jid>${erin}@${DOMAIN}/r</jid>`);
    expect(accounts.has(`${erin}@${DOMAIN}`)).toBe(true);
  });
});

describe("x-token serve keeps them across restarts (SQLite in XTOKEN_DATA_DIR)", () => {
  const KEY = { tokenSecret: "offline-test-secret-of-enough-length", otpSeed: "XVGR73KMZH2M4XMY" };
  const dataDir = mkdtempSync(join(tmpdir(), "x-token-offline-"));
  const ENV = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: KEY.otpSeed, XMPP_REQUIRE_TLS: "false", XTOKEN_DATA_DIR: dataDir };
  const running: ServeProcess[] = [];
  afterAll(async () => {
    try {
      // stop() waits for an exit: not for one that was killed already.
      for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  async function serve(): Promise<ServeProcess> {
    const p = await startServe(ENV);
    running.push(p);
    return p;
  }

  /** A bound session over plain TCP (XMPP_REQUIRE_TLS=false). */
  async function session(port: number, localpart: string): Promise<RawClient> {
    const client = await RawClient.connect(port);
    clients.push(client);
    client.write(streamHeader(DOMAIN));
    await client.waitFor("</stream:features>");
    client.write(saslAuth(localpart, mintToken({ jid: `${localpart}@${DOMAIN}`, key: [KEY] })));
    await client.waitFor("<success");
    client.clear();
    client.write(streamHeader(DOMAIN));
    await client.waitFor("</stream:features>");
    client.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    await client.waitFor("</jid>");
    client.clear();
    return client;
  }

  test("a message stored before a SIGTERM, and one before a SIGKILL, each reach the user after the restart with its delay", async () => {
    const first = await serve();
    expect(first.stdout()).toContain(`SQLite in ${join(dataDir, "x-token.sqlite")}`);
    (await session(first.c2s, "bob")).destroy(); // bob's account exists from here on
    let alice = await session(first.c2s, "alice");
    const storedFrom = Date.now();
    alice.write(`<message to='bob@${DOMAIN}' type='chat' id='before-term'><body>kept through SIGTERM</body></message>`);
    await sync(alice); // answered after the message was handled: it is committed
    expect(alice.received).not.toContain('type="error"');
    await first.stop();
    expect(first.child.exitCode).toBe(0);

    const second = await serve();
    let bob = await session(second.c2s, "bob");
    bob.write("<presence/>");
    await bob.waitFor('id="before-term"');
    const [got] = messages(bob.received);
    expect(got).toContain("<body>kept through SIGTERM</body>");
    expect(attr(got!, "from")).toMatch(new RegExp(`^alice@${DOMAIN}/`));
    const [, from, stamp] = DELAY.exec(got!)!;
    expect(from).toBe(DOMAIN);
    expect(Date.parse(stamp!)).toBeGreaterThanOrEqual(storedFrom);
    expect(Date.parse(stamp!)).toBeLessThan(Date.now());
    // bob goes away (unavailable; his stream stays bound): the next message is stored again.
    bob.write("<presence type='unavailable'/>");
    await sync(bob);
    alice = await session(second.c2s, "alice");
    alice.write(`<message to='bob@${DOMAIN}' type='chat' id='before-kill'><body>kept through SIGKILL</body></message>`);
    await sync(alice);
    const exited = new Promise((resolve) => second.child.once("exit", resolve));
    second.child.kill("SIGKILL"); // the instant after the answer, as a crash would
    await exited;

    const third = await serve();
    bob = await session(third.c2s, "bob");
    bob.write("<presence/>");
    await bob.waitFor('id="before-kill"');
    await sync(bob);
    const after = messages(bob.received);
    expect(after).toHaveLength(1); // the first was taken before the crash, and is not delivered twice
    expect(after[0]).toContain("<body>kept through SIGKILL</body>");
    expect(DELAY.test(after[0]!)).toBe(true);
  });
});
