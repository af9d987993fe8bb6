/**
 * The private ejabberd harness itself (test/helpers/ejabberd.ts), with ejabberd's internal
 * accounts: the node starts on its own loopback port, takes logins through real @xmpp/client,
 * refuses a wrong password, serves a component listener, and is gone after stop(); the data
 * directories it hands out for extauth programs are the ejabberd user's and go with remove().
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { ejabberdIds, ejabberdPrivateDir, ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
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

describeWithEjabberd("a data directory for the extauth program (ejabberdPrivateDir)", () => {
  test("is private to the ejabberd user, which can write in it, and remove() deletes it with its contents", () => {
    const dir = ejabberdPrivateDir();
    try {
      const { uid } = ejabberdIds();
      expect(statSync(dir.path).uid).toBe(uid);
      expect(statSync(dir.path).mode & 0o777).toBe(0o700);
      // What the program does there: create the database file, as the ejabberd user.
      execFileSync("su", ["-s", "/bin/sh", "-c", 'touch "$0/x-token.sqlite"', "ejabberd", "--", dir.path]);
      expect(statSync(join(dir.path, "x-token.sqlite")).uid).toBe(uid);
    } finally {
      dir.remove();
    }
    expect(existsSync(dir.path)).toBe(false);
  });
});
