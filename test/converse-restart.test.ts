/**
 * Converse.js 14 in Chromium against a real `x-token serve` child process that keeps its data in
 * SQLite (a temporary XTOKEN_DATA_DIR) and is killed with SIGKILL in between: a contact added in
 * Converse is in the roster the server sends after the restart (to a new browser context, so
 * nothing Converse cached can stand in for it), and a chat message sent to a user who is offline
 * reaches them at their next login with its XEP-0203 delay stamp, also when the server was killed
 * between the two. No console error on any page.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { DEMO_DOMAIN, artifactPath, chromiumAvailable, describeWithChromium, launchChromium } from "./helpers/browser.js";
import { converseContact as contact, converseRoundTrip, openConverse, startConverseSite, type ConverseSession, type ConverseSite } from "./helpers/converse.js";
import { startServe, type ServeProcess } from "./helpers/serve-process.js";
import { freshKey } from "./helpers/server.js";

const ALICE = `alice@${DEMO_DOMAIN}`;
const BOB = `bob@${DEMO_DOMAIN}`;
const key = freshKey();
let root: string;
let dataDir: string;
let env: NodeJS.ProcessEnv;
let serve: ServeProcess | undefined;
let site: ConverseSite;
let browser: Browser;
/** The pages of the test running now: closed after it, whatever happened. */
const open: ConverseSession[] = [];

