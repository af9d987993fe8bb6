/**
 * The handler for the HTTP port's requests other than the WebSocket endpoint: /metrics when
 * metrics are on, the demo web app when configured.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppConfig } from "../config/types.js";
import { createDemoApp } from "../../web/demo/app.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function createHttpHandler(config: AppConfig, metrics?: { handle(req: IncomingMessage, res: ServerResponse): boolean }): Handler | undefined {
  const app = demoHandler(config);
  if (!metrics) return app;
  return (req, res) => {
    if (metrics.handle(req, res)) return;
    if (app) return app(req, res);
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  };
}

function demoHandler(config: AppConfig): Handler | undefined {
  if (!config.demo) return undefined;
  const domain = config.domains[config.demo.domain]!;
  return createDemoApp({
    demo: config.demo,
    keys: domain.keys,
    nonceDigits: domain.nonceDigits,
    websocketPath: config.listeners.websocketPath,
    trustedProxies: config.trustedProxies,
  });
}
