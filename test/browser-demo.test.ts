/**
 * The whole web flow in a real browser: Debian's Chromium driven by playwright-core against the
 * real server with the demo app. Runs in CI (.ci/run installs chromium); skipped elsewhere only
 * when no chromium is installed.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startServer, type RunningServer } from "../src/server/index.js";
import { createDemoApp } from "../src/web/demo/app.js";
import { hashPassword } from "../src/web/demo/password.js";
import { connectWithToken } from "../src/client/connect.js";
import type { ServerConfig } from "../src/app/config/types.js";
import { DEFAULT_LIMITS, freshKey } from "./helpers/server.js";

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run should have installed it`);
const describeBrowser = available ? describe : describe.skip;
const SUITE = available ? "the demo in Chromium" : `the demo in Chromium (skipped: ${CHROMIUM} is not installed; apt-get install chromium)`;

const PASSWORDS = { alice: "alice-demo-password", bob: "bob-demo-password" };
const DOMAIN = "localhost";

let server: RunningServer;
let browser: Browser;
let base: string;
let wsService: string;

beforeAll(async () => {
  if (!available) return;
  const keys = [freshKey()];
  const demo = {
    domain: DOMAIN,
    sessionSecret: "a-test-session-secret-of-at-least-32-characters",
    users: await Promise.all(Object.entries(PASSWORDS).map(async ([username, password]) => ({ username, passwordHash: await hashPassword(password) }))),
  };
  const config: ServerConfig = {
    domains: { [DOMAIN]: { keys, window: 1, disabledUsers: [] } },
    listeners: { host: "127.0.0.1", c2sPort: null, directTlsPort: null, httpPort: 0, websocketPath: "/xmpp-websocket" },
    tls: null,
    requireTls: true,
    allowPlainWithoutTls: false,
    limits: DEFAULT_LIMITS,
    replayMaxEntries: 10_000,
    demo,
  };
  server = await startServer(config, {
    log: { info() {}, warn() {} },
    httpHandler: createDemoApp({ demo, keys, websocketPath: "/xmpp-websocket" }),
  });
  base = `http://127.0.0.1:${server.ports.http}`;
  wsService = `ws://127.0.0.1:${server.ports.http}/xmpp-websocket`;
  // playwright-core's launch() gives Chromium a fresh --user-data-dir of its own (a new temporary
  // profile, removed on close); each newContext() below is a separate cookie jar on top of it.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function signIn(user: keyof typeof PASSWORDS): Promise<{ context: BrowserContext; page: Page; tokens: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 560 } });
  const page = await context.newPage();
  const tokens: string[] = [];
  page.on("response", async (response) => {
    if (response.url().endsWith("/api/token") && response.ok()) tokens.push(((await response.json()) as { token: string }).token);
  });
  await page.goto(`${base}/`);
  await page.selectOption("select[name=username]", user);
  await page.fill("input[name=password]", PASSWORDS[user]);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/chat`);
  await page.waitForSelector('#state[data-state="online"]');
  return { context, page, tokens };
}

describeBrowser(SUITE, () => {
  test("a wrong password does not sign in", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", "wrong");
    await page.click("button[type=submit]");
    await page.waitForSelector(".error");
    expect((await context.request.get(`${base}/api/token`)).status()).toBe(401);
    await context.close();
  });

  test("alice and bob sign in, see each other online, and exchange messages", async () => {
    const alice = await signIn("alice");
    const bob = await signIn("bob");
    await alice.page.waitForSelector('#online li:has-text("bob@localhost")');
    await bob.page.waitForSelector('#online li:has-text("alice@localhost")');
    await alice.page.waitForSelector('#to option[value="bob@localhost"]', { state: "attached" });
    await alice.page.fill("#body", "hello bob");
    await alice.page.click("#send button");
    await bob.page.waitForSelector('#log li.theirs:has-text("hello bob")');
    await bob.page.fill("#body", "hi alice!");
    await bob.page.click("#send button");
    await alice.page.waitForSelector('#log li.theirs:has-text("hi alice!")');

    // The token alice's page logged in with was taken from the endpoint's response: a second use is refused.
    expect(alice.tokens).toHaveLength(1);
    await expect(connectWithToken({ service: wsService, domain: DOMAIN, username: "alice", token: alice.tokens[0]! })).rejects.toMatchObject({
      condition: "not-authorized",
    });
    if (process.env.UPDATE_SCREENSHOT === "1") await alice.page.screenshot({ path: "docs/demo.png" });

    // A reload logs in again with a new token.
    const before = alice.tokens.length;
    await alice.page.reload();
    await alice.page.waitForSelector('#state[data-state="online"]');
    expect(alice.tokens.length).toBe(before + 1);
    expect(new Set(alice.tokens).size).toBe(alice.tokens.length);

    // Signing out ends the XMPP session (bob sees alice leave) and the endpoint answers 401.
    await alice.page.click("#signout button");
    await alice.page.waitForURL(`${base}/`);
    await bob.page.waitForSelector('#online li:has-text("alice@localhost")', { state: "detached" });
    expect((await alice.context.request.get(`${base}/api/token`)).status()).toBe(401);
    await Promise.all([alice.context.close(), bob.context.close()]);
  });

  test("a token taken from the endpoint works once; used again it is refused", async () => {
    const bob = await signIn("bob");
    const { token, jid } = (await (await bob.context.request.get(`${base}/api/token`)).json()) as { token: string; jid: string };
    expect(jid).toBe("bob@localhost");
    const first = await connectWithToken({ service: wsService, domain: DOMAIN, username: "bob", token });
    await first.stop();
    await expect(connectWithToken({ service: wsService, domain: DOMAIN, username: "bob", token })).rejects.toMatchObject({ condition: "not-authorized" });
    await bob.context.close();
  });

  /** Opens the Strophe.js check page for alice and returns the mechanism it logged in with. */
  async function stropheLogin(path: string): Promise<string | null> {
    const alice = await signIn("alice");
    const page = await alice.context.newPage();
    await page.goto(`${base}${path}`);
    await page.waitForSelector('#state[data-state="connected"]');
    expect(await page.getAttribute("#state", "data-jid")).toMatch(/^alice@localhost\//);
    const mechanism = await page.getAttribute("#state", "data-mechanism");
    await alice.context.close();
    return mechanism;
  }

  test("Strophe.js logs in with its X-TOKEN mechanism", async () => {
    expect(await stropheLogin("/strophe")).toBe("X-TOKEN");
  });

  test("the Converse.js path in the browser: credentials by XHR GET, then Strophe's stock PLAIN with the token as password", async () => {
    // Loopback WebSocket counts as secure (docs/server.md), so PLAIN is offered, as over TLS.
    expect(await stropheLogin("/strophe?as=converse")).toBe("PLAIN");
  });

  test("pages carry a strict Content Security Policy and no inline script", async () => {
    const alice = await signIn("alice");
    const response = await alice.context.request.get(`${base}/chat`);
    expect(response.headers()["content-security-policy"]).toMatch(/script-src 'self';/);
    expect(await response.text()).not.toMatch(/<script>(?!<)/);
    await alice.context.close();
  });
});
