/**
 * The demo page as a person sees it, in Chromium: the sign-in form a password manager fills, the
 * layout on a desktop and on a 390 px phone (screenshots in test-results/), what the page says
 * when its user is alone online, and the offline state when the server stops, then the reconnect
 * with a fresh token when it is back.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { Browser, Page } from "playwright-core";
import {
  artifactPath,
  chromiumAvailable,
  collectPageErrors,
  describeWithChromium,
  launchChromium,
  signInDemo,
  startDemoServer,
  type DemoServer,
  type DemoUser,
} from "./helpers/browser.js";

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 720 };

let demo: DemoServer;
let browser: Browser;

beforeAll(async () => {
  if (!chromiumAvailable) return;
  demo = await startDemoServer();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await demo?.server.close();
});

/** The layout facts a test can check: nothing wider than the viewport, and the header's height. */
async function layout(page: Page): Promise<{ documentWidth: number; viewportWidth: number; headerHeight: number }> {
  return page.evaluate(() => ({
    documentWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
    headerHeight: document.querySelector("header")?.getBoundingClientRect().height ?? 0,
  }));
}

async function text(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? "").trim();
}

function signIn(user: DemoUser, viewport = DESKTOP) {
  return signInDemo(browser, demo.base, user, viewport);
}

describeWithChromium("the demo page in Chromium: layout and states", () => {
  test("the sign-in page names where the password comes from, and its fields carry autocomplete for password managers", async () => {
    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${demo.base}/`);
    expect(await page.getAttribute("input[name=username]", "autocomplete")).toBe("username");
    expect(await page.getAttribute("input[name=password]", "autocomplete")).toBe("current-password");
    expect(await page.getAttribute("input[name=password]", "type")).toBe("password");
    // The username field is a text input (a <select> is not recognised as a username), with the demo users suggested.
    expect(await page.$$eval("#demo-users option", (options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(["alice", "bob"]);
    expect(await text(page, ".hint")).toMatch(/The password is the one npm start printed/);
    const { documentWidth, viewportWidth } = await layout(page);
    expect(documentWidth).toBeLessThanOrEqual(viewportWidth);
    await page.screenshot({ path: artifactPath("demo-signin-390.png"), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  test("alone online: the recipient box and a note say why Send is off; it turns on when someone comes online", async () => {
    const alice = await signIn("alice", PHONE);
    const errors = collectPageErrors(alice.page);
    await alice.page.waitForSelector('#send-note:has-text("no one else is online")');
    expect(await alice.page.isDisabled("#send button")).toBe(true);
    expect(await alice.page.isDisabled("#to")).toBe(true);
    expect(await text(alice.page, "#to option")).toBe("no one else is online");
    expect(await text(alice.page, "#online")).toBe("alice@localhost (you)");
    expect(await text(alice.page, "#roster-note")).toBe("No one else is online yet.");

    // At 390 px: no horizontal scrolling, and the header is two short lines at most.
    const phone = await layout(alice.page);
    expect(phone.viewportWidth).toBe(PHONE.width);
    expect(phone.documentWidth).toBeLessThanOrEqual(phone.viewportWidth);
    expect(phone.headerHeight).toBeLessThanOrEqual(80);
    await alice.page.screenshot({ path: artifactPath("demo-chat-alone-390.png"), fullPage: true });

    const bob = await signIn("bob", DESKTOP);
    await alice.page.waitForSelector('#to option[value="bob@localhost"]', { state: "attached" });
    expect(await alice.page.isDisabled("#send button")).toBe(false);
    expect(await text(alice.page, "#send-note")).toBe("");
    await alice.page.fill("#body", "a long message that has to wrap on a phone rather than widen the page: " + "x".repeat(80));
    await alice.page.click("#send button");
    await bob.page.waitForSelector('#log li.theirs:has-text("a long message")');
    await bob.page.fill("#body", "hi alice");
    await bob.page.click("#send button");
    await alice.page.waitForSelector('#log li.theirs:has-text("hi alice")');

    const phoneChat = await layout(alice.page);
    expect(phoneChat.documentWidth).toBeLessThanOrEqual(phoneChat.viewportWidth);
    expect(phoneChat.headerHeight).toBeLessThanOrEqual(80);
    await alice.page.screenshot({ path: artifactPath("demo-chat-390.png"), fullPage: true });

    const desktop = await layout(bob.page);
    expect(desktop.documentWidth).toBeLessThanOrEqual(desktop.viewportWidth);
    expect(desktop.headerHeight).toBeLessThanOrEqual(60); // one line
    await bob.page.screenshot({ path: artifactPath("demo-chat-desktop.png") });

    // Bob leaves: alice is alone again, and the page says so.
    await bob.context.close();
    await alice.page.waitForSelector('#send-note:has-text("no one else is online")');
    expect(await alice.page.isDisabled("#send button")).toBe(true);
    expect(errors).toEqual([]);
    await alice.context.close();
  });

  // Last in this file: it stops the file's server and starts another on the same port.
  test("the server stops: a clear offline state, nobody listed online; it comes back: reconnect with a fresh token", async () => {
    const alice = await signIn("alice", PHONE);
    expect(alice.tokens).toHaveLength(1);
    await demo.server.close();

    await alice.page.waitForSelector('#state[data-state="offline"]');
    const badge = await text(alice.page, "#state");
    expect(badge).not.toMatch(/disconnect/i);
    expect(badge).toMatch(/offline|reconnecting/);
    expect(await alice.page.$$("#online li")).toHaveLength(0); // no green dot for anyone
    expect(await text(alice.page, "#roster-note")).toMatch(/^You are offline.*Reconnecting…$/);
    expect(await alice.page.isDisabled("#send button")).toBe(true);
    expect(await text(alice.page, "#send-note")).toBe("Send is off: you are offline.");
    await alice.page.screenshot({ path: artifactPath("demo-chat-offline-390.png"), fullPage: true });

    demo = await startDemoServer(demo); // same port, keys and sign-in sessions
    await alice.page.waitForSelector('#state[data-state="online"]', { timeout: 20_000 });
    expect(alice.tokens.length).toBeGreaterThanOrEqual(2);
    expect(new Set(alice.tokens).size).toBe(alice.tokens.length);
    expect(await text(alice.page, "#online")).toBe("alice@localhost (you)");
    await alice.context.close();
  }, 40_000);
});
