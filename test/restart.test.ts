/**
 * Restarts of a real `x-token serve` on one data directory (SQLite): what the server acknowledged
 * before it stopped, gracefully (SIGTERM) or not (SIGKILL the instant after the answer), is there
 * after it starts again: used tokens stay used, roster items, subscription states and waiting
 * subscription requests stay. With the memory engine, the banner says what a restart loses.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintToken } from "../src/core/token/mint.js";
import { login, startServe, type ServeProcess } from "./helpers/serve-process.js";
import { RawClient, saslAuth, streamHeader } from "./helpers/server.js";

const DOMAIN = "example.test";
const KEY = { tokenSecret: "restart-test-secret-of-enough-length", otpSeed: "XVGR73KMZH2M4XMY" };
const dataDir = mkdtempSync(join(tmpdir(), "x-token-restart-"));
const ENV = { XTOKEN_DOMAIN: DOMAIN, XTOKEN_SECRET: KEY.tokenSecret, XTOKEN_OTP_SEED: KEY.otpSeed, XMPP_REQUIRE_TLS: "false", XTOKEN_DATA_DIR: dataDir };

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const token = (localpart: string) => mintToken({ jid: `${localpart}@${DOMAIN}`, key: [KEY] });

/** Ends the process at once, as a crash or an out-of-memory kill would. */
async function kill(p: ServeProcess): Promise<void> {
  const exited = new Promise((resolve) => p.child.once("exit", resolve));
  p.child.kill("SIGKILL");
  await exited;
}

/** A bound session over plain TCP (the test server does not require TLS). */
async function session(port: number, localpart: string, resource = "r"): Promise<RawClient> {
  const client = await RawClient.connect(port);
  client.write(streamHeader(DOMAIN));
  await client.waitFor("</stream:features>");
  client.clear();
  client.write(saslAuth(localpart, token(localpart)));
  await client.waitFor("<success");
  client.clear();
  client.write(streamHeader(DOMAIN));
  await client.waitFor("</stream:features>");
  client.clear();
  client.write(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  await client.waitFor("</jid>");
  client.clear();
  return client;
}

async function rosterOf(port: number, localpart: string): Promise<string> {
  const client = await session(port, localpart, "check");
  client.write("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>");
  const text = await client.waitFor(/id=["']roster["'][\s\S]*<\/iq>/);
  client.destroy();
  return text;
}

describe("x-token serve remembers across restarts (SQLite in XTOKEN_DATA_DIR)", () => {
  test("a used token is refused after a SIGTERM restart and after a SIGKILL the instant after its success", async () => {
    const first = await startServe(ENV);
    expect(first.stdout()).toContain(`Storage:`);
    expect(first.stdout()).toContain(`SQLite in ${join(dataDir, "x-token.sqlite")}`);
    const graceful = token("alice");
    expect(await login(first.c2s, DOMAIN, "alice", graceful)).toBe("success");
    await first.stop();
    expect(first.child.exitCode).toBe(0);

    const second = await startServe(ENV);
    expect(await login(second.c2s, DOMAIN, "alice", graceful)).toBe("not-authorized");
    const crashed = token("bob");
    expect(await login(second.c2s, DOMAIN, "bob", crashed)).toBe("success");
    await kill(second);

    const third = await startServe(ENV);
    try {
      expect(await login(third.c2s, DOMAIN, "bob", crashed)).toBe("not-authorized");
      expect(await login(third.c2s, DOMAIN, "alice", graceful)).toBe("not-authorized");
      // A fresh token still logs in: the store refuses replays, not logins.
      expect(await login(third.c2s, DOMAIN, "bob", token("bob"))).toBe("success");
    } finally {
      await third.stop();
    }
  });

  test("a roster item, a subscription both ways and a waiting request are there after a SIGKILL", async () => {
    const first = await startServe(ENV);
    const alice = await session(first.c2s, "alice");
    const bob = await session(first.c2s, "bob");
    alice.write("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>");
    bob.write("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq><presence/>");
    await alice.waitFor(/id=["']r0["']/);
    await bob.waitFor(/id=["']r0["']/);
    // alice asks bob, bob approves: alice has `to`, bob has `from`.
    alice.write(`<presence to='bob@${DOMAIN}' type='subscribe'/>`);
    await bob.waitFor(/type=["']subscribe["']/);
    bob.write(`<presence to='alice@${DOMAIN}' type='subscribed'/>`);
    await alice.waitFor(/subscription=["']to["']/);
    // A request to carol, who has never been online here: it waits.
    alice.write(`<presence to='carol@${DOMAIN}' type='subscribe'/>`);
    await alice.waitFor(/jid=["']carol@example\.test["'][^>]*ask=["']subscribe["']|ask=["']subscribe["'][^>]*jid=["']carol@example\.test["']/);
    alice.clear();
    alice.write(`<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='dave@${DOMAIN}' name='Dave'><group>Friends</group></item></query></iq>`);
    await alice.waitFor(/type=["']result["'][^>]*id=["']add["']|id=["']add["'][^>]*type=["']result["']/);
    await kill(first);
    alice.destroy();
    bob.destroy();

    const second = await startServe(ENV);
    try {
      const aliceRoster = await rosterOf(second.c2s, "alice");
      expect(aliceRoster).toMatch(/<item jid=["']bob@example\.test["'] subscription=["']to["']\/>/);
      expect(aliceRoster).toMatch(/<item jid=["']carol@example\.test["'] subscription=["']none["'] ask=["']subscribe["']\/>/);
      expect(aliceRoster).toMatch(/<item jid=["']dave@example\.test["'] subscription=["']none["'] name=["']Dave["']><group>Friends<\/group><\/item>/);
      expect(await rosterOf(second.c2s, "bob")).toMatch(/<item jid=["']alice@example\.test["'] subscription=["']from["']\/>/);
      // carol's first initial presence shows the request that waited through the crash.
      const carol = await session(second.c2s, "carol");
      carol.write("<presence/>");
      await carol.waitFor(/<presence[^>]*type=["']subscribe["'][^>]*from=["']alice@example\.test["']|<presence[^>]*from=["']alice@example\.test["'][^>]*type=["']subscribe["']/);
      carol.destroy();
    } finally {
      await second.stop();
    }
  });

  test("with XTOKEN_STORAGE=memory the banner says loudly that a restart loses everything", async () => {
    const p = await startServe({ ...ENV, XTOKEN_STORAGE: "memory" });
    try {
      expect(p.stdout()).toMatch(/Storage: +IN MEMORY: used tokens, rosters, offline messages and sign-ins are lost at every restart\n/);
    } finally {
      await p.stop();
    }
  });
});