beforeAll(async () => {
  if (!chromiumAvailable) return;
  root = mkdtempSync(join(tmpdir(), "x-token-converse-restart-"));
  dataDir = join(root, "data");
  const configFile = join(root, "config.json");
  // What `serve --dev` sets up for a browser on this machine (ws:// from loopback counts as
  // TLS-protected), with c2s on plain TCP (unused here) and the default roster presence rules.
  writeFileSync(
    configFile,
    JSON.stringify({
      domains: { [DEMO_DOMAIN]: { keys: [key] } },
      listeners: { host: "127.0.0.1", c2sPort: 0, httpPort: 0 },
      requireTls: false,
      loopbackWebSocketIsSecure: true,
    }),
  );
  env = { XTOKEN_CONFIG: configFile, XTOKEN_DATA_DIR: dataDir };
  serve = await startServe(env);
  expect(serve.stdout()).toContain(`SQLite in ${join(dataDir, "x-token.sqlite")}`);
  // Converse's page names one WebSocket URL: every restart listens on the same HTTP port.
  site = await startConverseSite({ domain: DEMO_DOMAIN, keys: [key], websocketUrl: `ws://127.0.0.1:${serve.http}/xmpp-websocket`, users: ["alice", "bob"] });
  browser = await launchChromium();
}, 60_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await serve?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function login(user: "alice" | "bob", mechanism: "plain" | "x-token" = "plain"): Promise<ConverseSession> {
  const session = await openConverse(browser, site, user, mechanism, DEMO_DOMAIN);
  open.push(session);
  return session;
}

/** Closes the page (its WebSocket goes with it) and its browser context with its storage. */
async function logout(session: ConverseSession): Promise<void> {
  if (open.includes(session)) open.splice(open.indexOf(session), 1);
  await session.close();
}

/**
 * Ends the server at once, as a crash or an out-of-memory kill would, runs `whileDown` (closing the
 * pages, so that Converse does not reconnect to the new server by itself), and starts the server
 * again on the same data directory and HTTP port.
 */
async function killAndRestart(whileDown: () => Promise<unknown> = async () => {}): Promise<void> {
  const old = serve!;
  const exited = new Promise((resolve) => old.child.once("exit", resolve));
  old.child.kill("SIGKILL");
  await exited;
  expect(old.child.signalCode).toBe("SIGKILL");
  await whileDown();
  serve = await startServe({ ...env, XMPP_HTTP_PORT: String(old.http) });
  expect(serve.http).toBe(old.http);
}

const ERROR_STANZA = /^<(iq|message|presence)\b[^>]*\stype=["']error["']/;

/**
 * The server's error answers to what this test is about: any message or presence of type error,
 * and errors to roster or ping requests. (Converse also asks for what this server does not offer,
 * PEP nodes and vCards, and is answered item-not-found / service-unavailable: not counted.)
 */
function errorStanzas(session: ConverseSession): string[] {
  return session.received.filter((frame) => {
    if (!ERROR_STANZA.test(frame)) return false;
    if (!frame.startsWith("<iq")) return true;
    const id = /\sid=["']([^"']+)["']/.exec(frame)?.[1];
    const request = id && session.sent.find((sent) => sent.startsWith("<iq") && (sent.includes(`id="${id}"`) || sent.includes(`id='${id}'`)));
    return !request || /jabber:iq:roster|urn:xmpp:ping/.test(request);
  });
}

/** Every page's console errors, uncaught exceptions, error stanzas and off-machine requests (all must be empty). */
function problems(...sessions: ConverseSession[]) {
  return {
    errors: sessions.flatMap((s) => s.errors),
    errorStanzas: sessions.flatMap(errorStanzas),
    offsite: sessions.flatMap((s) => s.offsite),
    notFound: site.notFound,
  };
}
const NONE = { errors: [], errorStanzas: [], offsite: [], notFound: [] };

/** Polls `read` until it returns `expected` (10 s at most). */
async function until<T>(read: () => T, expected: T): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (read() !== expected) {
    if (Date.now() > deadline) throw new Error(`still ${String(read())}, not ${String(expected)}, after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An <item/> of a roster result or push in the frames a page received, with these attributes in any order. */
function rosterItem(frames: string[], jid: string, attrs: Record<string, string>): string | undefined {
  const pattern = new RegExp(`<item(?=[^>]*\\sjid=["']${jid.replace(/\./g, "\\.")}["'])${Object.entries(attrs).map(([name, value]) => `(?=[^>]*\\s${name}=["']${value}["'])`).join("")}[^>]*>`);
  return frames.find((frame) => frame.includes("jabber:iq:roster") && pattern.test(frame));
}

/** Alice opens the chat with bob in Converse and sends `text`. */
async function sendToBob(alice: ConverseSession, text: string): Promise<void> {
  const chat = alice.page.locator(`converse-chat[jid="${BOB}"]`);
  if (!(await chat.isVisible())) await alice.page.click(`${contact(BOB)} a.open-chat`);
  const textarea = chat.locator("textarea.chat-textarea");
  await textarea.fill(text);
  await textarea.press("Enter");
  await chat.locator(".chat-msg__text", { hasText: text }).waitFor();
  await until(() => alice.sent.some((frame) => frame.includes(text)), true);
}

/**
 * Waits until bob's Converse shows alice's `text` as a delayed message, and checks the <message>
 * the server sent with it: its <delay/> must be the server's (from the domain), stamped when the
 * message was stored (after `sentAfter`, before `before`), which is also the time Converse shows.
 */
async function expectDelayed(bob: ConverseSession, text: string, sentAfter: number, before: number): Promise<void> {
  const message = bob.page.locator(`converse-chat[jid="${ALICE}"] .chat-msg`, { hasText: text });
  await message.waitFor({ timeout: 15_000 });
  expect(await message.getAttribute("class")).toMatch(/\bdelayed\b/);
  expect(await message.locator(".chat-msg__body").getAttribute("class")).toContain("chat-msg__body--delayed");
  const stanza = bob.received.find((frame) => frame.startsWith("<message") && frame.includes(text));
  expect(stanza).toBeDefined();
  expect(stanza).toMatch(new RegExp(`from=["']${ALICE}/`));
  expect(stanza).toMatch(/type=["']chat["']/);
  const delay = /<delay(?=[^>]*xmlns=["']urn:xmpp:delay["'])(?=[^>]*from=["']localhost["'])[^>]*stamp=["']([^"']+)["'][^>]*>Offline Storage<\/delay>/.exec(stanza!);
  expect(delay).not.toBeNull();
  const stamp = Date.parse(delay![1]!);
  expect(stamp).toBeGreaterThanOrEqual(sentAfter - 1000);
  expect(stamp).toBeLessThanOrEqual(before);
  // Converse dates the message by the stamp, not by when it arrived.
  expect(Date.parse((await message.getAttribute("data-isodate"))!)).toBe(stamp);
}

describeWithChromium("Converse.js 14 across restarts of a real x-token serve (SQLite, SIGKILL)", () => {
  test("alice adds bob (named Bob) and bob accepts; the server is SIGKILLed and restarted; in new browser contexts both rosters come from the server as they were, and alice sees bob come online", async () => {
    const alice = await login("alice");
    const bob = await login("bob", "x-token");
    const log = serve!.stdout() + serve!.stderr();
    expect(log).toContain(`authenticated ${ALICE} from 127.0.0.1 via PLAIN over websocket`);
    expect(log).toContain(`authenticated ${BOB} from 127.0.0.1 via X-TOKEN over websocket`);

    await alice.page.click("#controlbox .dropdown--contacts .dropdown-toggle");
    await alice.page.click("#controlbox .add-contact");
    await alice.page.fill('form.add-xmpp-contact input[name="jid"]', BOB);
    await alice.page.fill('form.add-xmpp-contact input[name="name"]', "Bob");
    await alice.page.click('form.add-xmpp-contact button[type="submit"]');
    await alice.page.waitForSelector(`${contact(BOB)}.pending-xmpp-contact`);
    await bob.page.waitForSelector(`${contact(ALICE)}.requesting-xmpp-contact`);
    await bob.page.click(`${contact(ALICE)} .dropdown-toggle`);
    await bob.page.click(`${contact(ALICE)} .accept-xmpp-request`);
    await bob.page.click('converse-accept-contact-request-modal button[type="submit"]');
    await alice.page.waitForSelector(`${contact(BOB)}.current-xmpp-contact.to[data-status="online"]`);
    await bob.page.waitForSelector(`${contact(ALICE)}:not(.requesting-xmpp-contact)`);
    expect(problems(alice, bob)).toEqual(NONE);

    // The instant both pages show it, the server dies; the pages go with their browser storage.
    await killAndRestart(() => Promise.all([logout(alice), logout(bob)]));

    const alice2 = await login("alice");
    // Bob with his name, subscription "to", from the roster result the server sent this page.
    await alice2.page.waitForSelector(`${contact(BOB)}.current-xmpp-contact.to`);
    expect(await alice2.page.textContent(`${contact(BOB)} .contact-name`)).toContain("Bob");
    expect(rosterItem(alice2.received, BOB, { name: "Bob", subscription: "to" })).toBeDefined();
    expect(alice2.received.join("")).not.toMatch(/ask=["']subscribe["']/);
    // He has not logged in since the restart.
    expect(await alice2.page.getAttribute(`${contact(BOB)}`, "data-status")).toBe("offline");

    const bob2 = await login("bob", "x-token");
    await bob2.page.waitForSelector(`${contact(ALICE)}:not(.requesting-xmpp-contact)`);
    expect(rosterItem(bob2.received, ALICE, { subscription: "from" })).toBeDefined();
    // No subscription request again: it was answered before the crash.
    expect(bob2.received.join("")).not.toMatch(/type=["']subscribe["']/);
    expect(await bob2.page.locator(`${contact(ALICE)}.requesting-xmpp-contact`).count()).toBe(0);
    // Bob's initial presence goes to alice, who is subscribed to it (the subscription the server kept).
    await alice2.page.waitForSelector(`${contact(BOB)}.current-xmpp-contact.to[data-status="online"]`, { timeout: 15_000 });
    await alice2.page.screenshot({ path: artifactPath("converse-restart-alice-roster.png") });
    await bob2.page.screenshot({ path: artifactPath("converse-restart-bob-roster.png") });

    expect(problems(alice2, bob2)).toEqual(NONE);
    await Promise.all([logout(alice2), logout(bob2)]);
  }, 120_000);

  // Goes on from the test above: bob is alice's contact, and has logged in before.
  test("alice sends bob, who has not logged in since a restart, a chat message: he gets it at his next login with the server's delay stamp; another one sent before a SIGKILL reaches him after the restart, the first not again", async () => {
    // This server process has never seen bob: it knows his account from its database.
    await killAndRestart();
    const alice = await login("alice");
    await alice.page.waitForSelector(`${contact(BOB)}[data-status="offline"]`);

    const first = "Are you there? (sent while you were offline)";
    const firstSentAt = Date.now();
    await sendToBob(alice, first);
    await converseRoundTrip(alice);

    let loggingIn = Date.now();
    const bob = await login("bob");
    await expectDelayed(bob, first, firstSentAt, loggingIn);
    // Converse asked for a receipt; bob's answer reaches alice, who is still online: the message shows as delivered.
    await alice.page.locator(`converse-chat[jid="${BOB}"] .chat-msg`, { hasText: first }).locator(".chat-msg__receipt").waitFor({ timeout: 15_000 });
    await bob.page.screenshot({ path: artifactPath("converse-offline-message.png") });
    expect(problems(bob)).toEqual(NONE);
    await logout(bob);
    await alice.page.waitForSelector(`${contact(BOB)}[data-status="offline"]`);

    // Again, and the server is killed the instant it has handled the message: its answer to a
    // ping alice's Converse sent after it on the same stream is in.
    const second = "Still there after the crash?";
    const secondSentAt = Date.now();
    await sendToBob(alice, second);
    await converseRoundTrip(alice);
    // alice's page got no error for either message (no bounce: the server kept them), nor for anything else.
    expect(problems(alice)).toEqual(NONE);
    await killAndRestart(() => logout(alice));

    loggingIn = Date.now();
    const bob2 = await login("bob");
    await expectDelayed(bob2, second, secondSentAt, loggingIn);
    // Only what was still waiting: the first message was delivered before the crash and is not sent again.
    expect(bob2.received.filter((frame) => frame.includes(first))).toEqual([]);
    expect(await bob2.page.locator(".chat-msg", { hasText: first }).count()).toBe(0);
    await bob2.page.screenshot({ path: artifactPath("converse-offline-message-after-restart.png") });
    expect(problems(bob2)).toEqual(NONE);
    await logout(bob2);
  }, 120_000);
});
