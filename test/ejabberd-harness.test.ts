/**
 * The private ejabberd harness itself (test/helpers/ejabberd.ts), with ejabberd's internal
 * accounts: the node starts on its own loopback port, takes logins through real @xmpp/client,
 * refuses a wrong password, serves a component listener, and is gone after stop().
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { existsSync } from "node:fs";
import net from "node:net";
import { ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
import { loginWithPassword } from "./helpers/ejabberd-login.js";

const unavailable = ejabberdUnavailable();
if (unavailable) console.warn(`skipping the ejabberd harness tests: ${unavailable}`);
const describeWithEjabberd = unavailable ? describe.skip : describe;

describeWithEjabberd("private ejabberd node (internal accounts)", () => {
  let ej: RunningEjabberd;
  beforeAll(async () => {
    ej = await startEjabberd({ auth: { method: "internal" }, services: [{ host: "issuer.example.test", password: "component-secret" }], saslMechanisms: "plain-only" });
    await ej.register("alice", "correct horse");
  }, 60_000);
  afterAll(async () => {
    const dir = ej?.dir;
    const pid = ej?.pid;
    await ej?.stop();
    if (dir) expect(existsSync(dir)).toBe(false);
    if (pid) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);

  test("a registered account logs in with PLAIN; a wrong password is not-authorized", async () => {
    expect(await loginWithPassword(ej, "alice", "correct horse")).toBe(`online alice@${ej.domain}/test`);
    expect(await loginWithPassword(ej, "alice", "wrong")).toBe("not-authorized");
  });

  test("the component listener answers a stream for the component host", async () => {
    const header = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: ej.host, port: ej.servicePort! });
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => {
        text += d;
        if (text.includes("id=")) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on("error", reject);
      socket.write(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='issuer.example.test'>`);
    });
    expect(header).toContain("jabber:component:accept");
    expect(header).toContain("from='issuer.example.test'");
  });

  test("the node listens on loopback only", () => {
    expect(ej.host).toBe("127.0.0.1");
    expect(ej.log()).toContain(`Start accepting TCP connections at 127.0.0.1:${ej.c2sPort}`);
  });
});
