/**
 * The server stamps `from` on everything a session sends (RFC 6120 8.1.2.1; issue 23): the
 * client's own value, forged as another user or as the very receiver, never reaches anyone.
 * Messages, presence (directed, broadcast, subscription requests) and iq (request and answer),
 * each sent over TCP and over WebSocket, each checked for the sender's exact full JID (or bare
 * JID where RFC 6121 says so).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { DOMAIN, WsClient, loginRaw, saslAuth, startTestServer, wsOpen, type RawClient, type TestServer } from "./helpers/server.js";

let t: TestServer;
const closers: (() => void)[] = [];

beforeAll(async () => {
  // Presence to the whole domain, so broadcast presence is observable without rosters.
  t = await startTestServer({ loopbackWebSocketIsSecure: true, presenceBroadcast: "domain" });
});
afterEach(() => {
  for (const close of closers.splice(0)) close();
});
afterAll(async () => {
  await t.close();
});

/** One bound session, whichever transport: send stanzas, wait for the first one matching. */
interface Peer {
  jid: string;
  bare: string;
  send(text: string): void;
  /** The first whole stanza received (since the last clear) that matches `pattern`. */
  next(pattern: RegExp): Promise<string>;
  clear(): void;
}

let counter = 0;
const fresh = (name: string) => `${name}${++counter}`;

/** Whole top-level stanzas in text received over TCP. */
function stanzasIn(text: string): string[] {
  return text.match(/<(message|presence|iq)\b[^>]*?(\/>|>[\s\S]*?<\/\1>)/g) ?? [];
}

async function tcpPeer(localpart: string, resource: string): Promise<Peer> {
  const { client, jid } = await loginRaw(t, localpart, { resource });
  closers.push(() => client.destroy());
  return rawPeer(client, jid);
}

function rawPeer(client: RawClient, jid: string): Peer {
  return {
    jid,
    bare: jid.split("/")[0]!,
    send: (text) => client.write(text),
    async next(pattern) {
      const find = () => stanzasIn(client.received).find((s) => pattern.test(s));
      await client.waitFor(() => find() !== undefined);
      return find()!;
    },
    clear: () => client.clear(),
  };
}

