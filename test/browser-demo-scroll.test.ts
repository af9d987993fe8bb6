/**
 * The demo page with a long conversation, in Chromium at 1280 px and at 390 px (issue 22 item 15):
 * the page itself never grows past the window, the message log scrolls inside its pane, the input
 * and the newest message stay in view, and the log follows new messages unless the reader has
 * scrolled up (then a button leads back down). And the sign-in page's own words (item 16): the hint
 * quotes the banner, a wrong password keeps the username, signing out says so.
 * Screenshots: test-results/demo-chat-long-*.png.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { Browser, Page } from "playwright-core";
import {
  artifactPath,
  chromiumAvailable,
  collectPageErrors,
  DEMO_PASSWORDS,
  describeWithChromium,
  launchChromium,
  signInDemo,
  startDemoServer,
  type DemoServer,
  type SignedIn,
} from "./helpers/browser.js";

const VIEWPORTS = { desktop: { width: 1280, height: 720 }, phone: { width: 390, height: 844 } };

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

/** Where things are, in the reader's window. */
function geometry(page: Page) {
  return page.evaluate(() => {
    const log = document.getElementById("log")!;
    const rect = (el: Element | null) => el?.getBoundingClientRect() ?? null;
    const items = log.querySelectorAll("li");
    return {
      viewportHeight: window.innerHeight,
      documentHeight: document.documentElement.scrollHeight,
      documentWidth: document.documentElement.scrollWidth,
      viewportWidth: window.innerWidth,
      input: rect(document.getElementById("body")),
      send: rect(document.querySelector("#send button")),
      log: rect(log),
      newest: rect(items[items.length - 1] ?? null),
      scrollTop: log.scrollTop,
      scrollable: log.scrollHeight - log.clientHeight,
      newerHidden: (document.getElementById("newer") as HTMLButtonElement).hidden,
      messages: items.length,
    };
  });
}

async function sendFrom(from: SignedIn, text: string): Promise<void> {
  await from.page.fill("#body", text);
  await from.page.click("#send button");
}

describeWithChromium("the demo page with a long conversation", () => {
  test.each(Object.entries(VIEWPORTS))("%s: the log scrolls inside its pane and follows new messages unless the reader scrolled up", async (name, viewport) => {
    const alice = await signInDemo(browser, demo.base, "alice", viewport);
    const bob = await signInDemo(browser, demo.base, "bob", VIEWPORTS.desktop);
    const errors = collectPageErrors(alice.page);
    await alice.page.waitForSelector('#to option[value="bob@localhost"]', { state: "attached" });
    await bob.page.waitForSelector('#to option[value="alice@localhost"]', { state: "attached" });

    // Forty messages, some long enough to wrap: far more than the window holds.
    for (let i = 1; i <= 40; i++) await sendFrom(bob, i % 7 === 0 ? `message ${i}: ${"a longer line that wraps on a phone ".repeat(3)}` : `message ${i}`);
    await alice.page.waitForSelector('#log li.theirs:has-text("message 40")');
    let g = await geometry(alice.page);
    expect(g.messages).toBe(40);
    // The page does not scroll: everything fits the window, nothing is below the fold.
    expect(g.documentHeight).toBeLessThanOrEqual(g.viewportHeight);
    expect(g.documentWidth).toBeLessThanOrEqual(g.viewportWidth);
    expect(g.input!.bottom).toBeLessThanOrEqual(g.viewportHeight);
    expect(g.send!.bottom).toBeLessThanOrEqual(g.viewportHeight);
    // The log scrolls, and it followed: the newest message is inside the log's pane.
    expect(g.scrollable).toBeGreaterThan(0);
    expect(g.newest!.bottom).toBeLessThanOrEqual(g.log!.bottom + 1);
    expect(g.newest!.top).toBeGreaterThanOrEqual(g.log!.top - 1);
    expect(g.newerHidden).toBe(true);
    await alice.page.screenshot({ path: artifactPath(`demo-chat-long-${viewport.width}.png`) });

    // The reader scrolls up to read: a new message does not pull them down; a button says there is more.
    await alice.page.evaluate(() => (document.getElementById("log")!.scrollTop = 0));
    await sendFrom(bob, "message 41");
    await alice.page.waitForSelector('#log li.theirs:has-text("message 41")');
    g = await geometry(alice.page);
    expect(g.scrollTop).toBe(0);
    expect(g.newerHidden).toBe(false);
    await alice.page.screenshot({ path: artifactPath(`demo-chat-long-scrolled-up-${viewport.width}.png`) });
    await alice.page.click("#newer");
    g = await geometry(alice.page);
    expect(g.scrollTop).toBeGreaterThanOrEqual(g.scrollable - 1);
    expect(g.newerHidden).toBe(true);

    // Scrolled up again, the reader sends: their own message brings them to the newest.
    await alice.page.evaluate(() => (document.getElementById("log")!.scrollTop = 0));
    await sendFrom(alice, `reply from ${name}`);
    g = await geometry(alice.page);
    expect(g.scrollTop).toBeGreaterThanOrEqual(g.scrollable - 1);
    expect(g.newest!.bottom).toBeLessThanOrEqual(g.log!.bottom + 1);
    expect(errors).toEqual([]);
    await Promise.all([alice.context.close(), bob.context.close()]);
  }, 90_000);
});

describeWithChromium("the sign-in page's words", () => {
  test("the hint quotes the banner's 'Demo users:'; a wrong password keeps the username and focuses the password", async () => {
    const context = await browser.newContext({ viewport: VIEWPORTS.phone });
    const page = await context.newPage();
    await page.goto(`${demo.base}/`);
    expect(await page.textContent(".hint")).toContain("(Demo users: alice / …)");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("username");
    await page.fill("input[name=username]", "alice");
    await page.fill("input[name=password]", "not-the-password");
    await page.click("button[type=submit]");
    await page.waitForSelector(".error");
    expect(await page.textContent(".error")).toBe("Wrong username or password.");
    expect(await page.inputValue("input[name=username]")).toBe("alice");
    expect(await page.inputValue("input[name=password]")).toBe("");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("password");
    // Only the password is typed again.
    await page.fill("input[name=password]", DEMO_PASSWORDS.alice);
    await page.click("button[type=submit]");
    await page.waitForURL(`${demo.base}/chat`);
    await context.close();
  });

  test("signing out says so", async () => {
    const alice = await signInDemo(browser, demo.base, "alice", VIEWPORTS.desktop);
    await alice.page.click("#signout button");
    await alice.page.waitForURL(`${demo.base}/?signed-out=1`);
    expect(await alice.page.textContent(".notice")).toBe("You are signed out. Your chat session was closed.");
    expect(await alice.page.getAttribute(".notice", "role")).toBe("status");
    await alice.page.screenshot({ path: artifactPath("demo-signed-out-1280.png") });
    await alice.context.close();
  });
});
