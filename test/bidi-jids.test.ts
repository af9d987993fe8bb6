/**
 * Issue 18: bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) are
 * refused in JIDs on the wire, so a name cannot display as another: a login, a bound resource,
 * a stanza address and a roster item carrying one are refused with the XMPP error for each.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { PreparedKey } from "../src/core/token/keys.js";
import { formatToken, signedMessage } from "../src/core/token/format.js";
import { DOMAIN, RawClient, loginRaw, saslAuth, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";

let t: TestServer;
const clients: RawClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ requireTls: false });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await t.close();
});

/**
 * A token signed with the domain's key over `localpart@domain` exactly as given, as a web backend
 * that does not prepare JIDs could make one (mintToken itself refuses such a JID).
 */
function tokenSignedFor(localpart: string): string {
  const key = new PreparedKey(t.keys[DOMAIN]![0]!);
  const otp = key.otpAt(Math.floor(Date.now() / 1000 / 30)).toString("latin1");
  const nonce = Array.from(randomBytes(32), (b) => String(b % 10)).join("");
  return formatToken(otp, nonce, key.sign(signedMessage(otp, nonce, `${localpart}@${DOMAIN}`)));
}

/** A stream up to the SASL answer: "success" or the failure's condition. */
async function saslLogin(localpart: string, token: string): Promise<{ client: RawClient; outcome: string }> {
  const client = await RawClient.connect(t.server.ports.c2s!);
  clients.push(client);
  client.write(streamHeader());
  await client.waitFor("</stream:features>");
  client.clear();
  client.write(saslAuth(localpart, token));
  const text = await client.waitFor(/<success|<\/failure>/);
  return { client, outcome: text.includes("<success") ? "success" : (/<failure[^>]*><([a-z-]+)/.exec(text)?.[1] ?? text) };
}

const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
const CONTROLS = ["\u202E", "\u202A", "\u2066", "\u2067", "\u2068", "\u2069", "\u200E", "\u200F", "\u061C"];

describe("bidirectional controls in JIDs, on real sockets", () => {
  test("a token for the plain name logs in (the forged tokens below are well made)", async () => {
    expect((await saslLogin("alice", tokenSignedFor("alice"))).outcome).toBe("success");
  });

  test.each(CONTROLS.map((c) => [hex(c), c]))("login as a localpart with %s: malformed-request, even with a token signed for it", async (_name, c) => {
    for (const localpart of [`alice${c}`, `${c}alice`]) {
      expect((await saslLogin(localpart, tokenSignedFor(localpart))).outcome).toBe("malformed-request");
    }
  });

  test.each(CONTROLS.map((c) => [hex(c), c]))("binding a resource with %s: bad-request, and the stream stays unbound", async (_name, c) => {
    const { client, outcome } = await saslLogin("alice", tokenSignedFor("alice"));
    expect(outcome).toBe("success");
    client.clear();
    client.write(streamHeader());
    await client.waitFor("</stream:features>");
    client.clear();
    client.write(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>gpj${c}exe</resource></bind></iq>`);
    const answer = await client.waitFor(/id="b1"/);
    expect(answer).toMatch(/type="error"/);
    expect(answer).toMatch(/<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
    expect(answer).not.toContain("<jid>");
    // The client may try again with a good resource.
    client.clear();
    client.write("<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>");
    expect(await client.waitFor(/<jid>[^<]+<\/jid>/)).toContain(`<jid>alice@${DOMAIN}/phone</jid>`);
  });

  test.each(CONTROLS.map((c) => [hex(c), c]))("a message to a localpart or domain with %s: jid-malformed", async (_name, c) => {
    const alice = await loginRaw(t, "alice");
    clients.push(alice.client);
    alice.client.write(`<message to='bob${c}@${DOMAIN}' type='chat' id='m1'><body>x</body></message>`);
    await alice.client.waitFor(/id="m1"[^>]*><error type="modify"><jid-malformed/);
    alice.client.write(`<message to='bob@${DOMAIN}${c}' type='chat' id='m2'><body>x</body></message>`);
    await alice.client.waitFor(/id="m2"[^>]*><error type="modify"><jid-malformed/);
  });

  test.each(CONTROLS.map((c) => [hex(c), c]))("a roster item with %s: jid-malformed, and the roster stays empty", async (_name, c) => {
    const alice = await loginRaw(t, "alice");
    clients.push(alice.client);
    alice.client.write(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='bob${c}@${DOMAIN}' name='bob'/></query></iq>`);
    await alice.client.waitFor(/id="r1"[^>]*>.*<error type="modify"><jid-malformed/);
    alice.client.clear();
    alice.client.write("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>");
    const roster = await alice.client.waitFor(/id="r2"[^>]*>/);
    expect(roster).not.toContain("<item");
  });
});
