/**
 * The demo chat page: fetch a token from the app, log in to XMPP over WebSocket with X-TOKEN,
 * show who is online, send and receive messages. Bundled by scripts/build-browser.ts.
 */
import { client, xml } from "@xmpp/client";
import { useXToken } from "../../client/x-token-mechanism.js";
import { websocketService } from "./websocket-url.js";

interface StanzaLike {
  name: string;
  attrs: Record<string, string | undefined>;
  is(name: string): boolean;
  getChildText(name: string): string | null;
}

const body = document.body;
const me = body.dataset.jid!;
const [username, domain] = me.split("@") as [string, string];
const service = websocketService(body.dataset.websocket!, location);

const stateEl = document.getElementById("state")!;
const onlineEl = document.getElementById("online")!;
const logEl = document.getElementById("log")!;
const toEl = document.getElementById("to") as HTMLSelectElement;
const bodyEl = document.getElementById("body") as HTMLInputElement;
const online = new Map<string, Set<string>>(); // bare JID -> resources

function setState(state: string): void {
  stateEl.textContent = state;
  stateEl.dataset.state = state;
}

/**
 * A fresh token for every login: tokens are single-use, so reconnects fetch a new one. A 401
 * means the web session ended (signed out in another tab, expired): back to the sign-in page.
 */
async function fetchToken(): Promise<string> {
  const res = await fetch("/api/token", { credentials: "same-origin", cache: "no-store" });
  if (res.status === 401) {
    setState("signed out");
    location.assign("/");
  }
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

function renderOnline(): void {
  onlineEl.replaceChildren(
    ...[...online.keys()].sort().map((jid) => {
      const li = document.createElement("li");
      li.textContent = jid;
      return li;
    }),
  );
  const selected = toEl.value;
  toEl.replaceChildren(
    ...[...online.keys()].filter((jid) => jid !== me).sort().map((jid) => {
      const option = document.createElement("option");
      option.value = option.textContent = jid;
      return option;
    }),
  );
  if ([...toEl.options].some((o) => o.value === selected)) toEl.value = selected;
}

function addLine(from: string, text: string, mine: boolean): void {
  const li = document.createElement("li");
  li.className = mine ? "mine" : "theirs";
  const who = document.createElement("strong");
  who.textContent = `${from}: `;
  li.append(who, document.createTextNode(text));
  logEl.append(li);
}

const xmpp = client({
  service,
  domain,
  credentials: async (authenticate: (c: object, mechanism: string) => Promise<void>) =>
    authenticate({ username, password: await fetchToken() }, "X-TOKEN"),
});
useXToken(xmpp);

xmpp.on("status", (status: string) => setState(status));
xmpp.on("error", () => setState("error"));
xmpp.on("online", async () => {
  setState("online");
  online.set(me, new Set());
  renderOnline();
  await xmpp.send(xml("presence"));
});
xmpp.on("stanza", (stanza: StanzaLike) => {
  const from = stanza.attrs.from ?? "";
  const bare = from.split("/")[0]!;
  if (stanza.is("presence")) {
    const resources = online.get(bare) ?? new Set<string>();
    if (stanza.attrs.type === "unavailable") resources.delete(from);
    else if (!stanza.attrs.type) resources.add(from);
    if (resources.size === 0 && bare !== me) online.delete(bare);
    else online.set(bare, resources);
    renderOnline();
  } else if (stanza.is("message") && stanza.getChildText("body") !== null) {
    addLine(bare, stanza.getChildText("body")!, false);
  }
});

document.getElementById("send")!.addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = toEl.value;
  const text = bodyEl.value.trim();
  if (!to || !text) return;
  await xmpp.send(xml("message", { to, type: "chat" }, xml("body", {}, text)));
  addLine(me, text, true);
  bodyEl.value = "";
});

// Signing out of the app ends the XMPP session first.
const signout = document.getElementById("signout") as HTMLFormElement;
signout.addEventListener("submit", async (event) => {
  event.preventDefault();
  setState("signing out");
  await xmpp.stop().catch(() => {});
  signout.submit();
});

xmpp.start().catch(() => setState("error"));
