/**
 * The demo's two-factor sign-in in Chromium (issue 19 section 4), against the real server and
 * demo app sharing one storage and one login policy, as `x-token serve` wires them: a user
 * enrols from the page (QR code and otpauth URI shown, confirmed by a code), signs out, signs in
 * with password then code, and chats; a wrong code is refused with a clear message; the code
 * used on the web is refused over XMPP. Codes come from oathtool (a second implementation). At
 * 1280 px and at 390 px: nothing wider than the window, the QR code whole and in view.
 * SCREENSHOT_DIR=… saves the pages there (to look at them; nothing is saved otherwise).
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { startServer, type RunningServer } from "../src/server/index.js";
import { createDemoApp } from "../src/web/demo/app.js";
import { memoryStorage, type Storage } from "../src/core/records/storage.js";
import { LoginLimiter } from "../src/auth/policy/login-limiter.js";
import { DEMO_DOMAIN, DEMO_PASSWORDS, chromiumAvailable, collectPageErrors, demoConfig, demoServerConfig, describeWithChromium, launchChromium, type DemoUser } from "./helpers/browser.js";
import { DEFAULT_LIMITS, WsClient, freshKey, saslAuth, wsOpen } from "./helpers/server.js";
import { oathTotp, oathtoolUnavailable } from "./helpers/oathtool.js";

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let browser: Browser;
let server: RunningServer;
let storage: Storage;
let base: string;
const logLines: string[] = [];

const ready = chromiumAvailable && oathtoolUnavailable() === null;

beforeAll(async () => {
  if (!ready) return;
  storage = memoryStorage();
  const keys = [freshKey()];
  const demo = await demoConfig();
  const config = demoServerConfig(keys, demo);
  const loginPolicy = new LoginLimiter({ limits: DEFAULT_LIMITS });
  const log = { info: (m: string) => logLines.push(`info ${m}`), warn: (m: string) => logLines.push(`warn ${m}`) };
  const demoApp = createDemoApp({ demo, keys, websocketPath: "/xmpp-websocket", otp: { credentials: storage.otp }, loginPolicy, log });
  server = await startServer(config, { log, httpHandler: demoApp, storage, loginPolicy });
  base = `http://127.0.0.1:${server.ports.http}`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, name), fullPage: true });
}

/** Nothing wider than the window; the element (if given) whole within its width. */
async function fitsWidth(page: Page, selector?: string): Promise<void> {
  const { viewport, documentWidth, box } = await page.evaluate((sel: string | null) => {
    const el = sel ? document.querySelector(sel)!.getBoundingClientRect() : null;
    return { viewport: window.innerWidth, documentWidth: document.documentElement.scrollWidth, box: el ? { left: el.left, right: el.right, width: el.width } : null };
  }, selector ?? null);
  expect(documentWidth).toBeLessThanOrEqual(viewport);
  if (box) {
    expect(box.left).toBeGreaterThanOrEqual(0);
    expect(box.right).toBeLessThanOrEqual(viewport);
    expect(box.width).toBeGreaterThan(150); // big enough to scan
  }
}

/** Base32 (RFC 4648), decoded here rather than with our own src/core/otp/base32. */
function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  return Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
}

const nowSeconds = () => Date.now() / 1000;

async function signInWithPassword(page: Page, user: DemoUser): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", DEMO_PASSWORDS[user]);
  await page.click("button[type=submit]");
}

/** Enrols `user` (signed in on `page`, on the chat) through the pages; returns the key the page showed. */
async function enrol(page: Page, user: DemoUser, shot: string): Promise<Buffer> {
  await page.click("header a.two-factor");
  await page.waitForURL(`${base}/two-factor`);
  expect(await page.textContent("main")).toContain("Off: your password alone signs you in.");
  await page.click('form[action="/two-factor/start"] button');
  await page.waitForSelector(".qr svg");
  await fitsWidth(page, ".qr svg");
  await screenshot(page, `${shot}-enrol.png`);
  const uri = (await page.textContent("#uri"))!;
  expect(uri).toMatch(new RegExp(`^otpauth://totp/${DEMO_DOMAIN}:${user}@${DEMO_DOMAIN}\\?secret=[A-Z2-7]+&issuer=${DEMO_DOMAIN}&algorithm=SHA1&digits=6&period=30$`));
  expect(await page.getAttribute(".enrol a[href^='otpauth:']", "href")).toBe(uri);
  const key = base32Decode(new URL(uri).searchParams.get("secret")!);
  // A wrong code first: said, and the same QR code stays to try again.
  await page.fill("#code", oathTotp(key, nowSeconds() + 600));
  await page.click('form[action="/two-factor/confirm"] button');
  await page.waitForSelector(".error");
  expect(await page.textContent(".error")).toContain("That is not the code of this QR code.");
  expect(await page.textContent("#uri")).toBe(uri);
  await page.fill("#code", oathTotp(key, nowSeconds()));
  await page.click('form[action="/two-factor/confirm"] button');
  await page.waitForSelector('h1:has-text("Two-factor sign-in is on")');
  await page.click('a[href="/chat"]');
  await page.waitForSelector('#state[data-state="online"]');
  return key;
}

