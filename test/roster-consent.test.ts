/**
 * Roster consent (RFC 6121 3.1.5, issue 23): a `subscribed` counts only as the answer to a
 * request that is waiting for the one who sends it. An approval nobody asked for — to someone
 * online or offline, after the request was cancelled, from a third party while another request
 * waits, to a domain not hosted here — changes no roster, pushes nothing, tells nobody, and
 * does not let the sender's presence reach anyone. Presence goes to roster contacts (the default).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { DOMAIN, loginRaw, type RawClient, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
const clients: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await t.close();
});

let counter = 0;
/** A fresh bare JID per use, so tests never share rosters. */
const account = (name: string) => `${name}${++counter}@${DOMAIN}`;
const local = (bare: string) => bare.split("@")[0]!;

async function login(bare: string, resource?: string) {
  const session = await loginRaw(t, local(bare), resource === undefined ? {} : { resource });
  clients.push(session.client);
  return session;
}

/** Waits until the server has handled everything this client sent before. */
async function settled(client: RawClient): Promise<void> {
  const id = `s${++counter}`;
  client.write(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await client.waitFor(`id="${id}"`);
}

/**
 * Logged in, interested in roster pushes (it asked for its roster: RFC 6121 2.1.6) and available
 * (initial presence handled). `received` starts empty.
 */
async function online(bare: string, resource?: string) {
  const session = await login(bare, resource);
  session.client.write(`<iq type='get' id='roster${++counter}'><query xmlns='jabber:iq:roster'/></iq><presence/>`);
  await settled(session.client);
  session.client.clear();
  return session;
}

const items = (bare: string) => t.server.rosters.items(bare);

describe("an approval nobody asked for changes nothing", () => {
  test("to someone online: no roster item, no push, no subscribed, and the sender's presence does not reach them", async () => {
    const a = account("alice");
    const m = account("mallory");
    const alice = await online(a);
    const mallory = await online(m);
    alice.client.clear();
    mallory.client.clear();
    mallory.client.write(`<presence to='${a}' type='subscribed'/>`);
    await settled(mallory.client);
    mallory.client.write("<presence><status>look at me</status></presence>");
    await settled(mallory.client);
    await settled(alice.client);
    expect(items(m)).toEqual([]);
    expect(items(a)).toEqual([]);
    expect(mallory.client.received).not.toContain("jabber:iq:roster"); // no roster push
    expect(alice.client.received).not.toContain("jabber:iq:roster");
    expect(alice.client.received).not.toContain("subscribed");
    expect(alice.client.received).not.toContain(m);
    // A second session of alice is not shown mallory's presence either.
    const second = await online(a, "second");
    await settled(second.client);
    expect(second.client.received).not.toContain(m);
  });

  test("to someone offline: nothing stored, nothing shown at their next login", async () => {
    const a = account("alice");
    const m = account("mallory");
    const mallory = await online(m);
    mallory.client.write(`<presence to='${a}' type='subscribed'/>`);
    await settled(mallory.client);
    expect(items(m)).toEqual([]);
    expect(items(a)).toEqual([]);
    const alice = await online(a);
    await settled(alice.client);
    expect(alice.client.received).not.toContain("subscribe");
    expect(alice.client.received).not.toContain(m);
  });

  test("after the request was cancelled: the late approval changes neither roster", async () => {
    const a = account("alice");
    const b = account("bob");
    const alice = await online(a);
    const bob = await online(b);
    alice.client.write(`<presence to='${b}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}"`);
    alice.client.write(`<presence to='${b}' type='unsubscribe'/>`);
    await bob.client.waitFor(`type="unsubscribe" from="${a}"`);
    expect(items(a)).toEqual([{ jid: b, subscription: "none", ask: false, groups: [] }]);
    alice.client.clear();
    bob.client.clear();
    bob.client.write(`<presence to='${a}' type='subscribed'/>`);
    await settled(bob.client);
    bob.client.write("<presence><status>now?</status></presence>");
    await settled(bob.client);
    await settled(alice.client);
    expect(items(b)).toEqual([]);
    expect(items(a)).toEqual([{ jid: b, subscription: "none", ask: false, groups: [] }]);
    expect(bob.client.received).not.toContain("jabber:iq:roster");
    expect(alice.client.received).not.toContain("subscribed");
    expect(alice.client.received).not.toContain(`from="${bob.jid}"`);
  });

  test("from a third party while alice's request to bob waits: only bob's answer counts", async () => {
    const a = account("alice");
    const b = account("bob");
    const c = account("carol");
    const alice = await online(a);
    await login(b); // bound, not available: the request waits for him
    const carol = await online(c);
    alice.client.write(`<presence to='${b}' type='subscribe'/>`);
    await alice.client.waitFor(`<item jid="${b}" subscription="none" ask="subscribe"/>`);
    alice.client.clear();
    carol.client.write(`<presence to='${a}' type='subscribed'/>`);
    await settled(carol.client);
    await settled(alice.client);
    expect(items(c)).toEqual([]);
    expect(items(a)).toEqual([{ jid: b, subscription: "none", ask: true, groups: [] }]);
    expect(alice.client.received).not.toContain("subscribed");
    // Bob still can approve, and only then does alice's item change.
    const bob = await login(b, "answer");
    bob.client.write("<presence/>");
    await bob.client.waitFor(`type="subscribe" from="${a}"`);
    bob.client.write(`<presence to='${a}' type='subscribed'/>`);
    await alice.client.waitFor(`<item jid="${b}" subscription="to"/>`);
    expect(items(b)).toEqual([{ jid: a, subscription: "from", ask: false, groups: [] }]);
  });

  test("the one who asked cannot approve herself: alice's own subscribed to bob changes nothing", async () => {
    const a = account("alice");
    const b = account("bob");
    const alice = await online(a);
    const bob = await online(b);
    alice.client.write(`<presence to='${b}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}"`);
    bob.client.clear();
    alice.client.write(`<presence to='${b}' type='subscribed'/>`);
    await settled(alice.client);
    alice.client.write("<presence><status>seen?</status></presence>");
    await settled(alice.client);
    await settled(bob.client);
    expect(items(a)).toEqual([{ jid: b, subscription: "none", ask: true, groups: [] }]);
    expect(items(b)).toEqual([]);
    expect(bob.client.received).not.toContain("subscribed");
    expect(bob.client.received).not.toContain(`from="${alice.jid}"`);
  });

  test("to a contact on a domain not hosted here: the sender's roster does not change", async () => {
    const m = account("mallory");
    const mallory = await online(m);
    mallory.client.clear();
    mallory.client.write(`<presence to='someone@elsewhere.test' type='subscribed'/>`);
    await settled(mallory.client);
    expect(items(m)).toEqual([]);
    expect(mallory.client.received).not.toContain("jabber:iq:roster");
  });

  test("a request answered once: a second approval sends nothing more", async () => {
    const a = account("alice");
    const b = account("bob");
    const alice = await online(a);
    const bob = await online(b);
    alice.client.write(`<presence to='${b}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}"`);
    bob.client.write(`<presence to='${a}' type='subscribed'/>`);
    await alice.client.waitFor(`<item jid="${b}" subscription="to"/>`);
    await alice.client.waitFor(`type="subscribed" from="${b}"`);
    alice.client.clear();
    bob.client.clear();
    bob.client.write(`<presence to='${a}' type='subscribed'/>`);
    await settled(bob.client);
    await settled(alice.client);
    expect(alice.client.received).not.toContain("subscribed");
    expect(alice.client.received).not.toContain("jabber:iq:roster");
    expect(bob.client.received).not.toContain("jabber:iq:roster");
    expect(items(a)).toEqual([{ jid: b, subscription: "to", ask: false, groups: [] }]);
    expect(items(b)).toEqual([{ jid: a, subscription: "from", ask: false, groups: [] }]);
  });
});
