/** SASL over STARTTLS from a chosen loopback address, as an ordinary client types a password. */
import net from "node:net";
import tls from "node:tls";
import { saslAuth, streamHeader } from "./server.js";

/**
 * One STARTTLS + SASL exchange (PLAIN by default) from `from` (a 127.0.0.0/8 address); returns
 * "success" or the failure condition. The mechanism must be offered after STARTTLS.
 */
export async function plainOverTls(
  port: number,
  ca: string,
  localpart: string,
  password: string,
  { from = "127.0.0.1", mechanism = "PLAIN", domain = "example.test" }: { from?: string; mechanism?: string; domain?: string } = {},
): Promise<string> {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress: from });
  let received = "";
  let stream: net.Socket | tls.TLSSocket = socket;
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${received}`)), 10_000);
      const check = () => {
        const match = pattern.exec(received);
        if (!match) return;
        clearTimeout(timer);
        stream.off("data", onData);
        resolve(match[0]);
      };
      const onData = (d: Buffer) => {
        received += d.toString("utf8");
        check();
      };
      stream.on("data", onData);
      check();
    });
  try {
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.write(streamHeader(domain));
    await waitFor(/<\/stream:features>/);
    received = "";
    socket.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await waitFor(/<proceed[^>]*\/>/);
    received = "";
    stream = tls.connect({ socket, ca: [ca], servername: domain });
    await new Promise<void>((resolve, reject) => stream.once("secureConnect", resolve).once("error", reject));
    stream.write(streamHeader(domain));
    await waitFor(/<\/stream:features>/);
    if (!received.includes(`<mechanism>${mechanism}</mechanism>`)) throw new Error(`${mechanism} is not offered: ${received}`);
    received = "";
    stream.write(saslAuth(localpart, password, mechanism));
    const answer = await waitFor(/<success[^>]*\/>|<failure[^>]*>\s*<([a-z-]+)/);
    return answer.startsWith("<success") ? "success" : /<failure[^>]*>\s*<([a-z-]+)/.exec(answer)![1]!;
  } finally {
    stream.destroy();
    socket.destroy();
  }
}
