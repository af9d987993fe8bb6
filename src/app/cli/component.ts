/** `x-token component`: the token-issuing XEP-0114 component, connected to an XMPP server until stopped. */
import { loadConfig } from "../config/load.js";
import { startTokenComponent } from "../../component/component.js";
import { LoginTokenOptionsError } from "../../component/login-token-command.js";
import { AccessOptionsError } from "../../component/access.js";
import { oneLineLogger, stderrLogger } from "../../server/log.js";
import { parseFlags } from "./args.js";
import { ensureDevSetup, readDevRuntime } from "./dev-setup.js";
import { EXIT_OK, println, UsageError, type CliIO } from "./io.js";

export const COMPONENT_HELP = `Usage: x-token component [--config FILE] [--dev]

Runs the login-token component (XEP-0114): it connects to an XMPP server's component
listener and offers signed-in users the ad-hoc command "Get a login token" (XEP-0050),
which answers with a fresh X-TOKEN token for their own JID (admins: for any JID of the
domains whose keys it holds). Reconnects with backoff; SIGTERM or SIGINT stops it.

Configuration: the "tokenComponent" section and the "domains" keys of --config FILE (or
XTOKEN_CONFIG); XTOKEN_COMPONENT_SERVICE, XTOKEN_COMPONENT_DOMAIN and XTOKEN_COMPONENT_SECRET
override the file (with XTOKEN_DOMAIN, XTOKEN_SECRET and XTOKEN_OTP_SEED, no file is needed).
The secret is never taken from the command line.

--dev  join \`npm start\`'s development server as tokens.localhost (./.x-token-dev/).`;

export async function component(io: CliIO): Promise<number> {
  const { argv, env, stdout } = io;
  const flags = parseFlags("component", argv, { config: { type: "string" }, dev: { type: "boolean" } });
  if (flags.help) return println(stdout, COMPONENT_HELP), EXIT_OK;
  const dev = flags.dev ? await ensureDevSetup(io.cwd ?? process.cwd()) : null;
  // Only keys and the component's own section matter here: the server-only rule "requireTls
  // needs a certificate" is switched off so a file made for the component alone is enough.
  const config = loadConfig({ file: flags.config ?? dev?.configFile, env: { ...env, XMPP_REQUIRE_TLS: "false" } });
  const settings = config.tokenComponent;
  if (!settings) throw new UsageError("component: no tokenComponent section in the configuration (nor XTOKEN_COMPONENT_SERVICE, _DOMAIN and _SECRET)");
  // --dev joins the dev server where it really listens: what it recorded in .x-token-dev/ when it
  // runs, else the dev configuration's listeners (with this environment's XMPP_* ports).
  // XTOKEN_COMPONENT_SERVICE still wins, as always.
  let { service, websocketUrl } = settings;
  if (dev) {
    const runtime = readDevRuntime(dev.dir);
    const { listeners } = config;
    if (!env.XTOKEN_COMPONENT_SERVICE) {
      const fromConfig = listeners.componentPort ? `xmpp://${hostForUrl(listeners.componentHost ?? "127.0.0.1")}:${listeners.componentPort}` : service;
      service = runtime?.componentService ?? fromConfig;
    }
    const fromConfig = listeners.httpPort ? `ws://${hostForUrl(listeners.host)}:${listeners.httpPort}${listeners.websocketPath}` : websocketUrl;
    websocketUrl = runtime?.websocketUrl ?? fromConfig;
    if (!runtime) println(io.stderr, `x-token: component --dev: no development server is running from this folder yet (npm start); joining ${service} when it is`);
  }
  const log = oneLineLogger(stderrLogger(io.stderr));
  let running;
  try {
    running = startTokenComponent({
      service,
      domain: settings.domain,
      secret: settings.secret,
      domains: config.domains,
      admins: settings.admins,
      ...(settings.allowed ? { allowed: settings.allowed } : {}),
      rateLimit: settings.rateLimit,
      ...(websocketUrl ? { websocketUrl } : {}),
      ...(settings.loginUrl ? { loginUrl: settings.loginUrl } : {}),
      log,
    });
  } catch (err) {
    if (err instanceof LoginTokenOptionsError || err instanceof AccessOptionsError) throw new UsageError(`component: ${err.message}`);
    throw err;
  }
  println(stdout, `x-token component ${settings.domain} -> ${service}, tokens for ${Object.keys(config.domains).join(", ")}`);
  const signal = await (io.stopSignal?.() ?? new Promise<string>(() => {}));
  println(io.stderr, `x-token: ${signal} received, closing the component stream`);
  await running.stop();
  return EXIT_OK;
}

/** A listener's host as a URL writes it: IPv6 in brackets, every-address as loopback. */
function hostForUrl(host: string): string {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return reachable.includes(":") ? `[${reachable}]` : reachable;
}
