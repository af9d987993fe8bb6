import { relative } from "node:path";
import { loadConfig } from "../config/load.js";
import type { ServerConfig } from "../config/types.js";
import { startServer } from "../../server/index.js";
import { stderrLogger } from "../../server/log.js";
import { mintToken } from "../../core/token/mint.js";
import { parseFlags } from "./args.js";
import { ensureDevSetup, DEV_DOMAIN } from "./dev-setup.js";
import { EXIT_OK, println, type CliIO } from "./io.js";
import { createHttpHandler } from "./http-handler.js";

export const SERVE_HELP = `Usage: x-token serve [--config FILE] [--dev]

Runs the XMPP server: TCP c2s with STARTTLS, WebSocket on the HTTP port, X-TOKEN and
PLAIN-with-a-token authentication. Configuration from --config FILE (or XTOKEN_CONFIG) and
the environment (XTOKEN_DOMAIN, XTOKEN_SECRET, XTOKEN_OTP_SEED, XMPP_HOST, XMPP_C2S_PORT,
XMPP_HTTP_PORT, XMPP_REQUIRE_TLS). SIGTERM or SIGINT closes every stream and exits 0.

--dev  development defaults (what \`npm start\` runs): domain localhost on 127.0.0.1, keys,
       a self-signed certificate and demo users generated once into ./.x-token-dev/.`;

export async function serve(io: CliIO): Promise<number> {
  const { argv, env, stdout } = io;
  const flags = parseFlags("serve", argv, { config: { type: "string" }, dev: { type: "boolean" } });
  if (flags.help) return println(stdout, SERVE_HELP), EXIT_OK;
  const cwd = io.cwd ?? process.cwd();
  const dev = flags.dev ? await ensureDevSetup(cwd) : null;
  const config: ServerConfig = loadConfig({ file: flags.config ?? dev?.configFile, env });
  const server = await startServer(config, { log: stderrLogger(io.stderr), httpHandler: createHttpHandler(config) });
  printWelcome(io, config, server.ports, dev, cwd);
  const signal = await (io.stopSignal ?? new Promise<string>(() => {}));
  println(io.stderr, `x-token: ${signal} received, closing streams`);
  await server.close();
  return EXIT_OK;
}

function printWelcome(
  { stdout }: CliIO,
  config: ServerConfig,
  ports: { c2s: number | null; directTls: number | null; http: number | null },
  dev: Awaited<ReturnType<typeof ensureDevSetup>> | null,
  cwd: string,
): void {
  const host = config.listeners.host;
  println(stdout, `x-token server for ${Object.keys(config.domains).join(", ")}`);
  if (ports.c2s !== null) println(stdout, `  XMPP c2s (STARTTLS${config.requireTls ? " required" : ""}): xmpp://${host}:${ports.c2s}`);
  if (ports.directTls !== null) println(stdout, `  XMPP direct TLS:           xmpps://${host}:${ports.directTls}`);
  if (ports.http !== null) println(stdout, `  WebSocket:                 ws://${host}:${ports.http}${config.listeners.websocketPath}`);
  if (!dev) return;
  const jid = `alice@${DEV_DOMAIN}`;
  const domain = config.domains[DEV_DOMAIN]!;
  const token = mintToken({ jid, key: domain.keys, nonceDigits: domain.nonceDigits });
  const configPath = relative(cwd, dev.configFile);
  println(stdout);
  println(stdout, `Development setup in ${relative(cwd, dev.dir)}/ (generated secrets: keep them out of version control).`);
  if (config.demo && ports.http !== null) {
    const users = Object.entries(dev.passwords).map(([u, p]) => `${u} / ${p}`).join(", ");
    println(stdout, `  Demo web app: http://${host}:${ports.http}/  users: ${users || `see ${relative(cwd, dev.configFile)} (passwords file missing)`}`);
  }
  println(stdout, `  A token for ${jid}, valid for about a minute, usable once:`);
  println(stdout, `    ${token}`);
  println(stdout, `  Mint another: npx x-token mint --config ${configPath} --jid ${jid}`);
  println(stdout, `  Node clients trust the self-signed certificate with NODE_EXTRA_CA_CERTS=${relative(cwd, dev.certFile)}`);
}
