/**
 * The demo chat page: fetch a token from the app, log in to XMPP over WebSocket with X-TOKEN,
 * show who is online, send and receive messages. Where the server offers FAST, the first login
 * asks for a FAST token, kept in localStorage: a reload or a reconnect logs in with it and does
 * not call the app for a new X-TOKEN. Bundled by scripts/build-browser.ts.
 */
import { client, xml, type CredentialsCallback } from "@xmpp/client";
import { fastXTokenLogin } from "../../client/fast-login.js";
import { FastStoreError, memoryFastStore, webStorageFastStore, type FastState, type FastStore } from "../../client/fast-store.js";
import { InsecureStreamError } from "../../client/x-token-mechanism.js";
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
const rosterNoteEl = document.getElementById("roster-note")!;
const logEl = document.getElementById("log")!;
const newerButton = document.getElementById("newer") as HTMLButtonElement;
const toEl = document.getElementById("to") as HTMLSelectElement;
const bodyEl = document.getElementById("body") as HTMLInputElement;
const sendButton = document.querySelector<HTMLButtonElement>("#send button")!;
const sendNoteEl = document.getElementById("send-note")!;
const online = new Map<string, Set<string>>(); // bare JID -> resources, while we are online

/**
 * What the page shows, from @xmpp/client's many statuses: a person needs to know whether the chat
 * works, not which step of the stream it is at.
 */
type View = "connecting" | "online" | "offline" | "signing out" | "signed out";
let view: View = "connecting";
/** Set once a connection was lost: the next connection attempt is a reconnect. */
let lostConnection = false;
/** Why the last connection ended, in words (from the error event), shown while offline. */
let lastProblem = "";
let signingOut = false;

function viewOf(status: string): View {
  if (status === "online") return "online";
  if (["connecting", "connect", "opening", "open"].includes(status)) return "connecting";
  return "offline"; // closing, close, disconnecting, disconnect, offline
}

function setView(next: View): void {
  if (signingOut && next !== "signed out") next = "signing out";
  if (next === "offline" && view === "online") lostConnection = true;
  if (next === "online") {
    lostConnection = false;
    lastProblem = "";
  }
  view = next;
  stateEl.dataset.state = next;
  stateEl.textContent =
    next === "connecting" ? (lostConnection ? "reconnecting…" : "connecting…") : next === "offline" ? "offline" : next;
  if (next !== "online") online.clear();
  render();
}

/** The web app did not hand out a token: the attempt is given up and tried again (see retryLater). */
class NoToken extends Error {}

/**
 * A fresh X-TOKEN from the app, for a login FAST cannot do (the first one in this browser, or
 * after the server refused the FAST token): X-TOKENs are single-use. A 401 means the web session
 * ended (signed out in another tab, expired): the FAST record is dropped, back to the sign-in page.
 */
