/** The login-token command's logic (no I/O): disco, execute, forms, ACL, admins, rate limit, errors. */
import { describe, expect, test } from "@jest/globals";
import { xml, type Element } from "@xmpp/xml";
import parse from "@xmpp/xml/lib/parse.js";
import { checkToken, type TokenKey } from "../src/index.js";
import {
  LOGIN_TOKEN_NODE,
  LoginTokenCommand,
  LoginTokenOptionsError,
  NS_COMMANDS,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  type LoginTokenOptions,
} from "../src/component/login-token-command.js";
import { AccessOptionsError } from "../src/component/access.js";

const KEYS: TokenKey[] = [{ tokenSecret: "component-test-secret", otpSeed: "XVGR73KMZH2M4XMY" }];
const OTHER_KEYS: TokenKey[] = [{ tokenSecret: "other-test-secret", otpSeed: "JBSWY3DPEHPK3PXP" }];
const NOW = 1_700_000_000;

function make(options: Partial<LoginTokenOptions> = {}, lines: string[] = []): LoginTokenCommand {
  return new LoginTokenCommand({
    domain: "tokens.example.com",
    domains: { "example.com": { keys: KEYS }, "other.example": { keys: OTHER_KEYS } },
    admins: ["boss@example.com"],
    now: () => NOW,
    log: { info: (m) => lines.push(m), warn: (m) => lines.push(m) },
    ...options,
  });
}

function run(options: Partial<LoginTokenOptions> = {}) {
  const lines: string[] = [];
  return { c: make(options, lines), lines };
}

const execute = (attrs: Record<string, string> = {}, ...children: Element[]) =>
  xml("command", { xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, action: "execute", ...attrs }, ...children);
const form = (fields: Record<string, string | string[]>, type = "submit") =>
  xml("x", { xmlns: "jabber:x:data", type }, ...Object.entries(fields).map(([name, v]) => xml("field", { var: name }, ...[v].flat().map((t) => xml("value", {}, t)))));

function condition(reply: Element): string | null {
  if (!reply.is("error")) return null;
  return reply.getChildElements().find((c) => c.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name !== "text")!.name;
}

function fields(reply: Element): Record<string, string> {
  const x = reply.getChild("x", "jabber:x:data")!;
  return Object.fromEntries(x.getChildren("field").map((f) => [f.attrs.var, f.getChildText("value") ?? ""]));
}

describe("service discovery", () => {
  test("the component: identity and the commands feature", () => {
    const info = make().discoInfo("alice@example.com/phone", xml("query", { xmlns: NS_DISCO_INFO }));
    expect(info.getChild("identity")!.attrs).toMatchObject({ category: "component", type: "generic" });
    const features = info.getChildren("feature").map((f) => f.attrs.var);
    expect(features).toEqual(expect.arrayContaining([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_COMMANDS, "jabber:x:data"]));
  });

  test("the commands node is automation/command-list and lists the command", () => {
    const c = make();
    const info = c.discoInfo("alice@example.com/phone", xml("query", { xmlns: NS_DISCO_INFO, node: NS_COMMANDS }));
    expect(info.getChild("identity")!.attrs).toMatchObject({ category: "automation", type: "command-list" });
    const items = c.discoItems("alice@example.com/phone", xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS }));
    expect(items.attrs.node).toBe(NS_COMMANDS);
    expect(items.getChildren("item").map((i) => i.attrs)).toEqual([{ jid: "tokens.example.com", node: LOGIN_TOKEN_NODE, name: "Get a login token" }]);
    const node = c.discoInfo("alice@example.com/phone", xml("query", { xmlns: NS_DISCO_INFO, node: LOGIN_TOKEN_NODE }));
    expect(node.getChild("identity")!.attrs).toMatchObject({ category: "automation", type: "command-node", name: "Get a login token" });
  });

  test("someone who may not run it does not see it; unknown nodes are item-not-found", () => {
    const c = make({ allowed: ["example.com"] });
    expect(c.discoItems("eve@elsewhere.example/x", xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS })).getChildren("item")).toHaveLength(0);
    expect(condition(c.discoInfo("eve@elsewhere.example/x", xml("query", { xmlns: NS_DISCO_INFO, node: LOGIN_TOKEN_NODE })))).toBe("item-not-found");
    expect(condition(c.discoInfo("alice@example.com/x", xml("query", { xmlns: NS_DISCO_INFO, node: "urn:nothing" })))).toBe("item-not-found");
    expect(condition(c.discoItems("alice@example.com/x", xml("query", { xmlns: NS_DISCO_ITEMS, node: "urn:nothing" })))).toBe("item-not-found");
  });
});

