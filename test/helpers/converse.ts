/**
 * Converse.js (the npm package `converse.js`, its prebuilt dist/) served to Chromium from a tiny
 * static HTTP server on 127.0.0.1, with a token endpoint per test user on the same origin (as
 * Converse's credentials_url expects). Nothing is fetched from the network.
 */
import http from "node:http";
import { readFile } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { createTokenEndpoint } from "../../src/web/endpoint/token-endpoint.js";
import type { TokenKey } from "../../src/core/token/keys.js";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { collectPageErrors } from "./browser.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CONVERSE_DIST = `${ROOT}node_modules/converse.js/dist`;
/** Our Strophe.js X-TOKEN mechanism as built by tsc: an ES module without imports. */
const STROPHE_X_TOKEN = `${ROOT}dist/src/web/browser/strophe-x-token.js`;

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".ttf": "font/ttf",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".map": "application/json",
};

export interface ConverseSite {
  /** http://127.0.0.1:PORT */
  base: string;
  /** Every path the browser asked for that was not found (a missing asset shows up here). */
  notFound: string[];
  close(): Promise<void>;
}

export interface ConverseSiteOptions {
  domain: string;
  keys: TokenKey[];
  /** ws://127.0.0.1:PORT/xmpp-websocket of the XMPP server. */
  websocketUrl: string;
  /** Users who may have tokens: /token/NAME answers for them. */
  users: string[];
}

/**
 * Routes: /converse/* (the dist files), /x-token/strophe-x-token.js, /token/NAME (our token
 * endpoint, signed in as NAME: test only), /converse/chat-NAME.html?mechanism=plain|x-token (a
 * page that starts Converse logged in as NAME).
 */
export async function startConverseSite(options: ConverseSiteOptions): Promise<ConverseSite> {
  const notFound: string[] = [];
  const tokenEndpoint = createTokenEndpoint({
    keys: options.keys,
    authenticate: (req) => {
      const name = new URL(req.url ?? "/", "http://x").pathname.split("/")[2] ?? "";
      return options.users.includes(name) ? `${name}@${options.domain}` : null;
    },
  });

  async function file(res: http.ServerResponse, path: string): Promise<void> {
    const body = await readFile(path);
    res.writeHead(200, { "Content-Type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = decodeURIComponent(url.pathname);
    if (path.startsWith("/token/")) return tokenEndpoint(req, res);
    if (path === "/x-token/strophe-x-token.js") return file(res, STROPHE_X_TOKEN);
    const chat = /^\/converse\/chat-([a-z]+)\.html$/.exec(path);
    if (chat) {
      // Under /converse/ so that files Converse loads relative to the page (OMEMO's wasm) resolve.
      const name = chat[1]!;
      if (!options.users.includes(name)) throw new Error("unknown user");
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(conversePage(name, options.websocketUrl, url.searchParams.get("mechanism") === "x-token"));
      return;
    }
    if (path.startsWith("/converse/")) {
      const target = resolve(CONVERSE_DIST, `.${path.slice("/converse".length)}`);
      if (!target.startsWith(`${CONVERSE_DIST}${sep}`)) throw new Error("outside dist");
      return file(res, target);
    }
    throw new Error("no route");
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      notFound.push(req.url ?? "");
      if (!res.headersSent) res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    notFound,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Converse as docs/web.md configures it: credentials_url (a fresh token per login, PLAIN with the
 * token as password), or with `xToken` our Strophe X-TOKEN mechanism through connection_options.
 * The last line of console output Converse writes at "info" or above is an error only when
 * something really failed.
 */
function conversePage(user: string, websocketUrl: string, xToken: boolean): string {
  const settings = {
    assets_path: "/converse/",
    websocket_url: websocketUrl,
    credentials_url: `/token/${user}`,
    authentication: "login",
    auto_login: true,
    auto_reconnect: true,
    discover_connection_methods: false,
    view_mode: "overlayed",
    loglevel: "info",
    play_sounds: false,
    show_send_button: true,
    show_controlbox_by_default: true,
    // The contact form's domain suggestions would come from a list on the internet.
    autocomplete_providers_url: null,
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Converse.js as ${user}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/converse/converse.min.css">
</head>
<body>
<script type="module">
import converse from "/converse/converse.min.js";
import { createStropheXToken } from "/x-token/strophe-x-token.js";
const settings = ${JSON.stringify(settings)};
${
  xToken
    ? `const { Strophe } = converse.env;
// ws:// on loopback: the mechanism holds a token back on unencrypted services unless told.
settings.connection_options = { mechanisms: [createStropheXToken(Strophe.SASLMechanism, { allowInsecure: true }), Strophe.SASLPlain] };`
    : ""
}
converse.initialize(settings);
</script>
</body>
</html>
`;
}

/** A Converse page in a browser context of its own (its own, empty, browser storage). */
export interface ConverseSession {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions on the page. */
  errors: string[];
  /** Requests for anything but this machine (refused): there must be none. */
  offsite: string[];
  /** Every WebSocket frame the page received from the server, in order (text frames). */
  received: string[];
  /** Every WebSocket frame the page sent, in order (text frames). */
  sent: string[];
  close(): Promise<void>;
}

/**
 * Opens /converse/chat-USER.html in a new browser context (so nothing Converse cached in an
 * earlier context is there: its roster and messages can only come from the server) and waits
 * until it is logged in with the roster shown (the user's own entry is in the contacts list).
 * Every WebSocket frame is recorded, so a test can say what the server sent.
 */
export async function openConverse(browser: Browser, site: ConverseSite, user: string, mechanism: "plain" | "x-token", domain: string): Promise<ConverseSession> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const offsite: string[] = [];
  await context.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => {
    offsite.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const received: string[] = [];
  const sent: string[] = [];
  page.on("websocket", (ws) => {
    ws.on("framereceived", (frame) => void (typeof frame.payload === "string" && received.push(frame.payload)));
    ws.on("framesent", (frame) => void (typeof frame.payload === "string" && sent.push(frame.payload)));
  });
  await page.goto(`${site.base}/converse/chat-${user}.html?mechanism=${mechanism}`);
  await page.waitForSelector(`#controlbox li.current-xmpp-contact [data-jid="${user}@${domain}"]`, { timeout: 20_000 });
  return { context, page, errors, offsite, received, sent, close: () => context.close() };
}

/** A roster entry's <li> in a Converse page. */
export const converseContact = (jid: string) => `#controlbox li:has(> converse-roster-contact [data-jid="${jid}"])`;

/**
 * A round trip on the page's own stream: Converse pings its server (XEP-0199) when the page
 * becomes visible, and this waits for the answer. The server handles a stream's stanzas in order,
 * so everything the page sent before has been handled (and written, where the server writes) once
 * this returns.
 */
export async function converseRoundTrip(session: ConverseSession, timeoutMs = 10_000): Promise<void> {
  const before = session.sent.length;
  await session.page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ping = session.sent.slice(before).find((frame) => frame.includes("urn:xmpp:ping"));
    const id = ping && /\sid=["']([^"']+)["']/.exec(ping)?.[1];
    const answer = id && session.received.find((frame) => frame.startsWith("<iq") && (frame.includes(`id="${id}"`) || frame.includes(`id='${id}'`)));
    if (answer) {
      if (!/type=["']result["']/.test(answer)) throw new Error(`the server answered the ping with ${answer}`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`no answer to Converse's ping within ${timeoutMs} ms (sent: ${ping ?? "nothing"})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
