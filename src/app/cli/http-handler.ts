/** The handler for the HTTP port's requests other than the WebSocket endpoint: the demo web app, when configured. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppConfig } from "../config/types.js";
import { createDemoApp } from "../../web/demo/app.js";

export function createHttpHandler(config: AppConfig): ((req: IncomingMessage, res: ServerResponse) => void) | undefined {
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
