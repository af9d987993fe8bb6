/**
 * Converse.js 14 (the real client, its npm package's prebuilt files) in Chromium against our
 * server over WebSocket: it logs in with a token (PLAIN through credentials_url, or our X-TOKEN
 * mechanism), finds what it asks the server for (disco, roster, ...) answered without an error in
 * the console, and a contact added by one user shows in both rosters.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { Browser, Page } from "playwright-core";
import { DEMO_DOMAIN, artifactPath, chromiumAvailable, collectPageErrors, describeWithChromium, launchChromium, startDemoServer, type DemoServer } from "./helpers/browser.js";
import { startConverseSite, type ConverseSite } from "./helpers/converse.js";

let demo: DemoServer;
let site: ConverseSite;
let browser: Browser;
const logLines: string[] = [];

beforeAll(async () => {
  if (!chromiumAvailable) return;
  // The demo server's XMPP side (users alice and bob on "localhost"); its demo app is not used here.
  demo = await startDemoServer(undefined, { info: (line) => logLines.push(line), warn: (line) => logLines.push(line) });
  site = await startConverseSite({ domain: DEMO_DOMAIN, keys: demo.keys, websocketUrl: demo.wsService, users: ["alice", "bob"] });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await demo?.server.close();
});

interface ConversePage {
  page: Page;
  /** Console errors and uncaught exceptions on the page. */
  errors: string[];
  /** Requests for anything but this machine (refused): there must be none. */
  offsite: string[];
  close(): Promise<void>;
}

async function openConverse(user: string, mechanism: "plain" | "x-token"): Promise<ConversePage> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const offsite: string[] = [];
  await context.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => {
    offsite.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${site.base}/converse/chat-${user}.html?mechanism=${mechanism}`);
  // Logged in, the roster fetched and shown: the user's own entry is in the contacts list.
  await page.waitForSelector(`#controlbox li.current-xmpp-contact [data-jid="${user}@${DEMO_DOMAIN}"]`, { timeout: 20_000 });
  return { page, errors, offsite, close: () => context.close() };
}

/** A roster entry's <li> in a Converse page. */
const contact = (jid: string) => `#controlbox li:has(> converse-roster-contact [data-jid="${jid}"])`;

describeWithChromium("Converse.js 14 in Chromium against our server", () => {
  test("alice (PLAIN, token from credentials_url) adds bob (our X-TOKEN mechanism); bob accepts; alice sees bob online; no console error, nothing fetched from off the machine", async () => {
    const alice = await openConverse("alice", "plain");
    const bob = await openConverse("bob", "x-token");
    expect(logLines).toContain("authenticated alice@localhost from 127.0.0.1 via PLAIN over websocket");
    expect(logLines).toContain("authenticated bob@localhost from 127.0.0.1 via X-TOKEN over websocket");

    // Alice adds bob through Converse's own "Add a contact" form.
    await alice.page.click("#controlbox .dropdown--contacts .dropdown-toggle");
    await alice.page.click("#controlbox .add-contact");
    await alice.page.fill('form.add-xmpp-contact input[name="jid"]', "bob@localhost");
    await alice.page.fill('form.add-xmpp-contact input[name="name"]', "Bob");
    await alice.page.click('form.add-xmpp-contact button[type="submit"]');
    // The roster push puts him in her roster, pending (ask="subscribe")...
    await alice.page.waitForSelector(`${contact("bob@localhost")}.pending-xmpp-contact`);
    expect(await alice.page.textContent(`${contact("bob@localhost")} .contact-name`)).toContain("Bob");
    // ...and her subscription request reaches bob as a contact request.
    await bob.page.waitForSelector(`${contact("alice@localhost")}.requesting-xmpp-contact`);
    await alice.page.screenshot({ path: artifactPath("converse-alice-added-bob.png") });
    await bob.page.screenshot({ path: artifactPath("converse-bob-request.png") });

    // Bob accepts (Converse answers "subscribed"): alice now sees bob online (subscription "to"),
    // bob has alice as a contact who sees him (subscription "from"), in both rosters on the server.
    await bob.page.click(`${contact("alice@localhost")} .dropdown-toggle`);
    await bob.page.click(`${contact("alice@localhost")} .accept-xmpp-request`);
    await bob.page.click('converse-accept-contact-request-modal button[type="submit"]');
    await alice.page.waitForSelector(`${contact("bob@localhost")}.current-xmpp-contact.to[data-status="online"]`);
    await bob.page.waitForSelector(`${contact("alice@localhost")}:not(.requesting-xmpp-contact)`);
    expect(demo.server.rosters.items("alice@localhost")).toEqual([{ jid: "bob@localhost", name: "Bob", subscription: "to", ask: false, groups: [] }]);
    expect(demo.server.rosters.items("bob@localhost")).toEqual([expect.objectContaining({ jid: "alice@localhost", subscription: "from", ask: false })]);
    await alice.page.screenshot({ path: artifactPath("converse-alice-contacts.png") });

    // A reload asks for the roster again: the server kept it.
    await alice.page.reload();
    await alice.page.waitForSelector(`${contact("bob@localhost")}.current-xmpp-contact.to[data-status="online"]`, { timeout: 20_000 });

    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
    expect(alice.offsite).toEqual([]);
    expect(bob.offsite).toEqual([]);
    expect(site.notFound).toEqual([]);
    await Promise.all([alice.close(), bob.close()]);
  }, 90_000);
});
