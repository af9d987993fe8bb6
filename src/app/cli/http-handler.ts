/**
 * The handler for the HTTP port's requests other than the WebSocket endpoint: /metrics when
 * metrics are on, the demo web app when configured.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppConfig } from "../config/types.js";
import type { WebSessionRecords } from "../../core/records/web-sessions.js";
import { createDemoApp } from "../../web/demo/app.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpHandlerOptions {
  /** The storage's web sessions (null for the memory engine): demo sign-ins then survive restarts. */
  webSessions?: WebSessionRecords | null | undefined;
  /** Where the demo app reports sign-ins and sign-outs it could not store. */
  log?: { warn(message: string): void } | undefined;
}

export function createHttpHandler(
  config: AppConfig,
  metrics?: { handle(req: IncomingMessage, res: ServerResponse): boolean },
  options: HttpHandlerOptions = {},
): Handler | undefined {
  const app = demoHandler(config, options);
  if (!metrics) return app;
  return (req, res) => {
    if (metrics.handle(req, res)) return;
    if (app) return app(req, res);
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  };
}

function demoHandler(config: AppConfig, { webSessions, log }: HttpHandlerOptions): Handler | undefined {
  if (!config.demo) return undefined;
  const domain = config.domains[config.demo.domain]!;
  return createDemoApp({
    demo: config.demo,
    keys: domain.keys,
    nonceDigits: domain.nonceDigits,
    websocketPath: config.listeners.websocketPath,
    trustedProxies: config.trustedProxies,
    ...(webSessions ? { sessionRecords: webSessions } : {}),
    ...(log ? { log } : {}),
  });
}
