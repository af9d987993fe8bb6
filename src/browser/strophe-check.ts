/** A one-shot page that logs in with Strophe.js and its X-TOKEN mechanism (used by the browser test). */
import { Strophe } from "strophe.js";
import { createStropheXToken } from "./strophe-x-token.js";

const body = document.body;
const jid = body.dataset.jid!;
const scheme = location.protocol === "https:" ? "wss" : "ws";
const stateEl = document.getElementById("state")!;

const XToken = createStropheXToken(Strophe.SASLMechanism as never);
const response = await fetch("/api/token", { credentials: "same-origin", cache: "no-store" });
const { token } = (await response.json()) as { token: string };
const connection = new Strophe.Connection(`${scheme}://${location.host}${body.dataset.websocketPath}`, {
  mechanisms: [XToken as never],
});
connection.connect(jid, token, (status: number) => {
  const name = Object.entries(Strophe.Status).find(([, value]) => value === status)?.[0] ?? String(status);
  if (status === Strophe.Status.CONNECTED) {
    stateEl.textContent = `connected as ${connection.jid}`;
    stateEl.dataset.state = "connected";
    stateEl.dataset.jid = connection.jid;
    connection.disconnect("done");
  } else if (stateEl.dataset.state !== "connected") {
    stateEl.textContent = name.toLowerCase();
    stateEl.dataset.state = name.toLowerCase();
  }
});