describe("a user gets their own token", () => {
  test("completed in one step: a result form with the token for the bare JID, its expiry, the URLs", async () => {
    const { c, lines } = run({ websocketUrl: "wss://chat.example.com/xmpp-websocket", loginUrl: "https://chat.example.com/login#jid={jid}&token={token}" });
    const reply = await c.execute("Alice@Example.com/phone", execute());
    expect(reply.attrs).toMatchObject({ xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, status: "completed" });
    expect(reply.attrs.sessionid).toBeTruthy();
    const x = reply.getChild("x", "jabber:x:data")!;
    expect(x.attrs.type).toBe("result");
    const f = fields(reply);
    expect(f.FORM_TYPE).toBe(LOGIN_TOKEN_NODE);
    expect(f.jid).toBe("alice@example.com");
    const checked = checkToken(f.token!, { jid: "alice@example.com", keys: KEYS, now: NOW });
    expect(checked.ok).toBe(true);
    expect(f.expires).toBe(new Date((checked as { expiresAt: number }).expiresAt * 1000).toISOString().replace(".000Z", "Z"));
    expect(f["websocket-url"]).toBe("wss://chat.example.com/xmpp-websocket");
    expect(f["login-url"]).toBe(`https://chat.example.com/login#jid=alice%40example.com&token=${encodeURIComponent(f.token!)}`);
    expect(reply.getChildText("note")).toContain("usable once");
    // Logged: who and for whom, never the token.
    expect(lines).toEqual([expect.stringContaining("minted by alice@example.com for alice@example.com")]);
    expect(lines.join("\n")).not.toContain(f.token!.slice(0, 40));
  });

  test("without URLs configured the form has no URL fields", async () => {
    const f = fields(await make().execute("alice@example.com/phone", execute()));
    expect(Object.keys(f).sort()).toEqual(["FORM_TYPE", "expires", "jid", "token"]);
  });

  test("a submitted form naming one's own JID (any case, with a resource) is fine; another JID is forbidden", async () => {
    const c = make();
    expect(fields(await c.execute("alice@example.com/phone", execute({}, form({ jid: "ALICE@example.com/x" })))).jid).toBe("alice@example.com");
    const { c: d, lines } = run();
    const reply = await d.execute("alice@example.com/phone", execute({ action: "complete" }, form({ jid: "bob@example.com" })));
    expect(condition(reply)).toBe("forbidden");
    expect(reply.attrs.type).toBe("auth");
    expect(lines).toEqual([expect.stringContaining("refused a login token to alice@example.com for bob@example.com: forbidden")]);
  });

  test("users of domains without keys, addresses without a localpart, no from: forbidden", async () => {
    const c = make();
    for (const from of ["eve@elsewhere.example/x", "example.com", "tokens.example.com", undefined, "@@bad"]) {
      expect(condition(await c.execute(from, execute()))).toBe("forbidden");
    }
  });

  test("allowed: only listed JIDs and domains", async () => {
    const c = make({ allowed: ["bob@example.com", "other.example"] });
    expect(condition(await c.execute("alice@example.com/x", execute()))).toBe("forbidden");
    expect(fields(await c.execute("Bob@example.com/x", execute())).jid).toBe("bob@example.com");
    expect(fields(await c.execute("carol@other.example/x", execute())).jid).toBe("carol@other.example");
    // Admins are always allowed.
    expect(fields(await c.execute("boss@example.com/x", execute({}, form({ jid: "alice@example.com" })))).jid).toBe("alice@example.com");
  });

  test("rate limit per requester: resource-constraint (wait), others unaffected, again after the window", async () => {
    let now = NOW;
    const c = make({ rateLimit: { max: 2, perSeconds: 60 }, now: () => now });
    await c.execute("alice@example.com/a", execute());
    await c.execute("alice@example.com/b", execute());
    const third = await c.execute("alice@example.com/c", execute());
    expect(condition(third)).toBe("resource-constraint");
    expect(third.attrs.type).toBe("wait");
    expect(fields(await c.execute("bob@example.com/a", execute())).jid).toBe("bob@example.com");
    now += 61;
    expect(fields(await c.execute("alice@example.com/a", execute())).jid).toBe("alice@example.com");
  });
});

