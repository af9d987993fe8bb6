/**
 * One X-TOKEN login on a raw socket, the way a lean client does it: stream header, (STARTTLS,)
 * <auth/>, restart, bind. Shared by the login and storm benchmarks' load clients, so every
 * benchmark drives the same exchange. No XML parsing: the client waits for fixed markers.
 */
import { createHmac } from "node:crypto";
import net from "node:net";
import tls from "node:tls";

export interface RawLoginOptions {
  host?: string;
  port: number;
  domain: string;
  user: string;
  /** The X-TOKEN token for user@domain (or, with PLAIN against another server, a password). */
  token: string;
  /** X-TOKEN by default; PLAIN carries the same message (the token as the password). */
  mechanism?: "X-TOKEN" | "PLAIN";
  /** STARTTLS with this CA; `session` resumes an earlier TLS session (ticket). */
  tls?: { ca: string; session?: Buffer };
  /** Keep the bound stream open (for idle-connection figures) instead of closing it. */
  keepOpen?: boolean;
  /** Bound on the whole exchange, in ms. */
  timeoutMs?: number;
  /**
   * SASL2 (XEP-0388) with Bind 2 instead of legacy SASL, restart and bind: with `fastToken`, a FAST
   * login (HT-SHA-256-NONE); else X-TOKEN asking for a FAST token (returned in the result).
   */
  sasl2?: { userAgentId: string; fastToken?: string };
}

export interface RawLoginResult {
  /** Milliseconds from connect to the bind result. */
  ms: number;
  /** Whether the TLS handshake resumed a session. */
  resumed: boolean;
  /** The TLS session to resume next time (TLS 1.3 ticket), when one arrived. */
  session?: Buffer;
  /** The open stream, when keepOpen was asked for. */
  socket?: net.Socket;
  /** The FAST token a SASL2 login got. */
  fastToken?: string;
}

export function streamHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`;
}

export async function rawLogin(options: RawLoginOptions): Promise<RawLoginResult> {
  const started = process.hrtime.bigint();
  const header = streamHeader(options.domain);
  let socket: net.Socket = net.connect(options.port, options.host ?? "127.0.0.1");
  let buffer = "";
  let waiter: (() => void) | null = null;
  let session: Buffer | undefined;
  const onData = (d: Buffer) => {
    buffer += d.toString("latin1");
    waiter?.();
  };
  socket.on("data", onData);
  let fail: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});
  const onError = (err: Error) => fail(err);
  const onClose = () => fail(new Error(`connection closed: ${buffer.slice(-200)}`));
  socket.on("error", onError);
  socket.on("close", onClose);
  const timer = setTimeout(() => fail(new Error("login timed out")), options.timeoutMs ?? 60_000);
  const until = async (text: string) => {
    while (!buffer.includes(text)) {
      if (buffer.includes("<failure") || buffer.includes("<stream:error")) throw new Error(`login failed: ${buffer.slice(-300)}`);
      await Promise.race([new Promise<void>((r) => (waiter = r)), failed]);
    }
    buffer = "";
  };
  try {
    await Promise.race([new Promise<void>((resolve) => socket.once("connect", resolve)), failed]);
    socket.write(header);
    await until("</stream:features>");
    let resumed = false;
    if (options.tls) {
      socket.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      await until("<proceed");
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      const secured = tls.connect({ socket, ca: [options.tls.ca], servername: options.domain, session: options.tls.session });
      socket = secured;
      secured.on("session", (s: Buffer) => (session = s));
      secured.on("data", onData);
      secured.on("error", onError);
      secured.on("close", onClose);
      await Promise.race([new Promise<void>((resolve) => secured.once("secureConnect", resolve)), failed]);
      resumed = secured.isSessionReused();
      socket.write(header);
      await until("</stream:features>");
    }
    let fastToken: string | undefined;
    if (options.sasl2) {
      const { userAgentId, fastToken: token } = options.sasl2;
      const initial = token
        ? Buffer.concat([Buffer.from(`${options.user}\0`), createHmac("sha256", token).update("Initiator").digest()]).toString("base64")
        : Buffer.from(`\0${options.user}\0${options.token}`).toString("base64");
      const extra = token ? "<fast xmlns='urn:xmpp:fast:0'/>" : "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>";
      socket.write(
        `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='${token ? "HT-SHA-256-NONE" : "X-TOKEN"}'><initial-response>${initial}</initial-response>` +
          `<user-agent id='${userAgentId}'/><bind xmlns='urn:xmpp:bind:0'><tag>bench</tag></bind>${extra}</authenticate>`,
      );
      // The features after the success end the login (no restart, bound by Bind 2).
      const end = "<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\"/>";
      while (!buffer.includes(end)) {
        if (buffer.includes("<failure") || buffer.includes("<stream:error")) throw new Error(`login failed: ${buffer.slice(-300)}`);
        await Promise.race([new Promise<void>((r) => (waiter = r)), failed]);
      }
      fastToken = /<token [^>]*token="([^"]+)"/.exec(buffer)?.[1];
      buffer = "";
    } else {
      const initial = Buffer.from(`\0${options.user}\0${options.token}`).toString("base64");
      socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${options.mechanism ?? "X-TOKEN"}'>${initial}</auth>`);
      await until("<success");
      socket.write(header);
      await until("</stream:features>");
      socket.write("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
      await until("</jid>");
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    socket.off("close", onClose);
    if (options.keepOpen) return { ms, resumed, session, socket, ...(fastToken ? { fastToken } : {}) };
    socket.end("</stream:stream>");
    socket.on("error", () => {});
    return { ms, resumed, session, ...(fastToken ? { fastToken } : {}) };
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
