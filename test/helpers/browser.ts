/**
 * Real-browser test helpers: Debian's Chromium driven by playwright-core, and the real server with
 * the demo app. In CI (.ci/run installs chromium) a missing Chromium fails; elsewhere the suites
 * are skipped with that reason.
 */
import { describe } from "@jest/globals";
import { existsSync, mkdirSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { createDemoApp, type DemoApp } from "../../src/web/demo/app.js";
import { hashPassword } from "../../src/auth/password/scrypt-hash.js";
import type { DemoConfig, AppConfig } from "../../src/app/config/types.js";
import type { TokenKey } from "../../src/core/token/keys.js";
import type { Logger } from "../../src/server/log.js";
import { DEFAULT_LIMITS, freshKey } from "./server.js";

export const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run should have installed it`);

/** `describe` when Chromium is installed; otherwise a skipped suite whose name says why. */
export function describeWithChromium(name: string, fn: () => void): void {
  if (available) describe(name, fn);
  else describe.skip(`${name} (skipped: ${CHROMIUM} is not installed; apt-get install chromium)`, fn);
}

export const chromiumAvailable = available;

/**
 * playwright-core's launch() gives Chromium a fresh --user-data-dir of its own (a new temporary
 * profile, removed on close); each newContext() is a separate cookie jar on top of it.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}

/** Where the browser tests put their screenshots (gitignored test artifacts). */
export function artifactPath(name: string): string {
  mkdirSync("test-results", { recursive: true });
  return `test-results/${name}`;
}

/** Console errors and uncaught page errors, collected from the moment this is called. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  return errors;
}

export const DEMO_PASSWORDS = { alice: "alice-demo-password", bob: "bob-demo-password" };
export type DemoUser = keyof typeof DEMO_PASSWORDS;
export const DEMO_DOMAIN = "localhost";

export interface DemoServer {
  server: RunningServer;
  demoApp: DemoApp;
  keys: TokenKey[];
  config: AppConfig;
  /** http://127.0.0.1:PORT */
  base: string;
  /** ws://127.0.0.1:PORT/xmpp-websocket */
  wsService: string;
}

export async function demoConfig(): Promise<DemoConfig> {
  return {
    domain: DEMO_DOMAIN,
    sessionSecret: "a-test-session-secret-of-at-least-32-characters",
    users: await Promise.all(Object.entries(DEMO_PASSWORDS).map(async ([username, password]) => ({ username, passwordHash: await hashPassword(password) }))),
  };
}

/** The server's configuration for the demo app alone, on `httpPort` (0: any free port), no TCP listeners. */
export function demoServerConfig(keys: AppConfig["domains"][string]["keys"], demo: DemoConfig, httpPort = 0): AppConfig {
  return {
    domains: { [DEMO_DOMAIN]: { keys, window: 1, nonceDigits: 32, disabledUsers: [] } },
    listeners: { host: "127.0.0.1", c2sPort: null, directTlsPort: null, httpPort, websocketPath: "/xmpp-websocket" },
    tls: null,
    requireTls: true,
    allowPlainWithoutTls: false,
    limits: DEFAULT_LIMITS,
    trustedProxies: [],
    // As `serve --dev` configures it: the page talks to ws://127.0.0.1, which counts as secure only by this setting.
    loopbackWebSocketIsSecure: true,
    // The demo page lists who is online on the domain, as serve --dev sets it up.
    presenceBroadcast: "domain",
    replayMaxEntries: 10_000,
    demo,
  };
}

/**
 * The server with the demo app on its HTTP port (no TCP listeners). `again` starts a new server
 * on the same port with the same keys and the same demo app (so its sign-in sessions survive),
 * as after a restart. The server logs to `log` (nowhere by default).
 */
export async function startDemoServer(again?: DemoServer, log: Logger = { info() {}, warn() {} }): Promise<DemoServer> {
  const keys = again?.keys ?? [freshKey()];
  const demo = again?.config.demo ?? (await demoConfig());
  const config = demoServerConfig(keys, demo, again?.server.ports.http ?? 0);
  const demoApp = again?.demoApp ?? createDemoApp({ demo, keys, websocketPath: "/xmpp-websocket" });
  const server = await startServer(config, { log, httpHandler: demoApp });
  return {
    server,
    demoApp,
    keys,
    config,
    base: `http://127.0.0.1:${server.ports.http}`,
    wsService: `ws://127.0.0.1:${server.ports.http}/xmpp-websocket`,
  };
}

export interface SignedIn {
  context: BrowserContext;
  page: Page;
  /** Every token the chat page fetched from /api/token, in order. */
  tokens: string[];
}

/** A new browser context signs in as `user` through the sign-in form and waits for the chat to be online. */
export async function signInDemo(browser: Browser, base: string, user: DemoUser, viewport = { width: 1000, height: 560 }): Promise<SignedIn> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const tokens: string[] = [];
  page.on("response", async (response) => {
    if (response.url().endsWith("/api/token") && response.ok()) tokens.push(((await response.json()) as { token: string }).token);
  });
  await page.goto(`${base}/`);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", DEMO_PASSWORDS[user]);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/chat`);
  await page.waitForSelector('#state[data-state="online"]');
  return { context, page, tokens };
}
