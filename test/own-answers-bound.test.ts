/**
 * The server's own answers under the outbound bound (issue 18 items 1 and 2), and the per-account
 * session limit. A session whose outbound queue is over `maxOutboundBytes` handles none of what it
 * has already read (roster gets, presence pairs sent in one write) until the queue drains, and a
 * client that never reads is cut off after `outboundStallSeconds` (whoever filled its queue); a
 * client that reads still gets every answer, and a slow one is never cut off. A full roster and one presence are bounded answers (maxRosterBytes,
 * maxPresenceBytes). One account has at most `maxSessionsPerAccount` sessions: a new one closes
 * the one heard from least recently, with `conflict`. Real sockets on 127.0.0.1, TCP and WebSocket.
 */
import type { Socket } from "node:net";
import { afterEach, describe, expect, test } from "@jest/globals";
import { DOMAIN, RawClient, WsClient, loginRaw, saslAuth, startTestServer, wsOpen, type TestServer, type TestServerOptions } from "./helpers/server.js";
import { DEFAULT_LIMITS } from "../src/app/config/load.js";
import { DEFAULT_ROSTER_LIMITS } from "../src/server/roster/index.js";

const MAX_OUTBOUND = 64 * 1024;
const STALL_SECONDS = 2;
/** The longest a test waits for a cut-off: the kernel's socket buffers fill first (a few MB on loopback). */
const CUT_OFF_MS = 30_000;

const servers: TestServer[] = [];
const clients: { destroy(): void }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(options: TestServerOptions = {}): Promise<TestServer> {
  const t = await startTestServer({ requireTls: false, ...options, limits: { maxOutboundBytes: MAX_OUTBOUND, outboundStallSeconds: STALL_SECONDS, ...options.limits } });
  servers.push(t);
  return t;
}

async function login(t: TestServer, localpart: string, resource?: string) {
  const session = await loginRaw(t, localpart, resource === undefined ? {} : { resource });
  clients.push(session.client);
  return session;
}

async function wsLogin(t: TestServer, localpart: string): Promise<{ ws: WsClient; jid: string }> {
  const ws = await WsClient.connect(t.server.ports.http!);
  clients.push({ destroy: () => ws.close() });
  ws.send(wsOpen());
  await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
  ws.send(saslAuth(localpart, t.mint(localpart)));
  await ws.next(/<success/);
  ws.send(wsOpen());
  await ws.next(/<bind /);
  ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  const jid = /<jid>([^<]+)<\/jid>/.exec(await ws.next(/<jid>/))![1]!;
  return { ws, jid };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Watches the largest outbound queue the server holds for any connection (every 5 ms) until
 * `done()` holds or `timeoutMs` passes; returns the largest seen and whether `done()` held.
 */
async function watchQueues(t: TestServer, done: () => boolean, timeoutMs: number): Promise<{ largest: number; done: boolean }> {
  let largest = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const c of t.server.connections()) largest = Math.max(largest, c.outboundBytes);
    if (done()) return { largest, done: true };
    if (Date.now() > deadline) return { largest, done: false };
    await sleep(5);
  }
}

