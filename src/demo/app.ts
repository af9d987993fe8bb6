/**
 * The demo web app served on the server's HTTP port: sign-in for the configured demo users,
 * a session cookie, the token endpoint for the signed-in user, and a chat page that logs in to
 * XMPP over WebSocket with X-TOKEN.
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import type { DemoConfig } from "../config/types.js";
import type { TokenKey } from "../token/keys.js";
import { createTokenEndpoint, type NodeHandler } from "../http/token-endpoint.js";
import { verifyPassword } from "./password.js";
import { SessionStore } from "./session.js";
import { chatPage, signInPage, stropheCheckPage } from "./pages.js";

export interface DemoAppOptions {
  demo: DemoConfig;
  /** The demo domain's keys (current first). */
  keys: readonly TokenKey[];
  websocketPath: string;
  /** Where the browser bundle is (`npm run build` writes dist/browser). */
  assetsDir?: string;
}

/** dist/browser, whether this module runs from src/ (tests) or dist/src/ (the binary). */
function defaultAssetsDir(): string {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  return root.endsWith("/dist/") ? `${root}browser` : `${root}dist/browser`;
}

const ASSET_TYPES: Record<string, string> = {
  "demo.js": "text/javascript; charset=utf-8",
  "demo.css": "text/css; charset=utf-8",
  "strophe-check.js": "text/javascript; charset=utf-8",
};

const MAX_FORM_BYTES = 4096;

function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > MAX_FORM_BYTES) {
        resolve(null);
        req.destroy();
      }
    });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", () => resolve(null));
  });
}

export function createDemoApp({ demo, keys, websocketPath, assetsDir = defaultAssetsDir() }: DemoAppOptions): NodeHandler {
  const sessions = new SessionStore(demo.sessionSecret);
  const users = new Map(demo.users.map((u) => [u.username, u.passwordHash]));
  const jidOf = (username: string) => `${username}@${demo.domain}`;
  const tokenEndpoint = createTokenEndpoint({
    authenticate: (req) => {
      const user = sessions.user(req);
      return user ? jidOf(user) : null;
    },
    keys: [...keys],
  });

  function headers(req: IncomingMessage, type: string): Record<string, string> {
    const host = req.headers.host ?? "localhost";
    return {
      "Content-Type": type,
      "Content-Security-Policy": `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ws://${host} wss://${host}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      "X-Content-Type-Options": "nosniff",
      // Not "no-referrer": with it, browsers send `Origin: null` on form posts and the CSRF check fails.
      "Referrer-Policy": "same-origin",
      "Cache-Control": "no-store",
    };
  }

  function html(req: IncomingMessage, res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { ...headers(req, "text/html; charset=utf-8"), ...extra }).end(text);
  }

  function redirect(res: ServerResponse, location: string, extra: Record<string, string> = {}): void {
    res.writeHead(303, { Location: location, "Cache-Control": "no-store", ...extra }).end();
  }

  /** POSTs must come from our own pages: the browser's Origin header says where they come from. */
  function sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin !== undefined && (origin === `http://${req.headers.host}` || origin === `https://${req.headers.host}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://demo.invalid");
    const path = url.pathname;
    const user = sessions.user(req);

    if (path === "/api/token") return tokenEndpoint(req, res);
    if (path === "/favicon.ico") return void res.writeHead(204).end();
    if (path.startsWith("/assets/") && req.method === "GET") {
      const name = path.slice("/assets/".length);
      const type = ASSET_TYPES[name];
      if (!type) return html(req, res, 404, "not found");
      try {
        const body = await readFile(`${assetsDir}/${name}`);
        res.writeHead(200, { ...headers(req, type), "Cache-Control": "no-cache" }).end(body);
      } catch {
        html(req, res, 404, "not found (run npm run build)");
      }
      return;
    }
    if (path === "/" && req.method === "GET") {
      if (user) return redirect(res, "/chat");
      return html(req, res, 200, signInPage([...users.keys()], url.searchParams.has("failed")));
    }
    if (path === "/signin" && req.method === "POST") {
      if (!sameOrigin(req)) return html(req, res, 403, "forbidden");
      const form = await readForm(req);
      const username = form?.get("username") ?? "";
      const password = form?.get("password") ?? "";
      const hash = users.get(username);
      // Unknown users cost a hash too, so timing does not tell which usernames exist.
      const ok = await verifyPassword(password, hash ?? demo.users[0]!.passwordHash);
      if (!hash || !ok) return redirect(res, "/?failed=1");
      return redirect(res, "/chat", { "Set-Cookie": sessions.create(username) });
    }
    if (path === "/signout" && req.method === "POST") {
      if (!sameOrigin(req)) return html(req, res, 403, "forbidden");
      return redirect(res, "/", { "Set-Cookie": sessions.destroy(req) });
    }
    if (path === "/chat" && req.method === "GET") {
      if (!user) return redirect(res, "/");
      return html(req, res, 200, chatPage(jidOf(user), websocketPath));
    }
    if (path === "/strophe" && req.method === "GET") {
      if (!user) return redirect(res, "/");
      return html(req, res, 200, stropheCheckPage(jidOf(user), websocketPath));
    }
    html(req, res, 404, "not found");
  }

  return (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" }).end("internal error");
      else res.destroy();
    });
  };
}
