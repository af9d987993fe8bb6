/**
 * What IM clients ask of the server itself, on the wire (raw TCP sessions): XEP-0030 disco#info and
 * disco#items on the server and on the account, RFC 6121 rosters (get, set, pushes, bounds) and
 * presence subscriptions, XEP-0092 version, XEP-0202 time, the PEP reads clients make; and what
 * an attacker tries on each (malformed items, oversized names, someone else's roster, forged
 * approvals).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { DOMAIN, loginRaw, type RawClient, startTestServer, type TestServer } from "./helpers/server.js";
import { DEFAULT_ROSTER_LIMITS } from "../src/server/roster/index.js";
import { parseConfig, ConfigError } from "../src/app/config/load.js";

let t: TestServer;
const clients: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  t.server.discoItems.add((domain) => (domain === DOMAIN ? [{ jid: `tokens.${DOMAIN}`, name: `Login tokens <&"'>` }] : []));
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await t.close();
});

let counter = 0;

async function login(localpart: string, server: TestServer = t) {
  const session = await loginRaw(server, localpart);
  clients.push(session.client);
  return session;
}

/** Sends an iq (its `id` filled in) and returns the server's answer to it, as text. */
async function ask(client: RawClient, iq: (id: string) => string): Promise<string> {
  const id = `q${++counter}`;
  client.write(iq(id));
  const pattern = new RegExp(`<iq [^>]*id="${id}"[^>]*?(/>|>[\\s\\S]*?</iq>)`);
  const text = await client.waitFor(pattern);
  return pattern.exec(text)![0];
}

const rosterSet = (item: string) => (id: string) => `<iq type='set' id='${id}'><query xmlns='jabber:iq:roster'>${item}</query></iq>`;
const rosterGet = (id: string) => `<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`;

/** A fresh account name per test, so rosters of one test do not meet another's. */
const user = (name: string) => `${name}${++counter}`;