async function fetchToken(): Promise<string> {
  let res: Response;
  try {
    res = await fetch("/api/token", { credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new NoToken("the web app did not answer");
  }
  if (res.status === 401) {
    signingOut = true;
    setView("signed out");
    await fastStore.clear();
    location.assign("/");
  }
  if (!res.ok) throw new NoToken(`the web app did not hand out a token (HTTP ${res.status})`);
  return ((await res.json()) as { token: string }).token;
}

/** The online list, the recipient box and Send, each saying why when there is nothing to show. */
function render(): void {
  const others = [...online.keys()].filter((jid) => jid !== me).sort();
  onlineEl.replaceChildren(
    ...(view === "online" ? [me, ...others] : []).map((jid) => {
      const li = document.createElement("li");
      li.textContent = jid === me ? `${jid} (you)` : jid;
      return li;
    }),
  );
  rosterNoteEl.textContent =
    view === "online"
      ? others.length === 0
        ? "No one else is online yet."
        : ""
      : view === "offline"
        ? `You are offline${lastProblem ? `: ${lastProblem}` : ""}. Reconnecting…`
        : view === "connecting"
          ? "Not connected yet."
          : "Not connected.";

  const selected = toEl.value;
  const reason =
    view !== "online"
      ? view === "offline"
        ? "Send is off: you are offline."
        : "Send is off until the chat is connected."
      : others.length === 0
        ? "Send is off: no one else is online. Sign in as another demo user in a second browser or a private window."
        : "";
  if (reason) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = view === "online" ? "no one else is online" : "nobody to write to";
    toEl.replaceChildren(option);
  } else {
    toEl.replaceChildren(
      ...others.map((jid) => {
        const option = document.createElement("option");
        option.value = option.textContent = jid;
        return option;
      }),
    );
    if (others.includes(selected)) toEl.value = selected;
  }
  toEl.disabled = sendButton.disabled = reason !== "";
  sendNoteEl.textContent = reason;
}

/** The log is scrolled to (within a few pixels of) its newest message. */
function atNewest(): boolean {
  return logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight <= 24;
}

function showNewest(): void {
  logEl.scrollTop = logEl.scrollHeight;
  newerButton.hidden = true;
}

/**
 * The log scrolls inside its pane, so the input stays in view however long the conversation.
 * It follows new messages while the reader is at the newest one (and always after they send);
 * a reader who scrolled up to read stays where they are, with a button to jump to the newest.
 */
function addLine(from: string, text: string, mine: boolean): void {
  const follow = mine || atNewest();
  const li = document.createElement("li");
  li.className = mine ? "mine" : "theirs";
  const who = document.createElement("strong");
  who.textContent = `${from}: `;
  li.append(who, document.createTextNode(text));
  logEl.append(li);
  if (follow) showNewest();
  else newerButton.hidden = false;
}

logEl.addEventListener("scroll", () => {
  if (atNewest()) newerButton.hidden = true;
});
newerButton.addEventListener("click", () => {
  showNewest();
  bodyEl.focus();
});

// The token goes only over an encrypted stream (wss://), except when this page itself came over
// plain http (development: http://127.0.0.1:5280 with ws:// beside it), where the page and its
// session cookie are no better protected than the WebSocket. A deliberate choice of this page.
const allowInsecure = location.protocol === "http:";

/**
 * This browser's FAST record for the signed-in user, in localStorage (one key per user, so two
 * demo users in one browser keep theirs apart). The page must log in whatever the storage does:
 * an entry it cannot read is dropped, and a storage that cannot be written (disabled, full) gives
 * way to memory, where only this page's reconnects can use the token.
 */
function pageStore(key: string): FastStore {
  const memory = memoryFastStore();
  let persistent: FastStore | null = null;
  try {
    persistent = webStorageFastStore(window.localStorage, key);
  } catch {
    // localStorage itself refused (storage disabled): memory only
  }
  return {
    load(): FastState | undefined {
      if (!persistent) return memory.load() as FastState | undefined;
      try {
        return persistent.load() as FastState | undefined;
      } catch (err) {
        if (!(err instanceof FastStoreError)) throw err;
        persistent.clear();
        return undefined;
      }
    },
    save(state: FastState) {
      memory.save(state);
      try {
        persistent?.save(state);
      } catch {
        persistent = null;
      }
    },
    clear() {
      memory.clear();
      try {
        persistent?.clear();
      } catch {
        // nothing kept there
      }
    },
  };
}
const fastStore = pageStore(`xmpp-x-token.fast.${me}`);

// X-TOKEN (fetched from the app) for the first login, FAST for the ones after it where offered.
const login = fastXTokenLogin({ username, domain, token: fetchToken, store: fastStore, allowInsecure, software: "xmpp-x-token demo page" });
const credentials: CredentialsCallback = async (...args) => {
  try {
    await login.credentials(...args);
  } catch (err) {
    if (!signingOut && !(err instanceof InsecureStreamError)) retryLater(err);
    throw err;
  }
};
const xmpp = client({ service, domain, username, credentials }) as ReturnType<typeof client> & { disconnect(): Promise<unknown>; reconnect: { delay: number } };
login.attach(xmpp);

/** @xmpp/client waits a second before it reconnects; after failed logins, longer (at most 16 s). */
const RETRY_MS = { first: 1000, most: 16_000 };
/** What went wrong in the current attempt's login, said instead of the generic error text. */
let attemptProblem = "";

/**
 * A login that failed on an open stream (no token from the web app, or the token refused) leaves
 * @xmpp/client waiting on that stream for ever: the page would read "reconnecting…" and stay so.
 * Close the stream instead: the client's reconnect then starts a new attempt with a fresh token,
 * each one waiting twice as long as the one before.
 */
function retryLater(err: unknown): void {
  attemptProblem = err instanceof NoToken ? err.message : "the server refused the token";
  lastProblem = attemptProblem;
  xmpp.reconnect.delay = Math.min(xmpp.reconnect.delay * 2, RETRY_MS.most);
  setTimeout(() => void xmpp.disconnect().catch(() => {}), 0);
}

xmpp.on("status", (status: string) => {
  if (status === "connecting") attemptProblem = "";
  setView(viewOf(status));
});
xmpp.on("error", (error: { condition?: string; message?: string }) => {
  // Shown in words while offline; the status events that follow say what the client does next.
  lastProblem =
    attemptProblem ||
    (error.condition === "system-shutdown"
      ? "the server shut down"
      : error.condition === "not-authorized"
        ? "the server refused the token"
        : "the connection to the server failed");
  render();
});
xmpp.on("online", async () => {
  xmpp.reconnect.delay = RETRY_MS.first;
  setView("online");
  await xmpp.send(xml("presence"));
});
xmpp.on("stanza", (stanza: StanzaLike) => {
  const from = stanza.attrs.from ?? "";
  const bare = from.split("/")[0]!;
  if (stanza.is("presence")) {
    if (view !== "online" || bare === me) return;
    const resources = online.get(bare) ?? new Set<string>();
    if (stanza.attrs.type === "unavailable") resources.delete(from);
    else if (!stanza.attrs.type) resources.add(from);
    if (resources.size === 0) online.delete(bare);
    else online.set(bare, resources);
    render();
  } else if (stanza.is("message") && stanza.getChildText("body") !== null) {
    addLine(bare, stanza.getChildText("body")!, false);
  }
});

document.getElementById("send")!.addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = toEl.value;
  const text = bodyEl.value.trim();
  if (!to || !text || view !== "online") return;
  await xmpp.send(xml("message", { to, type: "chat" }, xml("body", {}, text)));
  addLine(me, text, true);
  bodyEl.value = "";
});

// Signing out of the app ends the XMPP session first.
const signout = document.getElementById("signout") as HTMLFormElement;
signout.addEventListener("submit", async (event) => {
  event.preventDefault();
  signingOut = true;
  setView("signing out");
  await xmpp.stop().catch(() => {});
  // The next user of this browser starts from a fresh X-TOKEN; the server forgets the token too
  // when the app signs the user out.
  await fastStore.clear();
  signout.submit();
});

render();
// A start() that fails after the client went online (a late timeout in xmpp.js) changes nothing.
xmpp.start().catch(() => {
  if (xmpp.status !== "online") setView("offline");
});
