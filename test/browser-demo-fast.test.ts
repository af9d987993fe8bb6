/**
 * The demo page stays logged in with FAST (issue 20 item 6), in Chromium against the real server:
 * the first login fetches one X-TOKEN from the app's /api/token and asks for a FAST token, kept in
 * localStorage; a reload and a dropped connection (a real TCP proxy in front of the server cuts
 * every connection) log in again with HT-SHA-256-NONE, without calling /api/token. A FAST token
 * the server refuses, or a localStorage entry that is not a record, falls back to one fresh
 * X-TOKEN; signing out forgets the record.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { Browser, Page } from "playwright-core";
import { collectPageErrors, DEMO_PASSWORDS, describeWithChromium, chromiumAvailable, launchChromium, startDemoServer, type DemoServer, type DemoUser } from "./helpers/browser.js";
import { startCuttingProxy, type CuttingProxy } from "./helpers/cutting-proxy.js";

let demo: DemoServer;
let proxy: CuttingProxy;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!chromiumAvailable) return;
  demo = await startDemoServer();
  proxy = await startCuttingProxy(demo.server.ports.http!);
  base = `http://127.0.0.1:${proxy.port}`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await demo?.server.close();
});

interface Watched {
  page: Page;
  /** Requests the page made to the app's token endpoint. */
  tokenCalls(): number;
  /** Each login the page started, in order: `connection number: element mechanism` (from the WebSocket frames it sent). */
  logins: string[];
  errors: string[];
}

/** A new browser context signed in as `user` (through the proxy), watching its token calls and logins. */
async function signIn(user: DemoUser): Promise<Watched> {
  const context = await browser.newContext();
  const page = await context.newPage();
  let calls = 0;
  const logins: string[] = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/api/token") calls++;
  });
  let connections = 0;
  page.on("websocket", (ws) => {
    const connection = ++connections;
    ws.on("framesent", ({ payload }) => {
      const text = String(payload);
      const match = /<(authenticate|auth) [^>]*mechanism=["']([A-Z0-9-]+)["']/.exec(text);
      if (match) logins.push(`${connection}: ${match[1]} ${match[2]}${text.includes("<request-token") ? " +request-token" : ""}`);
    });
  });
  const errors = collectPageErrors(page);
  await page.goto(`${base}/`);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", DEMO_PASSWORDS[user]);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/chat`);
  await online(page);
  return { page, tokenCalls: () => calls, logins, errors };
}

function online(page: Page): Promise<unknown> {
  return page.waitForSelector('#state[data-state="online"]', { timeout: 20_000 });
}

/** The page's FAST record in localStorage, parsed (never printed: it holds a credential). */
async function storedRecord(page: Page, jid: string): Promise<Record<string, unknown> | null> {
  const text = await page.evaluate((key) => localStorage.getItem(key), `xmpp-x-token.fast.${jid}`);
  return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
}

describeWithChromium("the demo page stays logged in with FAST", () => {
  test("one token call for the first login; a reload and a dropped connection log in with FAST and call the app no more", async () => {
    const alice = await signIn("alice");
    expect(alice.tokenCalls()).toBe(1);
    expect(alice.logins).toEqual(["1: authenticate X-TOKEN +request-token"]); // SASL2, asking for a FAST token
    const record = await storedRecord(alice.page, "alice@localhost");
    expect(record).toMatchObject({ format: "xmpp-x-token/fast-state@1", jid: "alice@localhost", token: { mechanism: "HT-SHA-256-NONE" } });
    expect(record!.userAgentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    await alice.page.reload();
    await online(alice.page);
    expect(alice.tokenCalls()).toBe(1);
    expect(alice.logins).toEqual(["1: authenticate X-TOKEN +request-token", "2: authenticate HT-SHA-256-NONE"]);
    // The same user agent: the id is kept across reloads, the server bound the token to it.
    expect((await storedRecord(alice.page, "alice@localhost"))!.userAgentId).toBe(record!.userAgentId);

    // A network change: every connection through the proxy is reset; the page reconnects by itself.
    const reconnected = alice.page.waitForEvent("websocket");
    proxy.cut();
    await reconnected;
    await online(alice.page);
    expect(alice.tokenCalls()).toBe(1);
    expect(alice.logins).toEqual(["1: authenticate X-TOKEN +request-token", "2: authenticate HT-SHA-256-NONE", "3: authenticate HT-SHA-256-NONE"]);
    expect(alice.errors).toEqual([]);
    await alice.page.context().close();
  }, 60_000);

  test("a FAST token the server refuses: one fresh X-TOKEN on the same stream, and a new FAST token stored", async () => {
    const bob = await signIn("bob");
    expect(bob.tokenCalls()).toBe(1);
    const before = await storedRecord(bob.page, "bob@localhost");
    // The stored token changed under the page (as if the server had forgotten it): FAST is refused.
    await bob.page.evaluate((key) => {
      const record = JSON.parse(localStorage.getItem(key)!) as { token: { token: string } };
      record.token.token = `${record.token.token}-not-any-more`;
      localStorage.setItem(key, JSON.stringify(record));
    }, "xmpp-x-token.fast.bob@localhost");
    await bob.page.reload();
    await online(bob.page);
    expect(bob.tokenCalls()).toBe(2);
    expect(bob.logins.slice(1)).toEqual(["2: authenticate HT-SHA-256-NONE", "2: authenticate X-TOKEN +request-token"]); // the same stream
    const after = await storedRecord(bob.page, "bob@localhost");
    expect(after!.userAgentId).toBe(before!.userAgentId);
    expect((after!.token as { token: string }).token).not.toBe((before!.token as { token: string }).token);
    // And the new one works: a reload calls the app no more.
    await bob.page.reload();
    await online(bob.page);
    expect(bob.tokenCalls()).toBe(2);
    expect(bob.logins.at(-1)).toBe("3: authenticate HT-SHA-256-NONE");
    expect(bob.errors).toEqual([]);
    await bob.page.context().close();
  }, 60_000);

  test("a localStorage entry that is not a record is dropped: one fresh X-TOKEN, no page error; signing out forgets the record", async () => {
    const alice = await signIn("alice");
    await alice.page.evaluate((key) => localStorage.setItem(key, "{ not a record"), "xmpp-x-token.fast.alice@localhost");
    await alice.page.reload();
    await online(alice.page);
    expect(alice.tokenCalls()).toBe(2);
    expect(await storedRecord(alice.page, "alice@localhost")).toMatchObject({ jid: "alice@localhost", token: { mechanism: "HT-SHA-256-NONE" } });

    await alice.page.click("#signout button");
    await alice.page.waitForURL(/\/\?signed-out=1$/);
    expect(await storedRecord(alice.page, "alice@localhost")).toBeNull();
    expect(alice.errors).toEqual([]);
    await alice.page.context().close();
  }, 60_000);
});