describe("admins", () => {
  test("get a form with a jid field, then a token for the JID they submit", async () => {
    const { c, lines } = run();
    const first = await c.execute("boss@example.com/desk", execute());
    expect(first.attrs.status).toBe("executing");
    const sessionid = first.attrs.sessionid!;
    expect(first.getChild("actions")!.attrs.execute).toBe("complete");
    const x = first.getChild("x", "jabber:x:data")!;
    expect(x.attrs.type).toBe("form");
    const jidField = x.getChildren("field").find((f) => f.attrs.var === "jid")!;
    expect(jidField.attrs.type).toBe("jid-single");
    expect(jidField.getChild("required")).toBeTruthy();
    const done = await c.execute("boss@example.com/desk", execute({ sessionid, action: "complete" }, form({ jid: "carol@other.example" })));
    expect(done.attrs).toMatchObject({ status: "completed", sessionid });
    const f = fields(done);
    expect(f.jid).toBe("carol@other.example");
    expect(checkToken(f.token!, { jid: "carol@other.example", keys: OTHER_KEYS, now: NOW }).ok).toBe(true);
    expect(lines).toContainEqual(expect.stringContaining("minted by boss@example.com for carol@other.example"));
    // The session is used up.
    const again = await c.execute("boss@example.com/desk", execute({ sessionid, action: "complete" }, form({ jid: "carol@other.example" })));
    expect(condition(again)).toBe("bad-request");
    expect(again.getChild("bad-sessionid", NS_COMMANDS)).toBeTruthy();
  });

  test("one-shot with the form in the first request (bots); domains without keys: item-not-found; bad JID: bad-request", async () => {
    const c = make();
    expect(fields(await c.execute("boss@example.com/bot", execute({}, form({ jid: "dave@example.com" })))).jid).toBe("dave@example.com");
    expect(condition(await c.execute("boss@example.com/bot", execute({}, form({ jid: "dave@elsewhere.example" }))))).toBe("item-not-found");
    expect(condition(await c.execute("boss@example.com/bot", execute({}, form({ jid: "no-localpart.example" }))))).toBe("bad-request");
    expect(condition(await c.execute("boss@example.com/bot", execute({}, form({ jid: "a@b@example.com" }))))).toBe("bad-request");
  });

  test("sessions belong to the full JID that opened them; cancel; a missing jid is bad-request", async () => {
    const c = make();
    const open = async () => (await c.execute("boss@example.com/desk", execute())).attrs.sessionid!;
    const s1 = await open();
    const stolen = await c.execute("alice@example.com/x", execute({ sessionid: s1, action: "complete" }, form({ jid: "alice@example.com" })));
    expect(condition(stolen)).toBe("bad-request");
    const cancelled = await c.execute("boss@example.com/desk", execute({ sessionid: s1, action: "cancel" }));
    expect(cancelled.attrs.status).toBe("canceled");
    const s2 = await open();
    expect(condition(await c.execute("boss@example.com/desk", execute({ sessionid: s2, action: "complete" }, form({ jid: "" }))))).toBe("bad-request");
  });

  test("open sessions are bounded: the oldest goes first", async () => {
    const c = make({ maxSessions: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await c.execute("boss@example.com/desk", execute())).attrs.sessionid!);
    expect(condition(await c.execute("boss@example.com/desk", execute({ sessionid: ids[0]!, action: "complete" }, form({ jid: "a@example.com" }))))).toBe("bad-request");
    expect(fields(await c.execute("boss@example.com/desk", execute({ sessionid: ids[2]!, action: "complete" }, form({ jid: "a@example.com" })))).jid).toBe("a@example.com");
  });

  test("sessions expire", async () => {
    let now = NOW;
    const c = make({ now: () => now, sessionSeconds: 60 });
    const sessionid = (await c.execute("boss@example.com/desk", execute())).attrs.sessionid!;
    now += 61;
    expect(condition(await c.execute("boss@example.com/desk", execute({ sessionid, action: "complete" }, form({ jid: "a@example.com" }))))).toBe("bad-request");
  });
});

describe("bad requests get the right error, never silence", () => {
  const c = make();
  test.each([
    ["unknown command node", execute({ node: "urn:nothing" }), "item-not-found"],
    ["no node", xml("command", { xmlns: NS_COMMANDS, action: "execute" }), "item-not-found"],
    ["unknown action", execute({ action: "explode" }), "bad-request"],
    ["prev without a session", execute({ action: "prev" }), "bad-request"],
    ["cancel without a session", execute({ action: "cancel" }), "bad-request"],
    ["unknown session", execute({ sessionid: "nope", action: "complete" }), "bad-request"],
    ["a form that is not submitted", execute({}, form({ jid: "alice@example.com" }, "form")), "bad-request"],
    ["two forms", execute({}, form({}), form({})), "bad-request"],
    ["a field named twice", execute({}, xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "jid" }), xml("field", { var: "jid" }))), "bad-request"],
    ["jid with two values", execute({}, form({ jid: ["alice@example.com", "bob@example.com"] })), "bad-request"],
    ["too many fields", execute({}, form(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, "x"])))), "bad-request"],
    ["a field without a name", execute({}, xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", {}, xml("value", {}, "x")))), "bad-request"],
  ])("%s", async (_label, command, expected) => {
    const reply = await c.execute("alice@example.com/x", command);
    expect(condition(reply)).toBe(expected);
    expect(reply.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas")).toBeTruthy();
  });

  test("a request parsed from the wire (namespaces, whitespace) works the same", async () => {
    const wire = parse(`<command xmlns='${NS_COMMANDS}' node='${LOGIN_TOKEN_NODE}' action='execute'>\n  <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>alice@example.com</value></field></x>\n</command>`);
    expect(fields(await c.execute("alice@example.com/x", wire)).jid).toBe("alice@example.com");
  });
});

describe("options are checked at creation", () => {
  test.each([
    [{ domains: {} }, LoginTokenOptionsError],
    [{ websocketUrl: "http://not-a-websocket" }, LoginTokenOptionsError],
    [{ loginUrl: "https://example.com/login" }, LoginTokenOptionsError],
    [{ loginUrl: "javascript:alert({token})" }, LoginTokenOptionsError],
    [{ rateLimit: { max: 0, perSeconds: 60 } }, LoginTokenOptionsError],
    [{ admins: ["not a jid@@"] }, AccessOptionsError],
  ] as [Partial<LoginTokenOptions>, new () => Error][])("%j", (options, type) => {
    expect(() => make(options)).toThrow(type);
  });
});
