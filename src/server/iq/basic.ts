/**
 * Small IQs a client expects of any server: XEP-0199 ping (the server and the account answer),
 * RFC 3921 session establishment (a no-op kept for old clients), XEP-0092 software version and
 * XEP-0202 entity time.
 */
import { readFileSync } from "node:fs";
import { xml } from "@xmpp/xml";
import { iqError, result, type IqHandler } from "./handlers.js";

export const NS_PING = "urn:xmpp:ping";
export const NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session";
export const NS_VERSION = "jabber:iq:version";
export const NS_TIME = "urn:xmpp:time";

export const pingHandler: IqHandler = {
  ns: NS_PING,
  name: "ping",
  targets: ["server", "own-account"],
  features: [NS_PING],
  handle: ({ type }) => (type === "get" ? result() : iqError("cancel", "bad-request")),
};

export const sessionHandler: IqHandler = {
  ns: NS_SESSION,
  name: "session",
  targets: ["server"],
  handle: ({ type }) => (type === "set" ? result() : iqError("cancel", "bad-request")),
};

/** Our package's version, from the package.json above this file (src/ or dist/src/). */
function packageVersion(): string {
  for (const up of ["../../../", "../../../../"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "xmpp-x-token" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not there: look one level up
    }
  }
  return "unknown";
}

/** Name and version only: the operating system is nobody's business (XEP-0092 10). */
export function versionHandler(version = packageVersion()): IqHandler {
  return {
    ns: NS_VERSION,
    name: "query",
    targets: ["server"],
    features: [NS_VERSION],
    handle: ({ type }) =>
      type === "get" ? result(xml("query", { xmlns: NS_VERSION }, xml("name", {}, "xmpp-x-token"), xml("version", {}, version))) : iqError("cancel", "bad-request"),
  };
}

/** `+hh:mm` / `-hh:mm` for an offset in minutes east of UTC. */
function tzo(minutesEast: number): string {
  const sign = minutesEast < 0 ? "-" : "+";
  const abs = Math.abs(minutesEast);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

export function timeHandler(now: () => Date = () => new Date()): IqHandler {
  return {
    ns: NS_TIME,
    name: "time",
    targets: ["server"],
    features: [NS_TIME],
    handle({ type }) {
      if (type !== "get") return iqError("cancel", "bad-request");
      const date = now();
      const utc = date.toISOString().replace(/\.\d{3}Z$/, "Z");
      return result(xml("time", { xmlns: NS_TIME }, xml("tzo", {}, tzo(-date.getTimezoneOffset())), xml("utc", {}, utc)));
    },
  };
}
