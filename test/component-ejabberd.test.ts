/**
 * The login-token component on a real, private ejabberd (test/helpers/ejabberd.ts): an
 * `ejabberd_service` listener hosts it, users log in with tokens through `x-token extauth`.
 */
import { afterAll, beforeAll, expect, test, describe } from "@jest/globals";
import { client, type Client } from "@xmpp/client";
import { xml } from "@xmpp/xml";
import { mintToken } from "../src/core/token/mint.js";
import type { TokenKey } from "../src/core/token/keys.js";
import { startTokenComponent, type TokenComponent } from "../src/component/component.js";
import { LOGIN_TOKEN_NODE, NS_COMMANDS } from "../src/component/login-token-command.js";
import { BINARY } from "./helpers/cli.js";
import { ejabberdPrivateDir, ejabberdPrivateFile, ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
import { loginWithPassword } from "./helpers/ejabberd-login.js";
import { freshKey } from "./helpers/server.js";

const unavailable = ejabberdUnavailable();
if (unavailable) console.warn(`skipping the component-on-ejabberd test: ${unavailable}`);
const describeWithEjabberd = unavailable ? describe.skip : describe;

const DOMAIN = "example.test";
const COMPONENT = "tokens.example.test";
const SECRET = "ejabberd-component-secret";

describeWithEjabberd("the component on ejabberd (ejabberd_service)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  const removals: (() => void)[] = [];
  let component: TokenComponent;
  beforeAll(async () => {
    // The extauth program's used tokens: SQLite in a data directory of its own, removed afterwards.
    const data = ejabberdPrivateDir();
    removals.push(data.remove);
    const file = ejabberdPrivateFile("x-token.json", JSON.stringify({ domains: { [DOMAIN]: { keys: [key] } }, storage: { dir: data.path } }));
    removals.push(file.remove);
    ej = await startEjabberd({
      domains: [DOMAIN],
      auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file.path], poolSize: 1 },
      services: [{ host: COMPONENT, password: SECRET }],
    });
    component = startTokenComponent({ service: `xmpp://127.0.0.1:${ej.servicePort}`, domain: COMPONENT, secret: SECRET, domains: { [DOMAIN]: { keys: [key] } } });
    await component.online();
  }, 90_000);
  afterAll(async () => {
    await component?.stop();
    await ej?.stop();
    for (const remove of removals) remove();
  }, 30_000);

  test("a user who logged in to ejabberd with a token gets a new one from the component, and it logs in once", async () => {
    const xmpp: Client = client({ service: `xmpp://127.0.0.1:${ej.c2sPort}`, domain: DOMAIN, username: "alice", password: mintToken({ jid: `alice@${DOMAIN}`, key }), resource: "phone" });
    xmpp.reconnect.stop();
    xmpp.on("error", () => {});
    await xmpp.start();
    try {
      const reply = await xmpp.iqCaller.request(
        xml("iq", { type: "set", to: COMPONENT }, xml("command", { xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, action: "execute" })),
        15_000,
      );
      const command = reply.getChild("command", NS_COMMANDS)!;
      expect(command.attrs.status).toBe("completed");
      const fields = command.getChild("x", "jabber:x:data")!.getChildren("field");
      const value = (name: string) => fields.find((f) => f.attrs.var === name)?.getChildText("value");
      expect(value("jid")).toBe(`alice@${DOMAIN}`);
      const token = value("token")!;
      expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
      expect(await loginWithPassword(ej, "alice", token)).toBe("not-authorized");
    } finally {
      await xmpp.stop().catch(() => {});
    }
  }, 60_000);
});