describe("service discovery (XEP-0030)", () => {
  test("disco#info of the server: identity server/im and the features it answers", async () => {
    const alice = await login(user("alice"));
    for (const to of [` to='${DOMAIN}'`, ""]) {
      const answer = await ask(alice.client, (id) => `<iq type='get' id='${id}'${to}><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
      expect(answer).toContain('type="result"');
      expect(answer).toContain('<identity category="server" type="im" name="xmpp-x-token"/>');
      const features = [...answer.matchAll(/<feature var="([^"]+)"\/>/g)].map((m) => m[1]);
      expect(features).toEqual(["http://jabber.org/protocol/commands", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "jabber:iq:version", "msgoffline", "urn:xmpp:ping", "urn:xmpp:saslcert:1", "urn:xmpp:time"]);
    }
  });

  test("disco#info of one's own account: identity account/registered, no PEP claimed", async () => {
    const alice = await login(user("alice"));
    const bare = alice.jid.split("/")[0];
    const answer = await ask(alice.client, (id) => `<iq type='get' id='${id}' to='${bare}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(answer).toContain(`from="${bare}"`);
    expect(answer).toContain('<identity category="account" type="registered"/>');
    expect(answer).not.toContain("pubsub");
  });

  test("disco#info of someone else's account, of a node, or as a set: errors, nothing revealed", async () => {
    const alice = await login(user("alice"));
    const other = await ask(alice.client, (id) => `<iq type='get' id='${id}' to='bob@${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(other).toMatch(/type="error"[\s\S]*<service-unavailable/);
    const node = await ask(alice.client, (id) => `<iq type='get' id='${id}'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`);
    expect(node).toContain("<item-not-found");
    const set = await ask(alice.client, (id) => `<iq type='set' id='${id}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    expect(set).toContain("<bad-request");
  });

  test("disco#items of the server lists what was added (escaped); the account has none", async () => {
    const alice = await login(user("alice"));
    const items = await ask(alice.client, (id) => `<iq type='get' id='${id}' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    expect(items).toContain(`<item jid="tokens.${DOMAIN}" name="Login tokens &lt;&amp;&quot;&apos;&gt;"/>`);
    const bare = alice.jid.split("/")[0];
    const mine = await ask(alice.client, (id) => `<iq type='get' id='${id}' to='${bare}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    expect(mine).toMatch(/<query xmlns="http:\/\/jabber.org\/protocol\/disco#items"\/>/);
  });
});

describe("version, time, ping, odd iqs", () => {
  test("jabber:iq:version: name and version, no operating system", async () => {
    const alice = await login(user("alice"));
    const answer = await ask(alice.client, (id) => `<iq type='get' id='${id}' to='${DOMAIN}'><query xmlns='jabber:iq:version'/></iq>`);
    expect(answer).toMatch(/<name>xmpp-x-token<\/name><version>\d+\.\d+\.\d+[^<]*<\/version><\/query>/);
    expect(answer).not.toContain("<os>");
  });

  test("urn:xmpp:time: a zone offset and UTC time to the second", async () => {
    const alice = await login(user("alice"));
    const answer = await ask(alice.client, (id) => `<iq type='get' id='${id}'><time xmlns='urn:xmpp:time'/></iq>`);
    const utc = /<utc>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)<\/utc>/.exec(answer)?.[1];
    expect(answer).toMatch(/<tzo>[+-]\d\d:\d\d<\/tzo>/);
    expect(Math.abs(Date.parse(utc!) - Date.now())).toBeLessThan(60_000);
  });

  test("an iq with two payloads or none is a bad request; an unknown payload service-unavailable", async () => {
    const alice = await login(user("alice"));
    const two = await ask(alice.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>`);
    expect(two).toContain("<bad-request");
    const none = await ask(alice.client, (id) => `<iq type='get' id='${id}'/>`);
    expect(none).toContain("<bad-request");
    const unknown = await ask(alice.client, (id) => `<iq type='get' id='${id}'><query xmlns='jabber:iq:last'/></iq>`);
    expect(unknown).toContain("<service-unavailable");
  });

  test("PEP reads on an account find no node (item-not-found); anything else in pubsub is service-unavailable", async () => {
    const alice = await login(user("alice"));
    const bare = alice.jid.split("/")[0];
    const items = await ask(alice.client, (id) => `<iq type='get' id='${id}' to='${bare}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:devices'/></pubsub></iq>`);
    expect(items).toMatch(/<error type="cancel"><item-not-found/);
    const publish = await ask(alice.client, (id) => `<iq type='set' id='${id}' to='${bare}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='x'><item/></publish></pubsub></iq>`);
    expect(publish).toContain("<service-unavailable");
    const atServer = await ask(alice.client, (id) => `<iq type='get' id='${id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='x'/></pubsub></iq>`);
    expect(atServer).toContain("<service-unavailable");
  });
});

describe("rosters (RFC 6121 2)", () => {
  test("get, add, update, remove; each change pushed to the interested resources only", async () => {
    const name = user("alice");
    const one = await login(name);
    const two = await login(name);
    const quiet = await login(name); // never asks for the roster: no pushes
    const bare = `${name}@${DOMAIN}`;
    expect(await ask(one.client, rosterGet)).toContain('<query xmlns="jabber:iq:roster"/>');
    await ask(two.client, rosterGet);

    const added = await ask(one.client, rosterSet(`<item jid='Bob@${DOMAIN.toUpperCase()}' name='Bob &amp; co'><group>Friends</group></item>`));
    expect(added).toContain('type="result"');
    const pushed = `<item jid="bob@${DOMAIN}" subscription="none" name="Bob &amp; co"><group>Friends</group></item>`;
    for (const c of [one, two]) {
      const text = await c.client.waitFor(pushed);
      expect(text).toMatch(new RegExp(`<iq [^>]*type="set"[^>]*from="${bare}"[^>]*to="${c.jid.replace(/[.]/g, "\\.")}"`));
    }
    expect(await ask(two.client, rosterGet)).toContain(pushed);

    await ask(one.client, rosterSet(`<item jid='bob@${DOMAIN}'><group>Work</group><group>Chess</group></item>`));
    await two.client.waitFor(`<item jid="bob@${DOMAIN}" subscription="none"><group>Work</group><group>Chess</group></item>`);

    expect(await ask(one.client, rosterSet(`<item jid='bob@${DOMAIN}' subscription='remove'/>`))).toContain('type="result"');
    await two.client.waitFor(`<item jid="bob@${DOMAIN}" subscription="remove"/>`);
    expect(t.server.rosters.items(bare)).toEqual([]);
    expect(await ask(one.client, rosterSet(`<item jid='bob@${DOMAIN}' subscription='remove'/>`))).toContain("<item-not-found");
    expect(quiet.client.received).not.toContain("jabber:iq:roster");
  });

  test("a client cannot set subscription or ask itself: those attributes are ignored", async () => {
    const alice = await login(user("alice"));
    await ask(alice.client, rosterSet(`<item jid='carol@${DOMAIN}' subscription='both' ask='subscribe'/>`));
    expect(t.server.rosters.items(alice.jid.split("/")[0]!)).toEqual([{ jid: `carol@${DOMAIN}`, subscription: "none", ask: false, groups: [] }]);
  });

  test.each([
    ["two items", "bad-request", `<item jid='a@${DOMAIN}'/><item jid='b@${DOMAIN}'/>`],
    ["no item", "bad-request", ``],
    ["another element", "bad-request", `<entry jid='a@${DOMAIN}'/>`],
    ["no jid", "jid-malformed", `<item name='x'/>`],
    ["an invalid jid", "jid-malformed", `<item jid='a@b@c'/>`],
    ["an empty jid", "jid-malformed", `<item jid=''/>`],
    ["a jid too long", "jid-malformed", `<item jid='${"a".repeat(1024)}@${DOMAIN}'/>`],
    ["a full jid", "bad-request", `<item jid='a@${DOMAIN}/phone'/>`],
    ["a name over the limit", "not-acceptable", `<item jid='a@${DOMAIN}' name='${"é".repeat(129)}'/>`],
    ["a group over the limit", "not-acceptable", `<item jid='a@${DOMAIN}'><group>${"g".repeat(257)}</group></item>`],
    ["an empty group", "not-acceptable", `<item jid='a@${DOMAIN}'><group/></item>`],
    ["a group twice", "bad-request", `<item jid='a@${DOMAIN}'><group>x</group><group>x</group></item>`],
    ["too many groups", "not-acceptable", `<item jid='a@${DOMAIN}'>${Array.from({ length: 17 }, (_, i) => `<group>g${i}</group>`).join("")}</item>`],
    ["something else in the item", "bad-request", `<item jid='a@${DOMAIN}'><note>x</note></item>`],
  ])("a roster set with %s is refused (%s) and changes nothing", async (_label, condition, item) => {
    const alice = await login(user("alice"));
    const answer = await ask(alice.client, rosterSet(item));
    expect(answer).toMatch(new RegExp(`type="error"[\\s\\S]*<${condition} `));
    expect(t.server.rosters.items(alice.jid.split("/")[0]!)).toEqual([]);
  });

  test("someone else's roster is forbidden, to read or to change", async () => {
    const bob = await login(user("bob"));
    const bobBare = bob.jid.split("/")[0]!;
    await ask(bob.client, rosterSet(`<item jid='carol@${DOMAIN}'/>`));
    const mallory = await login(user("mallory"));
    const read = await ask(mallory.client, (id) => `<iq type='get' id='${id}' to='${bobBare}'><query xmlns='jabber:iq:roster'/></iq>`);
    expect(read).toMatch(/<error type="auth"><forbidden/);
    expect(read).not.toContain("carol");
    const write = await ask(mallory.client, (id) => `<iq type='set' id='${id}' to='${bobBare}'><query xmlns='jabber:iq:roster'><item jid='mallory@${DOMAIN}'/></query></iq>`);
    expect(write).toContain("<forbidden");
    expect(t.server.rosters.items(bobBare).map((i) => i.jid)).toEqual([`carol@${DOMAIN}`]);
    // An answer-typed roster iq is not a request: nobody answers it, nothing changes.
    mallory.client.write(`<iq type='result' id='r' to='${bobBare}'><query xmlns='jabber:iq:roster'><item jid='x@${DOMAIN}'/></query></iq>`);
    await ask(mallory.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    expect(mallory.client.received).not.toContain('id="r"');
    expect(t.server.rosters.items(bobBare).map((i) => i.jid)).toEqual([`carol@${DOMAIN}`]);
  });

  test(`a roster holds at most ${DEFAULT_ROSTER_LIMITS.maxItems} items: the next is refused, updates and removals still work`, async () => {
    const alice = await login(user("alice"));
    const bare = alice.jid.split("/")[0]!;
    const max = DEFAULT_ROSTER_LIMITS.maxItems;
    let batch = "";
    for (let i = 0; i < max; i++) batch += `<iq type='set' id='fill${i}'><query xmlns='jabber:iq:roster'><item jid='c${i}@${DOMAIN}'/></query></iq>`;
    alice.client.write(batch);
    await alice.client.waitFor(`id="fill${max - 1}"`, 20_000);
    expect(t.server.rosters.items(bare)).toHaveLength(max);
    const over = await ask(alice.client, rosterSet(`<item jid='one-more@${DOMAIN}'/>`));
    expect(over).toMatch(/<error type="wait"><resource-constraint/);
    expect(await ask(alice.client, rosterSet(`<item jid='c0@${DOMAIN}' name='first'/>`))).toContain('type="result"');
    await ask(alice.client, rosterSet(`<item jid='c1@${DOMAIN}' subscription='remove'/>`));
    expect(await ask(alice.client, rosterSet(`<item jid='one-more@${DOMAIN}'/>`))).toContain('type="result"');
    expect(t.server.rosters.items(bare)).toHaveLength(max);
  }, 30_000);
});

/** Two fresh users, both signed in, each having asked for its roster and sent initial presence. */
/** Two fresh accounts, online and available, that asked for their rosters; on `server` (the shared one by default). */
async function interestedPair(server: TestServer = t) {
  const a = user("alice");
  const b = user("bob");
  const alice = await login(a, server);
  const bob = await login(b, server);
  for (const s of [alice, bob]) {
    await ask(s.client, rosterGet);
    s.client.write("<presence/>");
    await ask(s.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`); // its presence is in
  }
  return { a, b, alice, bob };
}

describe("who sees presence (presenceBroadcast: roster, the default; RFC 6121 4)", () => {
  const ping = (id: string) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;

  test("nobody outside a user's roster sees its presence, its changes or its going away", async () => {
    const { bob, alice } = await interestedPair();
    const carol = await login(user("carol"));
    carol.client.write("<presence/>");
    await ask(carol.client, ping);
    bob.client.write("<presence><show>away</show></presence>");
    await ask(bob.client, ping);
    bob.client.write("</stream:stream>");
    await ask(alice.client, ping);
    await ask(carol.client, ping);
    for (const s of [alice, carol]) expect(s.client.received).not.toContain(`from="${bob.jid}"`);
    expect(bob.client.received).not.toContain(`from="${alice.jid}"`);
    expect(bob.client.received).not.toContain(`from="${carol.jid}"`);
  });

  test("a contact subscribed to a user sees its presence, its changes and its going away; not the other way round", async () => {
    const { a, b, alice, bob } = await interestedPair();
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}@${DOMAIN}"`);
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
    await alice.client.waitFor(`<presence from="${bob.jid}" xmlns="jabber:client" to="${alice.jid}"/>`);
    bob.client.write("<presence><show>away</show></presence>");
    await alice.client.waitFor("<show>away</show>");
    // Alice is subscribed to bob, bob not to alice: alice's presence does not reach him.
    alice.client.write("<presence><show>dnd</show></presence>");
    await ask(alice.client, ping);
    await ask(bob.client, ping);
    expect(bob.client.received).not.toContain(`from="${alice.jid}"`);
    bob.client.write("</stream:stream>");
    await alice.client.waitFor(`<presence type="unavailable" from="${bob.jid}"`);
  });

  test("a newcomer gets the presence of the contacts it is subscribed to, and of its own other sessions", async () => {
    const { a, b, alice, bob } = await interestedPair();
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}@${DOMAIN}"`);
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
    await alice.client.waitFor(`<presence from="${bob.jid}"`);
    const phone = await loginRaw(t, a, { resource: "phone" });
    clients.push(phone.client);
    phone.client.write("<presence/>");
    await phone.client.waitFor(`from="${bob.jid}"`);
    await phone.client.waitFor(`from="${alice.jid}"`);
    await alice.client.waitFor(`from="${phone.jid}"`);
    // Bob is not subscribed to alice: her new session stays hidden from him.
    await ask(bob.client, ping);
    expect(bob.client.received).not.toContain(`from="${phone.jid}"`);
  });
});

describe("presence subscriptions (RFC 6121 3)", () => {
  test("alice asks, bob approves: both rosters change, pushes go out, alice sees bob's presence", async () => {
    const { a, b, alice, bob } = await interestedPair();
    // Not subscribed yet: bob's presence has not reached alice (RFC 6121 4.2.2).
    expect(alice.client.received).not.toContain(`from="${bob.jid}"`);
    alice.client.clear();

    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe' from='forged@${DOMAIN}'/>`);
    await alice.client.waitFor(`<item jid="${b}@${DOMAIN}" subscription="none" ask="subscribe"/>`);
    // Stamped with alice's bare JID, whatever she wrote.
    await bob.client.waitFor(`<presence xmlns="jabber:client" type="subscribe" from="${a}@${DOMAIN}" to="${b}@${DOMAIN}"/>`);

    bob.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
    await bob.client.waitFor(`<item jid="${a}@${DOMAIN}" subscription="from"/>`);
    await alice.client.waitFor(`<item jid="${b}@${DOMAIN}" subscription="to"/>`);
    await alice.client.waitFor(`type="subscribed" from="${b}@${DOMAIN}"`);
    await alice.client.waitFor(`<presence from="${bob.jid}" xmlns="jabber:client" to="${alice.jid}"/>`);
    expect(t.server.rosters.items(`${a}@${DOMAIN}`)).toEqual([{ jid: `${b}@${DOMAIN}`, subscription: "to", ask: false, groups: [] }]);
    expect(t.server.rosters.items(`${b}@${DOMAIN}`)).toEqual([{ jid: `${a}@${DOMAIN}`, subscription: "from", ask: false, groups: [] }]);

    // Asking again once approved: the server answers for bob, alice's client is not told twice.
    alice.client.clear();
    bob.client.clear();
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await ask(alice.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    expect(alice.client.received).not.toContain("subscribed");
    expect(bob.client.received).not.toContain("subscribe");

    // Alice cancels: both sides back to none.
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='unsubscribe'/>`);
    await alice.client.waitFor(`<item jid="${b}@${DOMAIN}" subscription="none"/>`);
    await bob.client.waitFor(`<item jid="${a}@${DOMAIN}" subscription="none"/>`);
    await bob.client.waitFor(`type="unsubscribe" from="${a}@${DOMAIN}"`);
  });

  test("a request to someone offline waits for their next initial presence", async () => {
    const a = user("alice");
    const b = user("bob");
    const alice = await login(a);
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await ask(alice.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const bob = await login(b);
    bob.client.write("<presence/>");
    await bob.client.waitFor(`type="subscribe" from="${a}@${DOMAIN}" to="${b}@${DOMAIN}"`);
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='unsubscribed'/>`);
    await alice.client.waitFor(`type="unsubscribed" from="${b}@${DOMAIN}"`);
    expect(t.server.rosters.items(`${a}@${DOMAIN}`)).toEqual([{ jid: `${b}@${DOMAIN}`, subscription: "none", ask: false, groups: [] }]);
  });

  test("requests waiting for offline accounts are bounded by the sender's roster: a full roster leaves none waiting", async () => {
    const m = user("mallory");
    const v = user("victim");
    const mallory = await login(m);
    const max = DEFAULT_ROSTER_LIMITS.maxItems;
    let batch = "";
    for (let i = 0; i < max; i++) batch += `<iq type='set' id='fill${i}'><query xmlns='jabber:iq:roster'><item jid='c${i}@${DOMAIN}'/></query></iq>`;
    mallory.client.write(batch);
    await mallory.client.waitFor(`id="fill${max - 1}"`, 20_000);
    mallory.client.write(`<presence to='${v}@${DOMAIN}' type='subscribe'/>`);
    await ask(mallory.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const victim = await login(v);
    victim.client.write("<presence/>");
    await ask(victim.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    expect(victim.client.received).not.toContain(`type="subscribe"`);
  }, 30_000);

  test("an approval nobody asked for changes nothing: mallory cannot make herself seen", async () => {
    const a = user("alice");
    const m = user("mallory");
    const alice = await login(a);
    await ask(alice.client, rosterGet);
    alice.client.write("<presence/>");
    const mallory = await login(m);
    mallory.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
    mallory.client.write(`<presence to='${a}@${DOMAIN}' type='unsubscribe'/>`);
    await ask(mallory.client, (id) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    expect(t.server.rosters.items(`${a}@${DOMAIN}`)).toEqual([]);
    expect(t.server.rosters.items(`${m}@${DOMAIN}`)).toEqual([]);
    expect(alice.client.received).not.toContain("subscribed");
  });

  test("removing a contact cancels the subscriptions both ways", async () => {
    const { a, b, alice, bob } = await interestedPair();
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await bob.client.waitFor("type=\"subscribe\"");
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
    await alice.client.waitFor(`subscription="to"`);
    await ask(alice.client, rosterSet(`<item jid='${b}@${DOMAIN}' subscription='remove'/>`));
    await bob.client.waitFor(`<item jid="${a}@${DOMAIN}" subscription="none"/>`);
    expect(t.server.rosters.items(`${a}@${DOMAIN}`)).toEqual([]);
  });
});

describe("a subscription that ends hides presence at once (RFC 6121 3.2.2, 3.3.3)", () => {
  const ping = (id: string) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;

  /** Alice subscribed to bob (alice: to, bob: from), both online and available, alice seeing bob. */
  async function aliceSeesBob() {
    const pair = await interestedPair();
    const { a, b, alice, bob } = pair;
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}@${DOMAIN}"`);
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
    await alice.client.waitFor(`<presence from="${bob.jid}" xmlns="jabber:client" to="${alice.jid}"/>`);
    alice.client.clear();
    bob.client.clear();
    return pair;
  }
  const gone = (from: string, to: string) => `<presence xmlns="jabber:client" type="unavailable" from="${from}" to="${to}"/>`;

  test("alice unsubscribes: each of her sessions hears that each of bob's is gone; bob hears nothing of the kind", async () => {
    const { a, b, alice, bob } = await aliceSeesBob();
    const phone = await loginRaw(t, b, { resource: "phone" });
    clients.push(phone.client);
    phone.client.write("<presence/>");
    await alice.client.waitFor(`from="${phone.jid}"`);
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='unsubscribe'/>`);
    await alice.client.waitFor(gone(bob.jid, alice.jid));
    await alice.client.waitFor(gone(phone.jid, alice.jid));
    await bob.client.waitFor(`type="unsubscribe" from="${a}@${DOMAIN}"`);
    await ask(bob.client, ping);
    expect(bob.client.received).not.toContain('type="unavailable"');
    // Bob's next change no longer reaches her.
    bob.client.write("<presence><show>away</show></presence>");
    await ask(bob.client, ping);
    await ask(alice.client, ping);
    expect(alice.client.received).not.toContain("<show>away</show>");
  });

  test("bob cancels alice's subscription: she hears he is gone, then the unsubscribed", async () => {
    const { a, b, alice, bob } = await aliceSeesBob();
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='unsubscribed'/>`);
    await alice.client.waitFor(`type="unsubscribed" from="${b}@${DOMAIN}"`);
    const received = alice.client.received;
    expect(received).toContain(gone(bob.jid, alice.jid));
    expect(received.indexOf(gone(bob.jid, alice.jid))).toBeLessThan(received.indexOf('type="unsubscribed"'));
    await ask(bob.client, ping);
    expect(bob.client.received).not.toContain('type="unavailable"');
  });

  test("removing the contact from either roster: alice hears bob is gone", async () => {
    for (const remover of ["alice", "bob"] as const) {
      const { a, b, alice, bob } = await aliceSeesBob();
      const [client, item] = remover === "alice" ? [alice.client, `${b}@${DOMAIN}`] : [bob.client, `${a}@${DOMAIN}`];
      await ask(client, rosterSet(`<item jid='${item}' subscription='remove'/>`));
      await alice.client.waitFor(gone(bob.jid, alice.jid));
      await ask(bob.client, ping);
      expect(bob.client.received).not.toContain('type="unavailable"');
    }
  });

  test("a subscription that never let alice see bob hides nothing: a denied request sends no unavailable", async () => {
    const { a, b, alice, bob } = await interestedPair();
    alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
    await bob.client.waitFor(`type="subscribe" from="${a}@${DOMAIN}"`);
    bob.client.write(`<presence to='${a}@${DOMAIN}' type='unsubscribed'/>`);
    await alice.client.waitFor(`type="unsubscribed" from="${b}@${DOMAIN}"`);
    expect(alice.client.received).not.toContain('type="unavailable"');
  });

  test("with presenceBroadcast domain, where subscriptions do not decide who sees whom, nothing is hidden", async () => {
    const domainServer = await startTestServer({ presenceBroadcast: "domain" });
    try {
      const { a, b, alice, bob } = await interestedPair(domainServer);
      await alice.client.waitFor(`from="${bob.jid}"`);
      alice.client.write(`<presence to='${b}@${DOMAIN}' type='subscribe'/>`);
      await bob.client.waitFor(`type="subscribe" from="${a}@${DOMAIN}"`);
      bob.client.write(`<presence to='${a}@${DOMAIN}' type='subscribed'/>`);
      await alice.client.waitFor(`subscription="to"`);
      alice.client.write(`<presence to='${b}@${DOMAIN}' type='unsubscribe'/>`);
      await bob.client.waitFor(`type="unsubscribe" from="${a}@${DOMAIN}"`);
      await ask(alice.client, ping);
      expect(alice.client.received).not.toContain('type="unavailable"');
      // Still on the same domain: bob's changes still reach her.
      bob.client.write("<presence><show>away</show></presence>");
      await alice.client.waitFor("<show>away</show>");
    } finally {
      await domainServer.close();
    }
  });
});

describe("config: presenceBroadcast", () => {
  const env = { XTOKEN_DOMAIN: "example.test", XTOKEN_SECRET: "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7", XTOKEN_OTP_SEED: "XVGR73KMZH2M4XMY", XMPP_REQUIRE_TLS: "false" };

  test("roster unless set to domain", () => {
    expect(parseConfig({}, env).presenceBroadcast).toBe("roster");
    expect(parseConfig({ presenceBroadcast: "roster" }, env).presenceBroadcast).toBe("roster");
    expect(parseConfig({ presenceBroadcast: "domain" }, env).presenceBroadcast).toBe("domain");
  });

  test.each([["Domain"], ["all"], [true], [null], [["domain"]]])("%j is refused with one line naming the setting", (value) => {
    expect(() => parseConfig({ presenceBroadcast: value }, env)).toThrow(new ConfigError('config: presenceBroadcast must be "roster" or "domain"'));
  });
});
