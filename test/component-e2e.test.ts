/**
 * The login-token component end to end: our server hosts it (XEP-0114), real @xmpp/client users
 * run the command, and a second real client logs in with the token it hands out.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { xml, type Element } from "@xmpp/xml";
import type { Client } from "@xmpp/client";
import { connectWithToken } from "../src/client/connect.js";
import { startTokenComponent, type TokenComponent } from "../src/component/component.js";
import { LOGIN_TOKEN_NODE, NS_COMMANDS, NS_DISCO_INFO, NS_DISCO_ITEMS } from "../src/component/login-token-command.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOMAIN, OTHER_DOMAIN, startTestServer, type TestServer } from "./helpers/server.js";
import { spawnCli } from "./helpers/cli.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";

afterAll(removeTempDirs);

const COMPONENT = "tokens.example.test";
const SECRET = "component-e2e-secret-ünïcödé";

let t: TestServer;
let component: TokenComponent;
const componentLog: string[] = [];

function tcp(server = t) {
  return `xmpp://127.0.0.1:${server.server.ports.c2s}`;
}

function startComponent(server = t, secret = SECRET, log = componentLog): TokenComponent {
  return startTokenComponent({
    service: `xmpp://127.0.0.1:${server.server.ports.component}`,
    domain: COMPONENT,
    secret,
    domains: { [DOMAIN]: { keys: server.keys[DOMAIN]! }, [OTHER_DOMAIN]: { keys: server.keys[OTHER_DOMAIN]! } },
    admins: [`boss@${DOMAIN}`],
    websocketUrl: "ws://127.0.0.1:5280/xmpp-websocket",
    reconnect: { minMs: 100, maxMs: 400 },
    log: { info: (m) => log.push(m), warn: (m) => log.push(m) },
  });
}

const clients: Client[] = [];
async function user(local: string, domain = DOMAIN, server = t): Promise<Client> {
  return track(await connectWithToken({ service: tcp(server), domain, username: local, token: server.mint(local, { domain }) }));
}

function track(xmpp: Client): Client {
  xmpp.on("error", () => {}); // the server restart below ends every stream with system-shutdown
  clients.push(xmpp);
  return xmpp;
}

async function iq(xmpp: Client, type: "get" | "set", payload: Element, to = COMPONENT): Promise<Element> {
  const reply = await xmpp.iqCaller.request(xml("iq", { type, to }, payload), 15_000);
  return reply.getChildElements()[0]!;
}

async function errorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { condition?: string }).condition ?? String(err);
  }
  return "no error";
}

const executeCommand = (attrs: Record<string, string> = {}, ...children: Element[]) =>
  xml("command", { xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, action: "execute", ...attrs }, ...children);
const jidForm = (jid: string) => xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "jid" }, xml("value", {}, jid)));

function formValues(command: Element): Record<string, string> {
  const x = command.getChild("x", "jabber:x:data")!;
  return Object.fromEntries(x.getChildren("field").map((f) => [f.attrs.var!, f.getChildText("value") ?? ""]));
}

async function loginError(local: string, token: string, server = t): Promise<string> {
  try {
    const xmpp = await connectWithToken({ service: tcp(server), domain: DOMAIN, username: local, token });
    await xmpp.stop();
    return "success";
  } catch (err) {
    return (err as { condition?: string }).condition ?? String(err);
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  t = await startTestServer({ components: { [COMPONENT]: SECRET } });
  component = startComponent();
  await component.online();
});

afterAll(async () => {
  for (const xmpp of clients) await xmpp.stop().catch(() => {});
  await component.stop();
  await t.close();
});

describe("a user gets a login token through the component", () => {
  test("disco finds the component and its command; execute returns the token; a second client logs in with it, once", async () => {
    const alice = await user("alice");
    // The server lists the component; the component says it has commands and lists the command.
    const items = await iq(alice, "get", xml("query", { xmlns: NS_DISCO_ITEMS }), DOMAIN);
    expect(items.getChildren("item").map((i) => i.attrs.jid)).toContain(COMPONENT);
    const info = await iq(alice, "get", xml("query", { xmlns: NS_DISCO_INFO }));
    expect(info.getChildren("feature").map((f) => f.attrs.var)).toContain(NS_COMMANDS);
    const commands = await iq(alice, "get", xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS }));
    expect(commands.getChildren("item").map((i) => i.attrs)).toEqual([{ jid: COMPONENT, node: LOGIN_TOKEN_NODE, name: "Get a login token" }]);

    const result = await iq(alice, "set", executeCommand());
    expect(result.attrs.status).toBe("completed");
    const values = formValues(result);
    expect(values.jid).toBe(`alice@${DOMAIN}`);
    expect(values["websocket-url"]).toBe("ws://127.0.0.1:5280/xmpp-websocket");
    expect(Date.parse(values.expires!)).toBeGreaterThan(Date.now());
    expect(componentLog).toContainEqual(expect.stringContaining(`minted by alice@${DOMAIN} for alice@${DOMAIN}`));
    expect(componentLog.join("\n")).not.toContain(values.token!);

    // A second device logs in with it...
    const second = track(await connectWithToken({ service: tcp(), domain: DOMAIN, username: "alice", token: values.token!, resource: "kiosk" }));
    // Bind 2 (SASL2): the resource asked for is a prefix the server makes unique.
    expect(second.jid?.toString()).toMatch(new RegExp(`^alice@${DOMAIN.replace(".", "\\.")}/kiosk\\.`));
    // ...once.
    expect(await loginError("alice", values.token!)).toBe("not-authorized");
  });

  test("a non-admin asking for another JID gets forbidden; someone of a domain without keys too", async () => {
    const bob = await user("bob");
    expect(await errorOf(iq(bob, "set", executeCommand({}, jidForm(`carol@${DOMAIN}`))))).toBe("forbidden");
    expect(componentLog).toContainEqual(expect.stringContaining(`refused a login token to bob@${DOMAIN} for carol@${DOMAIN}: forbidden`));
    expect(await errorOf(iq(bob, "set", executeCommand({ node: "urn:nothing" })))).toBe("item-not-found");
    expect(await errorOf(iq(bob, "set", xml("query", { xmlns: "urn:unknown" })))).toBe("service-unavailable");
  });

  test("an admin gets the form, submits a JID of the other domain, and that user logs in", async () => {
    const boss = await user("boss");
    const form = await iq(boss, "set", executeCommand());
    expect(form.attrs.status).toBe("executing");
    const done = await iq(boss, "set", executeCommand({ sessionid: form.attrs.sessionid!, action: "complete" }, jidForm(`dave@${OTHER_DOMAIN}`)));
    const values = formValues(done);
    expect(values.jid).toBe(`dave@${OTHER_DOMAIN}`);
    const dave = track(await connectWithToken({ service: tcp(), domain: OTHER_DOMAIN, username: "dave", token: values.token! }));
    expect(dave.jid?.bare().toString()).toBe(`dave@${OTHER_DOMAIN}`);
  });

  test("the rate limit answers resource-constraint", async () => {
    const erin = await user("erin");
    const answers: string[] = [];
    for (let i = 0; i < 11; i++) answers.push(await errorOf(iq(erin, "set", executeCommand())));
    expect(answers.slice(0, 10)).toEqual(Array(10).fill("no error"));
    expect(answers[10]).toBe("resource-constraint");
  });
});

describe("the component's connection", () => {
  test("a wrong secret is refused (not-authorized) and the component never gets online", async () => {
    const lines: string[] = [];
    const wrong = startComponent(t, "not-the-secret", lines);
    try {
      await until(() => lines.some((l) => l.includes("refused the component secret")), "the refusal");
      expect(wrong.status).not.toBe("online");
      expect(t.logLines).toContainEqual(expect.stringContaining(`component ${COMPONENT} from 127.0.0.1: wrong handshake`));
    } finally {
      await wrong.stop();
    }
    // The right one was never disturbed.
    expect(component.status).toBe("online");
  });

  test("a second connection with the right secret gets conflict; the first one keeps serving", async () => {
    const lines: string[] = [];
    const twin = startComponent(t, SECRET, lines);
    try {
      await until(() => t.logLines.some((l) => l.includes(`component ${COMPONENT} from 127.0.0.1: refused, already connected`)), "the conflict");
    } finally {
      await twin.stop();
    }
    const frank = await user("frank");
    expect(formValues(await iq(frank, "set", executeCommand())).jid).toBe(`frank@${DOMAIN}`);
  });

  test("server restarted on the same ports: the component reconnects and serves again", async () => {
    const ports = { c2s: t.server.ports.c2s!, component: t.server.ports.component! };
    const keys = t.keys;
    await t.close();
    await until(() => component.status !== "online", "the component to notice");
    t = await startTestServer({ components: { [COMPONENT]: SECRET }, ports, keys });
    await component.online();
    const grace = await user("grace");
    const token = formValues(await iq(grace, "set", executeCommand())).token!;
    expect(await loginError("grace", token)).toBe("success");
  });
});

describe("x-token component, the program", () => {
  /** The compiled binary with a config file of the test server's keys; the secret from the environment. */
  function spawnComponent() {
    const dir = tempDir("x-token-component-e2e-");
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify({
      domains: { [DOMAIN]: { keys: t.keys[DOMAIN] } },
      tokenComponent: { service: `xmpp://127.0.0.1:${t.server.ports.component}`, domain: COMPONENT, secretEnv: "TOKENS_SECRET" },
    }));
    const child = spawnCli(["component", "--config", file], { TOKENS_SECRET: SECRET });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, exited, stderr: () => stderr };
  }

  const connections = () => t.logLines.filter((l) => l.includes(`component ${COMPONENT} connected`)).length;
  const disconnections = () => t.logLines.filter((l) => l.includes(`component ${COMPONENT} disconnected`)).length;

  test("killed and started again, it reconnects and serves; SIGTERM stops it cleanly", async () => {
    // The in-process component steps aside so the program can take the domain.
    await component.stop();
    await until(() => disconnections() >= connections(), "the in-process component to leave");
    const before = connections();
    const spawned: ReturnType<typeof spawnComponent>[] = [];
    try {
      const first = spawnComponent();
      spawned.push(first);
      await until(() => connections() === before + 1, "the program to connect", 15_000);
      const henry = await user("henry");
      expect(formValues(await iq(henry, "set", executeCommand())).jid).toBe(`henry@${DOMAIN}`);

      first.child.kill("SIGKILL");
      await first.exited;
      await until(() => disconnections() >= before + 1, "the server to see it gone");
      expect(await errorOf(iq(henry, "set", executeCommand()))).toBe("service-unavailable");

      const second = spawnComponent();
      spawned.push(second);
      await until(() => connections() === before + 2, "the program to connect again", 15_000);
      const token = formValues(await iq(henry, "set", executeCommand())).token!;
      expect(await loginError("henry", token)).toBe("success");
      // Its log line travels through a pipe: it may arrive after the answer.
      await until(() => second.stderr().includes(`login token minted by henry@${DOMAIN} for henry@${DOMAIN}`), "the mint log line");
      expect(second.stderr()).not.toContain(token);
      expect(second.stderr()).not.toContain(SECRET);

      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    } finally {
      // A failed step must not leave a program running (it would keep jest from exiting).
      for (const { child } of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    // Back to the in-process one for whatever runs after.
    component = startComponent();
    await component.online();
  }, 60_000);
});