const rosterGet = (id: string, xmlns = "") => `<iq${xmlns} type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`;
const ping = (id: string, xmlns = "") => `<iq${xmlns} type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;

/** Fills `bare`'s roster with `count` items of about 1.2 KB each (a long name, four long groups). */
function bigRoster(t: TestServer, bare: string, count: number): number {
  for (let i = 0; i < count; i++) {
    const groups = [1, 2, 3, 4].map((g) => `group ${g} ${"g".repeat(200)}`);
    expect(t.server.rosters.put(bare, { jid: `contact${i}@${DOMAIN}`, name: `name ${i} ${"n".repeat(200)}`, subscription: "none", ask: false, groups })).toBe(true);
  }
  return t.server.rosters.rosterBytes(bare);
}

describe("roster gets from a client that never reads (issue 18 item 1)", () => {
  test("TCP: the session handles none of them while its queue is over the bound, and is cut off", async () => {
    const t = await server();
    const { client, jid } = await login(t, "rosie");
    const rosterBytes = bigRoster(t, jid.split("/")[0]!, 160); // about 190 KB an answer
    client.pause();
    // One write of 300 gets: answered all at once, they were 55 MB for the server to hold.
    let burst = "";
    for (let i = 0; i < 300; i++) burst += rosterGet(`g${i}`);
    client.write(burst);
    const started = Date.now();
    const { largest, done } = await watchQueues(t, () => t.server.sessionCount === 0, CUT_OFF_MS);
    // The bound, plus the one answer that crossed it.
    expect(largest).toBeLessThanOrEqual(MAX_OUTBOUND + rosterBytes + 4096);
    // Cut off once it took nothing for outboundStallSeconds (not before).
    expect(done).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(STALL_SECONDS * 1000);
  }, 60_000);

  test("WebSocket: the same", async () => {
    const t = await server();
    const { ws, jid } = await wsLogin(t, "wendy");
    const rosterBytes = bigRoster(t, jid.split("/")[0]!, 160);
    ws.ws.pause();
    for (let i = 0; i < 100; i++) ws.send(rosterGet(`g${i}`, " xmlns='jabber:client'"));
    const { largest, done } = await watchQueues(t, () => t.server.sessionCount === 0, CUT_OFF_MS);
    expect(largest).toBeLessThanOrEqual(MAX_OUTBOUND + rosterBytes + 4096);
    expect(done).toBe(true);
  }, 60_000);
});

test("a client that never reads, filled by someone else's messages, is cut off too; the sender is not", async () => {
  const t = await server();
  const bob = await login(t, "sleepybob");
  const alice = await login(t, "alice");
  bob.client.pause();
  const message = `<message to='${bob.jid}' type='chat'><body>${"x".repeat(8000)}</body></message>`;
  let stop = false;
  const flood = (async () => {
    const end = Date.now() + CUT_OFF_MS;
    while (!stop && Date.now() < end) {
      alice.client.write(message.repeat(10));
      await sleep(20);
    }
  })();
  const { largest, done } = await watchQueues(t, () => t.server.sessionCount === 1, CUT_OFF_MS);
  stop = true;
  await flood;
  expect(done).toBe(true);
  expect(largest).toBeLessThanOrEqual(MAX_OUTBOUND + message.length + 1024);
  alice.client.write(ping("still"));
  await alice.client.waitFor('id="still"');
  expect(alice.client.closed).toBe(false);
}, 60_000);

describe("a client that reads gets every answer to a burst", () => {
  test("TCP: 100 roster gets in one write, each answered with the whole roster, in order", async () => {
    const t = await server();
    const { client, jid } = await login(t, "reader");
    const rosterBytes = bigRoster(t, jid.split("/")[0]!, 160);
    let burst = "";
    for (let i = 0; i < 100; i++) burst += rosterGet(`g${i}`);
    client.write(burst + ping("last"));
    const { largest } = await watchQueues(t, () => client.received.includes('id="last"'), 30_000);
    const ids = [...client.received.matchAll(/<iq [^>]*id="(g\d+)"[^>]*>/g)].map((m) => m[1]);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => `g${i}`));
    expect(client.received.split("<item jid=").length - 1).toBe(100 * 160);
    expect(largest).toBeLessThanOrEqual(MAX_OUTBOUND + rosterBytes + 4096);
    expect(t.server.sessionCount).toBe(1);
  }, 60_000);

  test("WebSocket: 50 roster gets sent at once, all answered", async () => {
    const t = await server();
    const { ws, jid } = await wsLogin(t, "wreader");
    bigRoster(t, jid.split("/")[0]!, 160);
    for (let i = 0; i < 50; i++) ws.send(rosterGet(`g${i}`, " xmlns='jabber:client'"));
    ws.send(ping("last", " xmlns='jabber:client'"));
    await ws.next(/id="last"/, 30_000);
    const answers = ws.messages.filter((m) => /^<iq [^>]*id="g\d+"/.test(m));
    expect(answers).toHaveLength(50);
    for (const a of answers) expect(a.split("<item jid=").length - 1).toBe(160);
  }, 60_000);
});

/** `count` sessions on the domain, each available with a presence of about 7 KB (under the 8 KiB bound). */
async function crowd(t: TestServer, count: number): Promise<RawClient[]> {
  const out: RawClient[] = [];
  for (let i = 0; i < count; i++) {
    const { client } = await login(t, `peer${i}`);
    client.write(`<presence><status>peer${i} ${"s".repeat(7000)}</status></presence>${ping("av")}`);
    await client.waitFor('id="av"');
    out.push(client);
  }
  return out;
}

describe("initial presence repeated (issue 18 item 2)", () => {
  test("unavailable/available pairs from a client that never reads: bounded, then cut off", async () => {
    const t = await server({ presenceBroadcast: "domain" });
    await crowd(t, 20); // each initial presence is answered with 20 × 7 KB: twice the bound
    const { client } = await login(t, "mallory");
    client.pause();
    client.write("<presence type='unavailable'/><presence/>".repeat(300)); // 12 KB: 42 MB of answers before
    const mallory = () => t.server.connections().length === 20;
    const { largest, done } = await watchQueues(t, mallory, CUT_OFF_MS);
    // The bound plus one presence: the answers to one initial presence go out as the queue takes them.
    expect(largest).toBeLessThanOrEqual(MAX_OUTBOUND + DEFAULT_LIMITS.maxPresenceBytes + 4096);
    expect(done).toBe(true);
  }, 60_000);

  test("a client that reads gets every answer to each of 40 pairs sent at once", async () => {
    const t = await server({ presenceBroadcast: "domain" });
    await crowd(t, 12);
    const { client } = await login(t, "pairs");
    client.write("<presence type='unavailable'/><presence/>".repeat(40) + ping("last"));
    await client.waitFor('id="last"', 30_000);
    for (let i = 0; i < 12; i++) expect(client.received.split(`<status>peer${i} `).length - 1).toBe(40);
  }, 60_000);

  test(`a broadcast presence over maxPresenceBytes (${DEFAULT_LIMITS.maxPresenceBytes}) is refused with policy-violation: not sent, not kept`, async () => {
    const t = await server({ presenceBroadcast: "domain" });
    const bob = await login(t, "bob");
    bob.client.write(`<presence/>${ping("b")}`);
    await bob.client.waitFor('id="b"');
    const alice = await login(t, "alice");
    alice.client.write(`<presence><status>${"x".repeat(DEFAULT_LIMITS.maxPresenceBytes)}</status></presence>${ping("a")}`);
    const answer = await alice.client.waitFor('id="a"');
    expect(answer).toMatch(/<presence [^>]*type="error"[^>]*><error type="modify"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/><text [^>]*>a presence may hold at most 8192 bytes<\/text><\/error><\/presence>/);
    // Not broadcast: bob hears alice's next (small) presence, and nothing before it.
    alice.client.write(`<presence><status>small</status></presence>${ping("a2")}`);
    await bob.client.waitFor("<status>small</status>");
    expect(bob.client.received).not.toContain("xxxxxxxx");
    // Not kept: a newcomer is shown the small one.
    const carol = await login(t, "carol");
    carol.client.write(`<presence/>${ping("c")}`);
    await carol.client.waitFor('id="c"');
    expect(carol.client.received).toContain("<status>small</status>");
    expect(carol.client.received).not.toContain("xxxxxxxx");
  });
});

describe(`a roster is at most ${DEFAULT_ROSTER_LIMITS.maxRosterBytes} bytes as sent`, () => {
  test("items that do not fit are refused with resource-constraint; a roster get is a bounded answer", async () => {
    const t = await server({ limits: { maxOutboundBytes: 1024 * 1024 } });
    const { client, jid } = await login(t, "hoarder");
    // Each item at the per-item bounds: a 256-byte name and 16 groups of 256 bytes (about 4.5 KB).
    const groups = Array.from({ length: 16 }, (_, g) => `<group>${String(g).padStart(3, "0")}${"g".repeat(253)}</group>`).join("");
    let burst = "";
    for (let i = 0; i < 100; i++) burst += `<iq type='set' id='s${i}'><query xmlns='jabber:iq:roster'><item jid='c${i}@${DOMAIN}' name='${"n".repeat(256)}'>${groups}</item></query></iq>`;
    client.write(burst);
    await client.waitFor('id="s99"', 30_000);
    const refused = client.received.match(/<iq [^>]*type="error"[^>]*><error type="wait"><resource-constraint /g) ?? [];
    expect(refused.length).toBeGreaterThan(0);
    const bare = jid.split("/")[0]!;
    expect(t.server.rosters.items(bare).length).toBe(100 - refused.length);
    client.clear();
    client.write(rosterGet("all"));
    const answer = /<iq [^>]*id="all"[\s\S]*?<\/iq>/.exec(await client.waitFor(/id="all"[\s\S]*<\/iq>/))![0];
    expect(Buffer.byteLength(answer)).toBeLessThanOrEqual(DEFAULT_ROSTER_LIMITS.maxRosterBytes! + 512);
    // Still usable: an item made smaller is taken, and so is a new one in the room that makes.
    client.clear();
    client.write(`<iq type='set' id='smaller'><query xmlns='jabber:iq:roster'><item jid='c0@${DOMAIN}'/></query></iq>`);
    await client.waitFor(/id="smaller"/);
    expect(client.received).toContain('type="result"');
    client.write(`<iq type='set' id='new'><query xmlns='jabber:iq:roster'><item jid='new@${DOMAIN}' name='n'/></query></iq>`);
    await client.waitFor(/<iq [^>]*id="new"/);
    expect(client.received).toMatch(/<iq [^>]*type="result"[^>]*id="new"|<iq [^>]*id="new"[^>]*type="result"/);
  }, 60_000);
});

describe("sessions per account (limits.maxSessionsPerAccount)", () => {
  test("a new session past the limit closes the one heard from least recently with conflict, and says so", async () => {
    const t = await server({ limits: { maxSessionsPerAccount: 3 } });
    const s1 = await login(t, "carol", "one");
    const s2 = await login(t, "carol", "two");
    const s3 = await login(t, "carol", "three");
    s1.client.write(ping("p1")); // s2 is now the one heard from least recently
    await s1.client.waitFor('id="p1"');
    const s4 = await login(t, "carol", "four");
    await s2.client.waitForClose();
    expect(s2.client.received).toMatch(
      /<stream:error[^>]*><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/><text [^>]*>at most 3 sessions per account: this one, heard from least recently, was closed for a new one<\/text><\/stream:error><\/stream:stream>/,
    );
    for (const [s, id] of [[s1, "q1"], [s3, "q3"], [s4, "q4"]] as const) {
      s.client.write(ping(id));
      await s.client.waitFor(`id="${id}"`);
      expect(s.client.closed).toBe(false);
    }
    expect(t.server.sessionCount).toBe(3);
    expect(t.logLines.some((l) => /^info closed a session of carol@example\.test from 127\.0\.0\.1 \(heard from least recently\) for a new one from 127\.0\.0\.1: at most 3 sessions per account$/.test(l))).toBe(true);
    // Other accounts are not affected.
    await login(t, "dave");
    expect(t.server.sessionCount).toBe(4);
  }, 30_000);

  test(`the shipped default is ${DEFAULT_LIMITS.maxSessionsPerAccount}: the 11th login closes the first`, async () => {
    expect(DEFAULT_LIMITS.maxSessionsPerAccount).toBe(10);
    const t = await server({ limits: { maxSessionsPerAccount: DEFAULT_LIMITS.maxSessionsPerAccount } });
    const sessions = [];
    for (let i = 0; i < 10; i++) sessions.push(await login(t, "erin", `r${i}`));
    expect(t.server.sessionCount).toBe(10);
    await login(t, "erin", "r10");
    await sessions[0]!.client.waitForClose();
    expect(sessions[0]!.client.received).toContain("<conflict ");
    expect(t.server.sessionCount).toBe(10);
  }, 30_000);
});

describe("a slow reader flooded by someone else", () => {
  // (On loopback the kernel takes a slow reader's bytes in bursts, so its queue drains to empty
  // between them with or without the rule that nothing more is taken for it until it does: this
  // checks the outcome, it does not single out that rule.)
  test("is not cut off, and its own stanzas are still handled", async () => {
    const t = await server();
    const bob = await login(t, "slowbob");
    const carol = await login(t, "carol");
    const mallory = await login(t, "floodmallory");
    // Bob reads one chunk (at most 64 KiB) every 50 ms: about 1 MB/s, less than mallory sends.
    const socket = (bob.client as unknown as { socket: Socket }).socket;
    bob.client.pause();
    const sipper = setInterval(() => {
      socket.once("data", () => socket.pause());
      socket.resume();
    }, 50);
    try {
      const message = `<message to='${bob.jid}' type='chat'><body>${"x".repeat(8000)}</body></message>`;
      let flooding = true;
      const flood = (async () => {
        // About 4 MB/s for as long as the test runs (bounded: at most 60 s).
        const end = Date.now() + 60_000;
        while (flooding && Date.now() < end) {
          mallory.client.write(message.repeat(10));
          await sleep(20);
        }
      })();
      try {
        // Mallory keeps bob over the bound the whole time; bob's own stanzas still go through.
        await watchQueues(t, () => t.server.connections().some((c) => c.outboundPaused), 10_000);
        for (let i = 0; i < 3; i++) {
          bob.client.write(`<message to='${carol.jid}' type='chat' id='m${i}'><body>from bob</body></message>`);
          await carol.client.waitFor(`id="m${i}"`, 15_000);
          await sleep(STALL_SECONDS * 1000); // a whole stall period of reading slowly: not cut off
        }
      } finally {
        flooding = false;
        await flood;
      }
      expect(bob.client.closed).toBe(false);
      expect(bob.client.received).not.toContain("<connection-timeout");
      expect(t.server.sessionCount).toBe(3);
    } finally {
      clearInterval(sipper);
    }
  }, 90_000);
});
