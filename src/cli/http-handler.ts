/**
 * The handler for the HTTP port's requests other than the WebSocket endpoint.
 * The demo web app (issue 4) mounts here when it exists; until then, 404.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerConfig } from "../config/types.js";

export function createHttpHandler(_config: ServerConfig): ((req: IncomingMessage, res: ServerResponse) => void) | undefined {
  return undefined;
}
