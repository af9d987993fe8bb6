/**
 * A one-shot page that logs in with Strophe.js (used by the browser test):
 * - by default with our X-TOKEN mechanism, the token from /api/token;
 * - with `?as=converse`, the way Converse.js does it: GET the credentials URL with an
 *   XMLHttpRequest, then Strophe's stock mechanisms (PLAIN) with the token as the password;
 * - with `?strict`, X-TOKEN without allowInsecure, which must refuse to send the token over ws://.
 */
import { Strophe } from "strophe.js";
import { createStropheXToken } from "./strophe-x-token.js";
import { websocketService } from "./websocket-url.js";

const body = document.body;
const stateEl = document.getElementById("state")!;
const params = new URLSearchParams(location.search);
const asConverse = params.get("as") === "converse";
// Like the chat page: a page that came over plain http allows ws:// beside it; ?strict does not.
const allowInsecure = !params.has("strict") && location.protocol === "http:";

function show(state: string, text = state): void {
  stateEl.textContent = text;
  stateEl.dataset.state = state;
}

/** Like Converse.js' fetchLoginCredentials: GET, Accept JSON, `{ jid, password }` from the body. */
function fetchCredentials(url: string): Promise<{ jid: string; password: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", url, true);
    xhr.setRequestHeader("Accept", "application/json, text/javascript");
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 400 ? resolve(JSON.parse(xhr.responseText)) : reject(new Error(String(xhr.status))));
    xhr.onerror = () => reject(new Error("network error"));
    xhr.send();
  });
}

try {
  const { jid, password } = await fetchCredentials("/api/token");
  const service = websocketService(body.dataset.websocket!, location);
  const connection = asConverse
    ? new Strophe.Connection(service)
    : new Strophe.Connection(service, { mechanisms: [createStropheXToken(Strophe.SASLMechanism as never, { allowInsecure }) as never] });
  // Which mechanism Strophe chose: read from the <auth/> element it sends.
  let mechanism = "";
  connection.xmlOutput = (element: Element) => {
    if (element.nodeName === "auth") mechanism = element.getAttribute("mechanism") ?? "";
  };
  connection.connect(jid, password, (status: number, condition: string | null) => {
    if (status === Strophe.Status.AUTHFAIL) stateEl.dataset.condition = condition ?? "";
    const name = (Object.entries(Strophe.Status).find(([, value]) => value === status)?.[0] ?? String(status)).toLowerCase();
    if (status === Strophe.Status.CONNECTED) {
      show("connected", `connected as ${connection.jid} with ${mechanism}`);
      stateEl.dataset.jid = connection.jid;
      stateEl.dataset.mechanism = mechanism;
      connection.disconnect("done");
    } else if (stateEl.dataset.state !== "connected") {
      show(name);
    }
  });
} catch (err) {
  show("error", `error: ${(err as Error).message}`);
}
