/**
 * Issue 18 item 7: a resource the server makes from a taken one always fits RFC 7622's 1023
 * bytes, cut on a character boundary, so stanzas to it are delivered (they bounced jid-malformed
 * when `-<6 hex>` was appended to a 1017-1023 byte resource).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { loginRaw, startTestServer, type RawClient, type TestServer } from "./helpers/server.js";
import { renamedResource, utf8Prefix } from "../src/server/binding.js";

/** No lone surrogate: a cut never splits a code point (String.prototype.isWellFormed, which TypeScript's ES2022 lib does not declare). */
const wellFormed = (text: string) => !/\p{Cs}/u.test(text);

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

async function login(localpart: string, resource?: string) {
  const session = await loginRaw(t, localpart, resource === undefined ? {} : { resource });
  clients.push(session.client);
  return session;
}

const bytes = (text: string) => Buffer.byteLength(text, "utf8");

/** XML-decoded text of a `<jid>` or attribute as the test helper returns it (our resources need no escaping). */
const resourceOf = (jid: string) => jid.slice(jid.indexOf("/") + 1);

describe("a resource made from a taken one (real sockets)", () => {
  test.each([
    ["ASCII", "r".repeat(1020)],
    ["1023 bytes exactly", "q".repeat(1023)],
    ["3-byte characters", "€".repeat(340)],
    ["4-byte characters (surrogate pairs in JavaScript)", "x" + "😀".repeat(255)],
    ["mixed widths", "é€😀a".repeat(102)],
  ])("%s: bound twice, the second resource fits, keeps the start whole, and a message to it arrives", async (_what, requested) => {
    expect(bytes(requested)).toBeGreaterThanOrEqual(1017);
    expect(bytes(requested)).toBeLessThanOrEqual(1023);
    const first = await login("alice", requested);
    expect(resourceOf(first.jid)).toBe(requested);
    const second = await login("alice", requested);
    const resource = resourceOf(second.jid);
    expect(resource).not.toBe(requested);
    expect(bytes(resource)).toBeLessThanOrEqual(1023);
    expect(resource).toMatch(/-[0-9a-f]{6}$/);
    const kept = resource.slice(0, -7);
    expect(requested.startsWith(kept)).toBe(true);
    // No code point cut in half (a cut one would come back as U+FFFD or a lone surrogate).
    expect(resource).not.toContain("\uFFFD");
    expect(wellFormed(resource)).toBe(true);
    expect(bytes(kept)).toBeGreaterThan(1023 - 7 - 4);

    const bob = await login("bob");
    bob.client.write(`<message to='${second.jid}' type='chat' id='long-1'><body>to the renamed one</body></message>`);
    const got = await second.client.waitFor("<body>to the renamed one</body>");
    expect(got).toContain(`to="${second.jid}"`);
    // Not bounced to the sender, and not delivered to the session that kept the requested resource.
    bob.client.write("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>");
    const bobGot = await bob.client.waitFor(/id="after"/);
    expect(bobGot).not.toContain("jid-malformed");
    expect(bobGot).not.toContain('id="long-1"');
    expect(first.client.received).not.toContain("to the renamed one");
  });

  test("a short taken resource still gets the whole requested resource and a suffix", async () => {
    await login("carol", "phone");
    const second = await login("carol", "phone");
    expect(resourceOf(second.jid)).toMatch(/^phone-[0-9a-f]{6}$/);
  });
});

describe("renamedResource and utf8Prefix", () => {
  test("cut between code points, at most the bytes asked for", () => {
    expect(utf8Prefix("abc", 10)).toBe("abc");
    expect(utf8Prefix("aé", 2)).toBe("a");
    expect(utf8Prefix("😀😀", 7)).toBe("😀");
    expect(utf8Prefix("😀", 3)).toBe("");
    for (const requested of ["z".repeat(1023), "€".repeat(341), "😀".repeat(255) + "abc", "a" + "é".repeat(511)]) {
      const renamed = renamedResource(requested, "abcdef");
      expect(bytes(renamed)).toBeLessThanOrEqual(1023);
      expect(bytes(renamed)).toBeGreaterThanOrEqual(1023 - 3);
      expect(wellFormed(renamed)).toBe(true);
      expect(requested.startsWith(renamed.slice(0, -7))).toBe(true);
    }
  });
});
