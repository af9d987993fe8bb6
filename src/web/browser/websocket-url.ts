/**
 * The XMPP WebSocket URL for a page: the server gives either a full ws(s):// URL or a path on the
 * page's own host; a path gets wss:// on https pages and ws:// otherwise.
 */
export function websocketService(configured: string, page: { protocol: string; host: string }): string {
  if (/^wss?:\/\//.test(configured)) return configured;
  if (!configured.startsWith("/")) throw new Error(`not a WebSocket URL or path: ${configured}`);
  return `${page.protocol === "https:" ? "wss" : "ws"}://${page.host}${configured}`;
}
