/** One real @xmpp/client login with PLAIN against a private ejabberd (test/helpers/ejabberd.ts). */
import { client } from "@xmpp/client";
import type { RunningEjabberd } from "./ejabberd.js";

/**
 * Each step of the stream (STARTTLS, SASL, bind) may take this long: @xmpp/client's 2 s default
 * is short when several ejabberd nodes and their extauth workers start on the 2 shared cores.
 */
const STEP_TIMEOUT_MS = 15_000;

/**
 * Logs `user` in with `password` (a token, for x-token extauth) over the c2s port (STARTTLS when
 * the node requires it), binds resource "test", disconnects, and returns "online <full JID>" or
 * the SASL failure's condition ("not-authorized", ...). No reconnects: one attempt, one answer.
 */
export async function loginWithPassword(ej: Pick<RunningEjabberd, "host" | "c2sPort" | "domain">, user: string, password: string, domain = ej.domain): Promise<string> {
  const xmpp = client({ service: `xmpp://${ej.host}:${ej.c2sPort}`, domain, username: user, password, resource: "test", timeout: STEP_TIMEOUT_MS });
  xmpp.reconnect.stop();
  xmpp.on("error", () => {});
  try {
    const jid = (await xmpp.start()) as { toString(): string };
    return `online ${jid.toString()}`;
  } catch (err) {
    const condition = (err as { condition?: string }).condition;
    if (condition) return condition;
    throw err;
  } finally {
    await xmpp.stop().catch(() => {});
  }
}
