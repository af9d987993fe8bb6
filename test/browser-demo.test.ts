/**
 * The whole web flow in a real browser: Debian's Chromium driven by playwright-core against the
 * real server with the demo app. Runs in CI (.ci/run installs chromium); skipped elsewhere only
 * when no chromium is installed.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import type { Browser } from "playwright-core";
import { connectWithToken } from "../src/client/connect.js";
import { DEMO_DOMAIN as DOMAIN, DEMO_PASSWORDS as PASSWORDS, chromiumAvailable, describeWithChromium, launchChromium, signInDemo, startDemoServer, type DemoServer, type DemoUser, type SignedIn } from "./helpers/browser.js";

let demo: DemoServer;
let browser: Browser;
let base: string;
let wsService: string;

beforeAll(async () => {
  if (!chromiumAvailable) return;
  demo = await startDemoServer();
  ({ base, wsService } = demo);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await demo?.server.close();
});

function signIn(user: DemoUser): Promise<SignedIn> {
  return signInDemo(browser, base, user);
}

describeWithChromium("the demo in Chromium", () => {
  test("a wrong password does not sign in", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.fill("input[name=username]", "alice");
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
    await expect(connectWithToken({ service: wsService, domain: DOMAIN, username: "alice", token: alice.tokens[0]!, allowInsecure: true })).rejects.toMatchObject({
      condition: "not-authorized",
    });
    if (process.env.UPDATE_SCREENSHOT === "1") await alice.page.screenshot({ path: "docs/demo.png" });

    // A reload logs in again with the FAST token the first login got: no new token from the app
    // (test/browser-demo-fast.test.ts counts the calls across reloads and dropped connections).
    const before = alice.tokens.length;
    await alice.page.reload();
    await alice.page.waitForSelector('#state[data-state="online"]');
    expect(alice.tokens.length).toBe(before);

    // Signing out ends the XMPP session (bob sees alice leave) and the endpoint answers 401.
    await alice.page.click("#signout button");
    await alice.page.waitForURL(`${base}/?signed-out=1`);
    await bob.page.waitForSelector('#online li:has-text("alice@localhost")', { state: "detached" });
    expect((await alice.context.request.get(`${base}/api/token`)).status()).toBe(401);
    await Promise.all([alice.context.close(), bob.context.close()]);
  });

  test("a token taken from the endpoint works once; used again it is refused", async () => {
    const bob = await signIn("bob");
    const { token, jid } = (await (await bob.context.request.get(`${base}/api/token`)).json()) as { token: string; jid: string };
    expect(jid).toBe("bob@localhost");
    const first = await connectWithToken({ service: wsService, domain: DOMAIN, username: "bob", token, allowInsecure: true });
    await first.stop();
    await expect(connectWithToken({ service: wsService, domain: DOMAIN, username: "bob", token, allowInsecure: true })).rejects.toMatchObject({ condition: "not-authorized" });
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

  test("Strophe.js X-TOKEN without allowInsecure over ws:// fails with AUTHFAIL and never sends the token", async () => {
    const alice = await signIn("alice");
    const page = await alice.context.newPage();
    const frames: string[] = [];
    const tokens: string[] = [];
    page.on("websocket", (socket) => socket.on("framesent", (frame) => frames.push(String(frame.payload))));
    page.on("response", async (response) => {
      if (response.url().endsWith("/api/token") && response.ok()) tokens.push(((await response.json()) as { token: string }).token);
    });
    await page.goto(`${base}/strophe?strict`);
    await page.waitForSelector(`#state[data-condition="x-token-insecure-stream"]`);
    expect(tokens).toHaveLength(1);
    expect(frames.some((frame) => frame.includes("<open"))).toBe(true); // it did talk to the server
    const [token] = tokens as [string];
    for (const frame of frames) {
      expect(frame).not.toContain(token.slice(0, 40));
      expect(frame).not.toContain(Buffer.from(`\0alice\0${token}`).toString("base64"));
    }
    await alice.context.close();
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