/** The code page after the password: a wrong code refused with a clear message, then the right one; the chat comes online. */
async function secondFactor(page: Page, key: Buffer, shot: string): Promise<string> {
  await page.waitForURL(`${base}/code`);
  expect(await page.getAttribute("#code", "autocomplete")).toBe("one-time-code");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("code");
  // The chat and the token endpoint are not reachable with the password alone.
  expect((await page.context().request.get(`${base}/api/token`)).status()).toBe(401);
  await page.fill("#code", oathTotp(key, nowSeconds() + 900));
  await page.click('form[action="/code"] button');
  await page.waitForURL(`${base}/code?failed=1`);
  expect(await page.textContent("[role=alert]")).toBe("Wrong or already used code. Wait for the next code and try again.");
  await fitsWidth(page);
  await screenshot(page, `${shot}-code-wrong.png`);
  // The next step's code: the enrolment used the current one.
  const code = oathTotp(key, nowSeconds() + 30);
  await page.fill("#code", code);
  await page.click('form[action="/code"] button');
  await page.waitForURL(`${base}/chat`);
  await page.waitForSelector('#state[data-state="online"]');
  return code;
}

describeWithChromium("two-factor sign-in of the demo, in Chromium", () => {
  test("enrol from the page, sign out, sign in with password then code, chat; a wrong code is refused; at 1280 px and 390 px", async () => {
    if (!ready) throw new Error(`oathtool is needed: ${oathtoolUnavailable()}`);
    const alice = await browser.newContext({ viewport: DESKTOP });
    const bob = await browser.newContext({ viewport: PHONE });
    const [a, b] = [await alice.newPage(), await bob.newPage()];
    const errors = [...collectPageErrors(a), ...collectPageErrors(b)];

    // alice (desktop) and bob (phone) have no credential yet: the password signs them in; each enrols.
    await signInWithPassword(a, "alice");
    await a.waitForSelector('#state[data-state="online"]');
    await fitsWidth(a);
    await screenshot(a, "desktop-chat.png");
    const aliceKey = await enrol(a, "alice", "desktop");
    await signInWithPassword(b, "bob");
    await b.waitForSelector('#state[data-state="online"]');
    await fitsWidth(b);
    await screenshot(b, "phone-chat.png");
    const bobKey = await enrol(b, "bob", "phone");
    expect(storage.otp.forAccount(`alice@${DEMO_DOMAIN}`)).toHaveLength(1);
    expect(storage.otp.forAccount(`bob@${DEMO_DOMAIN}`)).toHaveLength(1);

    // Both sign out and in again: now the password leads to the code page.
    for (const page of [a, b]) {
      await page.click("#signout button");
      await page.waitForURL(`${base}/?signed-out=1`);
    }
    await signInWithPassword(a, "alice");
    await screenshot(a, "desktop-code.png");
    const aliceCode = await secondFactor(a, aliceKey, "desktop");
    await signInWithPassword(b, "bob");
    await fitsWidth(b);
    await screenshot(b, "phone-code.png");
    await secondFactor(b, bobKey, "phone");

    // They chat.
    await a.waitForSelector(`#to option[value="bob@${DEMO_DOMAIN}"]`, { state: "attached" });
    await a.fill("#body", "signed in with two factors");
    await a.click("#send button");
    await b.waitForSelector('#log li.theirs:has-text("signed in with two factors")');
    await b.fill("#body", "me too");
    await b.click("#send button");
    await a.waitForSelector('#log li.theirs:has-text("me too")');
    await fitsWidth(b);
    await screenshot(b, "phone-chat-two-factor.png");

    // The code alice used on the web does not log in over XMPP (PLAIN with it as the password).
    const ws = await WsClient.connect(server.ports.http!);
    try {
      ws.send(wsOpen(DEMO_DOMAIN));
      await ws.next(/<mechanism>PLAIN<\/mechanism>/);
      ws.send(saslAuth("alice", aliceCode, "PLAIN"));
      expect(await ws.next(/<failure/)).toContain("<not-authorized/>");
    } finally {
      ws.close();
    }
    // A wrong code was logged with account and address, never the code.
    expect(logLines).toContain(`warn authentication failed for alice@${DEMO_DOMAIN} from 127.0.0.1: otp-invalid (web-otp)`);
    expect(logLines.join("\n")).not.toContain(aliceCode);
    // The two-factor page now says it is on.
    await a.goto(`${base}/two-factor`);
    expect(await a.textContent("main")).toContain("On. After your password");
    await screenshot(a, "desktop-two-factor-on.png");
    expect(errors).toEqual([]);
    await Promise.all([alice.close(), bob.close()]);
  }, 120_000);
});