async function wsPeer(localpart: string, resource: string): Promise<Peer> {
  const ws = await WsClient.connect(t.server.ports.http!);
  closers.push(() => ws.close());
  ws.send(wsOpen());
  await ws.next(/<mechanism>X-TOKEN<\/mechanism>/);
  ws.send(saslAuth(localpart, t.mint(localpart)));
  await ws.next(/<success/);
  ws.send(wsOpen());
  await ws.next(/<bind /);
  ws.send(`<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  const jid = /<jid>([^<]+)<\/jid>/.exec(await ws.next(/<jid>/))![1]!;
  let from = ws.messages.length;
  return {
    jid,
    bare: jid.split("/")[0]!,
    send: (text) => ws.send(text),
    async next(pattern) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const found = ws.messages.slice(from).find((m) => pattern.test(m));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${ws.messages.slice(from).join("\n")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    clear: () => {
      from = ws.messages.length;
    },
  };
}

/** Waits until the server has handled everything `peer` sent before (a ping round trip). */
async function settled(peer: Peer): Promise<void> {
  const id = `settle${++counter}`;
  peer.send(`<iq xmlns='jabber:client' type='get' id='${id}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await peer.next(new RegExp(`id="${id}"`));
}

const attr = (stanza: string, name: string) => new RegExp(`^<\\w+\\b[^>]*?\\s${name}="([^"]*)"`).exec(stanza)?.[1];

type Make = (localpart: string, resource: string) => Promise<Peer>;
const transports: [string, Make][] = [
  ["TCP", tcpPeer],
  ["WebSocket", wsPeer],
];

describe.each(transports)("sent over %s", (_name, sender) => {
  /** A forged from, first naming a third user, then naming the receiver itself. */
  const forgeries = (receiver: Peer) => [`mallory@${DOMAIN}/x`, receiver.jid];

  test("a message to a full JID and to a bare JID carries the sender's full JID", async () => {
    const alice = await sender(fresh("alice"), "desk");
    const bob = await tcpPeer(fresh("bob"), "phone");
    bob.send("<presence/>"); // available: messages to his bare JID reach him
    await settled(bob);
    for (const [i, forged] of forgeries(bob).entries()) {
      alice.send(`<message xmlns='jabber:client' to='${bob.jid}' from='${forged}' type='chat' id='full${i}'><body>to full ${i}</body></message>`);
      alice.send(`<message xmlns='jabber:client' to='${bob.bare}' from='${forged}' type='chat' id='bare${i}'><body>to bare ${i}</body></message>`);
      for (const id of [`full${i}`, `bare${i}`]) {
        const got = await bob.next(new RegExp(`<message [^>]*id="${id}"`));
        expect({ id, from: attr(got, "from") }).toEqual({ id, from: alice.jid });
        expect(got).not.toContain("mallory");
      }
    }
  });

  test("directed presence, to a full and to a bare JID, carries the sender's full JID", async () => {
    const alice = await sender(fresh("alice"), "desk");
    const bob = await tcpPeer(fresh("bob"), "phone");
    for (const [i, forged] of forgeries(bob).entries()) {
      alice.send(`<presence xmlns='jabber:client' to='${bob.jid}' from='${forged}' id='dfull${i}'><status>full ${i}</status></presence>`);
      alice.send(`<presence xmlns='jabber:client' to='${bob.bare}' from='${forged}' id='dbare${i}'><status>bare ${i}</status></presence>`);
      for (const id of [`dfull${i}`, `dbare${i}`]) {
        const got = await bob.next(new RegExp(`<presence [^>]*id="${id}"`));
        expect({ id, from: attr(got, "from") }).toEqual({ id, from: alice.jid });
      }
    }
  });

  test("broadcast presence (initial, a change, unavailable) carries the sender's full JID", async () => {
    const bob = await tcpPeer(fresh("bob"), "phone");
    bob.send("<presence/>");
    await settled(bob);
    const alice = await sender(fresh("alice"), "desk");
    alice.send(`<presence xmlns='jabber:client' from='${bob.jid}' id='initial'><status>in</status></presence>`);
    alice.send(`<presence xmlns='jabber:client' from='mallory@${DOMAIN}/x' id='change'><show>away</show></presence>`);
    alice.send(`<presence xmlns='jabber:client' type='unavailable' from='${bob.jid}' id='gone'/>`);
    for (const id of ["initial", "change", "gone"]) {
      const got = await bob.next(new RegExp(`<presence [^>]*id="${id}"`));
      expect({ id, from: attr(got, "from"), to: attr(got, "to") }).toEqual({ id, from: alice.jid, to: bob.jid });
    }
  });

  test("a presence a newcomer is shown carries the full JID of the one who sent it", async () => {
    const alice = await sender(fresh("alice"), "desk");
    alice.send(`<presence xmlns='jabber:client' from='mallory@${DOMAIN}/x' id='shown'><status>kept</status></presence>`);
    await settled(alice);
    const bob = await tcpPeer(fresh("bob"), "phone");
    bob.send("<presence/>");
    const got = await bob.next(/<presence [^>]*id="shown"/);
    expect(attr(got, "from")).toBe(alice.jid);
  });

  test("an iq request to a full JID carries the sender's full JID, and so does the answer", async () => {
    const alice = await sender(fresh("alice"), "desk");
    const bob = await tcpPeer(fresh("bob"), "phone");
    for (const [i, forged] of forgeries(bob).entries()) {
      alice.send(`<iq xmlns='jabber:client' type='get' to='${bob.jid}' from='${forged}' id='v${i}'><query xmlns='jabber:iq:version'/></iq>`);
      const request = await bob.next(new RegExp(`<iq [^>]*id="v${i}"`));
      expect(attr(request, "from")).toBe(alice.jid);
    }
    // The answer, from a session of the other transport this time, forged as alice herself.
    const carol = await sender(fresh("carol"), "web");
    bob.send(`<iq xmlns='jabber:client' type='get' to='${carol.jid}' id='ask'><query xmlns='jabber:iq:version'/></iq>`);
    await carol.next(/<iq [^>]*id="ask"/);
    carol.send(`<iq xmlns='jabber:client' type='result' to='${bob.jid}' from='${bob.jid}' id='ask'><query xmlns='jabber:iq:version'><name>x</name></query></iq>`);
    const answer = await bob.next(/<iq [^>]*type="result"[^>]*id="ask"|<iq [^>]*id="ask"[^>]*type="result"/);
    expect(attr(answer, "from")).toBe(carol.jid);
    carol.send(`<iq xmlns='jabber:client' type='error' to='${bob.jid}' from='mallory@${DOMAIN}/x' id='ask2'><error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
    const error = await bob.next(/<iq [^>]*id="ask2"/);
    expect(attr(error, "from")).toBe(carol.jid);
  });

  test("a subscription request carries the sender's bare JID, whatever it wrote", async () => {
    const alice = await sender(fresh("alice"), "desk");
    const bob = await tcpPeer(fresh("bob"), "phone");
    bob.send("<presence/>");
    await settled(bob);
    alice.send(`<presence xmlns='jabber:client' to='${bob.bare}' type='subscribe' from='mallory@${DOMAIN}' id='sub'/>`);
    const got = await bob.next(/<presence [^>]*type="subscribe"/);
    expect(attr(got, "from")).toBe(alice.bare);
    bob.send(`<presence xmlns='jabber:client' to='${alice.bare}' type='subscribed' from='mallory@${DOMAIN}'/>`);
    const approved = await alice.next(/<presence [^>]*type="subscribed"/);
    expect(attr(approved, "from")).toBe(bob.bare);
  });

  test("a message to oneself, and one to another user's resource, forged as the server: still the sender", async () => {
    const alice = await sender(fresh("alice"), "desk");
    const bob = await tcpPeer(fresh("bob"), "phone");
    alice.send(`<message xmlns='jabber:client' to='${alice.jid}' from='${DOMAIN}' type='chat' id='self'><body>me</body></message>`);
    const self = await alice.next(/<message [^>]*id="self"/);
    expect(attr(self, "from")).toBe(alice.jid);
    alice.send(`<message xmlns='jabber:client' to='${bob.jid}' from='${DOMAIN}' type='chat' id='srv'><body>server?</body></message>`);
    const got = await bob.next(/<message [^>]*id="srv"/);
    expect(attr(got, "from")).toBe(alice.jid);
  });
});
