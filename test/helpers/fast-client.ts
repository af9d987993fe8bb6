/**
 * The real @xmpp/client 0.14 (SASL2, Bind 2, FAST with HT-SHA-256-NONE as it ships), driven the
 * way an app that keeps its FAST token would: a persisted user-agent id, the token kept outside
 * the client instance (fetchToken/saveToken/deleteToken), X-TOKEN only when one is given.
 */
import { client, xml, type Client } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { WebSocket } from "ws";
import { useXToken } from "../../src/client/x-token-mechanism.js";
import { DOMAIN } from "./server.js";

/** What xmpp.js saves of a FAST token. */
export interface SavedFastToken {
  mechanism: string;
  token: string;
  expiry: string;
}

/** A client's FAST token kept between client instances, with what xmpp.js did to it. */
export class TokenJar {
  token: SavedFastToken | null = null;
  saved: SavedFastToken[] = [];
  deleted = 0;
}

export interface FastLoginOptions {
  port: number;
  username: string;
  /** The user-agent id (persisted by the app); one per device. */
  userAgentId: string;
  jar: TokenJar;
  /** An X-TOKEN token, when the app has one; without it only FAST can log in. */
  xToken?: string;
  domain?: string;
  resource?: string;
  /** Another service than `xmpp://127.0.0.1:port` (a WebSocket URL). */
  service?: string;
  /** Let X-TOKEN go over a stream our client check does not count as encrypted (ws:// to loopback). */
  allowInsecure?: boolean;
}

export interface FastLoginResult {
  /** "online" or the error's condition (or message). */
  outcome: string;
  /** The full JID once online. */
  jid: string | null;
  /** Each SASL2 `<failure/>`'s condition, in order. */
  failures: string[];
  /** Mechanisms of each `<authenticate/>` sent, in order. */
  mechanisms: string[];
  client: Client;
}

const SASL2 = "urn:xmpp:sasl:2";

/** Starts a client, waits until it is online or refused, and stops it (unless `keep`). */
export async function fastLogin({ port, username, userAgentId, jar, xToken, domain = DOMAIN, resource, service, allowInsecure = false }: FastLoginOptions, { keep = false } = {}): Promise<FastLoginResult> {
  // Node 20 has no global WebSocket, which @xmpp/websocket expects; `ws` stands in for it.
  if (service?.startsWith("ws") && typeof globalThis.WebSocket === "undefined") (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
  const userAgent = xml("user-agent", { id: userAgentId }, xml("software", {}, "x-token tests"));
  const xmpp = client({
    service: service ?? `xmpp://127.0.0.1:${port}`,
    domain,
    ...(resource === undefined ? {} : { resource }),
    userAgent,
    credentials: async (authenticate, _mechanisms, fast) => {
      const token = (await (fast as { fetch(): Promise<SavedFastToken | null> } | null)?.fetch()) ?? undefined;
      await authenticate({ username, ...(xToken ? { password: xToken } : {}), ...(token ? { token } : {}) }, "X-TOKEN", userAgent);
    },
  });
  useXToken(xmpp, { allowInsecure });
  xmpp.reconnect.stop();
  xmpp.fast.fetchToken = async () => jar.token;
  xmpp.fast.saveToken = async (t: SavedFastToken) => {
    jar.token = t;
    jar.saved.push(t);
  };
  xmpp.fast.deleteToken = async () => {
    jar.token = null;
    jar.deleted++;
  };
  const failures: string[] = [];
  const mechanisms: string[] = [];
  xmpp.on("element", (el: Element) => {
    if (el.is("failure", SASL2)) failures.push(el.getChildElements()[0]?.name ?? "?");
  });
  xmpp.on("send", (el: Element) => {
    if (el.is?.("authenticate", SASL2)) mechanisms.push(String(el.attrs.mechanism));
  });
  xmpp.on("error", () => {});
  let outcome = "online";
  try {
    await xmpp.start();
  } catch (err) {
    outcome = (err as { condition?: string }).condition ?? (err as Error).message;
  }
  const jid = outcome === "online" ? (xmpp.jid?.toString() ?? null) : null;
  if (!keep || outcome !== "online") await xmpp.stop().catch(() => {});
  return { outcome, jid, failures, mechanisms, client: xmpp };
}
