/**
 * A logged-in user's client certificates for SASL EXTERNAL, managed over XMPP two ways:
 * XEP-0257 (`urn:xmpp:saslcert:1`: items, append, disable, revoke), and an ad-hoc command
 * (XEP-0050, node CLIENT_CERTS_NODE) for the many clients that have XEP-0050 but not XEP-0257.
 * Both act on the asker's own account only, follow src/auth/client-certs' rules, and refuse a
 * session that logged in with a `no-cert-management` certificate. Revoking ends the sessions
 * that logged in with the certificate (XEP-0257 3.4).
 */
import { xml, type Element } from "@xmpp/xml";
import {
  ClientCertError,
  disableClientCertificate,
  listClientCertificates,
  registerClientCertificate,
  revokeClientCertificate,
  type ClientCertificate,
  type ClientCertificateRecords,
} from "../../auth/client-certs/index.js";
import { FormError, NS_DATA, dataForm, submittedValues } from "../../core/forms/data-form.js";
import { CommandSessions } from "../../core/forms/command-sessions.js";
import type { Logger } from "../log.js";
import type { RoutableSession } from "../router.js";
import type { DiscoItems } from "./disco.js";
import { iqError, result, type IqAnswer, type IqHandler, type IqTarget } from "./handlers.js";

export const NS_SASLCERT = "urn:xmpp:saslcert:1";
export const NS_COMMANDS = "http://jabber.org/protocol/commands";
export const CLIENT_CERTS_NODE = "urn:x-token:client-certificates";
export const CLIENT_CERTS_COMMAND_NAME = "Client certificates (log in without a password)";

/** What the handlers need of the server's sessions. */
export interface CertificateSessions {
  /** Resources bound by the sessions that logged in with this certificate. */
  resourcesUsing(fingerprint: string): string[];
  /** Ends the sessions that logged in with this certificate; how many there were. */
  end(fingerprint: string): number;
}

export interface ClientCertsServices {
  records: ClientCertificateRecords;
  sessions: CertificateSessions;
  log: Logger;
  /** Open ad-hoc command sessions kept at most (oldest dropped first), and how long each lives. */
  maxCommandSessions?: number;
  commandSessionSeconds?: number;
}

const TARGETS: readonly IqTarget[] = ["server", "own-account"];

/** A short fingerprint for log lines and listings: the first 16 hex digits. */
const shortPrint = (c: ClientCertificate) => c.fingerprint.slice(0, 16);

function answerFor(err: unknown): IqAnswer {
  if (!(err instanceof ClientCertError)) throw err;
  switch (err.reason) {
    case "not-found":
      return iqError("cancel", "item-not-found", err.message);
    case "name-taken":
    case "already-registered":
    case "registered-elsewhere":
      return iqError("cancel", "conflict", err.message);
    case "too-many":
      return iqError("cancel", "not-allowed", err.message);
    default:
      return iqError("modify", "bad-request", err.message);
  }
}

/** Null when `from` may manage certificates; else the refusal (XEP-0257 no-cert-management). */
function managementRefusal(from: RoutableSession, records: ClientCertificateRecords): IqAnswer | null {
  const fingerprint = from.loginCertificate ?? null;
  if (fingerprint === null) return null;
  const record = records.byFingerprint(fingerprint);
  // A certificate gone from the records allows nothing (its sessions are being ended).
  if (record === null || record.noCertManagement) return iqError("auth", "forbidden", "this session logged in with a certificate that may not manage certificates");
  return null;
}

/** Strict base64, whitespace between characters allowed (a wrapped certificate). */
function base64Bytes(text: string): Buffer | null {
  const compact = text.replace(/[ \t\r\n]+/g, "");
  if (compact === "" || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) return null;
  return Buffer.from(compact, "base64");
}

/** The management actions, shared by XEP-0257 and the ad-hoc command (one set of log lines). */
class CertificateManager {
  constructor(private readonly services: ClientCertsServices) {}

  list(from: RoutableSession): ClientCertificate[] {
    return listClientCertificates(this.services.records, from.bareJid);
  }

  append(from: RoutableSession, name: string, certificate: Uint8Array, noCertManagement: boolean): ClientCertificate {
    const added = registerClientCertificate(this.services.records, { account: from.bareJid, name, certificate, noCertManagement });
    this.services.log.info(`client certificate ${JSON.stringify(added.name)} (${shortPrint(added)}) registered for ${added.account} by ${from.fullJid}`);
    return added;
  }

  disable(from: RoutableSession, name: string): ClientCertificate {
    const disabled = disableClientCertificate(this.services.records, from.bareJid, name);
    this.services.log.info(`client certificate ${JSON.stringify(disabled.name)} (${shortPrint(disabled)}) of ${disabled.account} disabled by ${from.fullJid}`);
    return disabled;
  }

  revoke(from: RoutableSession, name: string): { revoked: ClientCertificate; ended: number } {
    const revoked = revokeClientCertificate(this.services.records, from.bareJid, name);
    const ended = this.services.sessions.end(revoked.fingerprint);
    this.services.log.info(`client certificate ${JSON.stringify(revoked.name)} (${shortPrint(revoked)}) of ${revoked.account} revoked by ${from.fullJid}; ${ended} session(s) that logged in with it closed`);
    return { revoked, ended };
  }

  refusal(from: RoutableSession): IqAnswer | null {
    return managementRefusal(from, this.services.records);
  }
}

// ---- XEP-0257 ----------------------------------------------------------------------------------

function oneName(payload: Element): string | null {
  const names = payload.getChildren("name");
  return names.length === 1 ? names[0]!.text() : null;
}

/** The four XEP-0257 requests, each an IQ handler of its own (the registry keys them by element). */
function saslCertHandlers(manager: CertificateManager, sessions: CertificateSessions): IqHandler[] {
  const guarded = (name: string, type: "get" | "set", work: (from: RoutableSession, payload: Element) => IqAnswer, features?: string[]): IqHandler => ({
    ns: NS_SASLCERT,
    name,
    targets: TARGETS,
    ...(features ? { features } : {}),
    handle({ from, type: asked, payload }) {
      if (asked !== type) return iqError("modify", "bad-request", `${name} is an IQ of type ${type}`);
      const refused = manager.refusal(from);
      if (refused) return refused;
      try {
        return work(from, payload);
      } catch (err) {
        return answerFor(err);
      }
    },
  });
  return [
    guarded(
      "items",
      "get",
      (from) =>
        result(
          xml(
            "items",
            { xmlns: NS_SASLCERT },
            ...manager.list(from).map((c) =>
              xml(
                "item",
                {},
                xml("name", {}, c.name),
                xml("x509cert", {}, Buffer.from(c.der).toString("base64")),
                xml("users", {}, ...sessions.resourcesUsing(c.fingerprint).map((r) => xml("resource", {}, r))),
              ),
            ),
          ),
        ),
      [NS_SASLCERT],
    ),
    guarded("append", "set", (from, payload) => {
      const name = oneName(payload);
      const certs = payload.getChildren("x509cert");
      if (name === null || certs.length !== 1) return iqError("modify", "bad-request", "append takes one name and one x509cert");
      const der = base64Bytes(certs[0]!.text());
      if (der === null) return iqError("modify", "bad-request", "x509cert is not base64");
      manager.append(from, name, der, payload.getChild("no-cert-management") !== undefined);
      return result();
    }),
    guarded("disable", "set", (from, payload) => {
      const name = oneName(payload);
      if (name === null) return iqError("modify", "bad-request", "disable takes one name");
      manager.disable(from, name);
      return result();
    }),
    guarded("revoke", "set", (from, payload) => {
      const name = oneName(payload);
      if (name === null) return iqError("modify", "bad-request", "revoke takes one name");
      manager.revoke(from, name);
      return result();
    }),
  ];
}

// ---- XEP-0050 ad-hoc command -------------------------------------------------------------------

const ACTIONS = [
  { value: "list", label: "List my certificates" },
  { value: "add", label: "Add a certificate" },
  { value: "disable", label: "Disable a certificate (no more logins with it)" },
  { value: "revoke", label: "Revoke a certificate (and close its sessions)" },
];

const commandError = (type: "modify" | "cancel", condition: string, text: string, specific?: string): IqAnswer => ({
  kind: "error",
  type,
  condition,
  text: specific ? `${text} (${specific})` : text,
});

function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

class ClientCertsCommand {
  /** Open forms, each for the full JID that asked for it. */
  private readonly sessions: CommandSessions;

  constructor(
    private readonly manager: CertificateManager,
    options: Pick<ClientCertsServices, "maxCommandSessions" | "commandSessionSeconds">,
  ) {
    this.sessions = new CommandSessions({
      ...(options.maxCommandSessions !== undefined ? { max: options.maxCommandSessions } : {}),
      ...(options.commandSessionSeconds !== undefined ? { seconds: options.commandSessionSeconds } : {}),
    });
  }

  handler(): IqHandler {
    return {
      ns: NS_COMMANDS,
      name: "command",
      targets: ["server"],
      features: [NS_COMMANDS],
      handle: ({ from, type, payload }) => (type === "set" ? this.execute(from, payload) : iqError("modify", "bad-request", "commands are IQs of type set")),
    };
  }

  private execute(from: RoutableSession, command: Element): IqAnswer {
    const node = command.attrs.node;
    if (node !== CLIENT_CERTS_NODE) return iqError("cancel", "item-not-found", "no such command");
    const refused = this.manager.refusal(from);
    if (refused) return refused;
    const action = command.attrs.action ?? "execute";
    if (!["execute", "complete", "cancel"].includes(action)) return commandError("modify", "bad-request", `unsupported action ${JSON.stringify(action)}`, "bad-action");
    const sessionid = command.attrs.sessionid;
    if (sessionid === undefined) {
      if (action !== "execute") return commandError("modify", "bad-request", `${action} needs a session`, "bad-sessionid");
      return result(this.form(from));
    }
    // Only the full JID that opened the form may submit it; any other gets bad-sessionid.
    if (!this.sessions.take(sessionid, from.fullJid)) {
      return commandError("modify", "bad-request", "no such session (expired, finished, or not yours)", "bad-sessionid");
    }
    if (action === "cancel") return result(xml("command", { xmlns: NS_COMMANDS, node, sessionid, status: "canceled" }));
    const forms = command.getChildren("x", NS_DATA);
    if (forms.length !== 1) return commandError("modify", "bad-request", "submit the form", "bad-payload");
    let values: Map<string, string[]>;
    try {
      values = submittedValues(forms[0]!);
    } catch (err) {
      if (err instanceof FormError) return commandError("modify", "bad-request", err.message, "bad-payload");
      throw err;
    }
    const one = (name: string) => (values.get(name) ?? []).join("\n").trim();
    let note: string;
    try {
      switch (one("action")) {
        case "list":
          note = "Your certificates:";
          break;
        case "add": {
          const text = one("certificate");
          // A PEM block as pasted, or the DER's base64 alone.
          const certificate = text.includes("-----BEGIN") ? Buffer.from(text) : base64Bytes(text);
          if (certificate === null || text === "") return commandError("modify", "bad-request", "paste the certificate (PEM)", "bad-payload");
          const flag = one("no-cert-management");
          const added = this.manager.append(from, one("name"), certificate, flag === "1" || flag === "true");
          note = `Added ${JSON.stringify(added.name)}: log in with it using SASL EXTERNAL until ${isoTime(added.notAfter)}.`;
          break;
        }
        case "disable":
          note = `Disabled ${JSON.stringify(this.manager.disable(from, one("name")).name)}.`;
          break;
        case "revoke": {
          const { revoked, ended } = this.manager.revoke(from, one("name"));
          note = `Revoked ${JSON.stringify(revoked.name)}; ${ended} session(s) that logged in with it closed.`;
          break;
        }
        default:
          return commandError("modify", "bad-request", "choose an action: list, add, disable or revoke", "bad-payload");
      }
    } catch (err) {
      return answerFor(err);
    }
    const fields = this.manager.list(from).map((c, i) => ({
      var: `certificate-${i + 1}`,
      type: "fixed" as const,
      values: [`${c.name}: SHA-256 ${c.fingerprint}, valid ${isoTime(c.notBefore)} to ${isoTime(c.notAfter)}${c.disabled ? ", disabled" : ""}${c.noCertManagement ? ", no certificate management" : ""}`],
    }));
    return result(
      xml(
        "command",
        { xmlns: NS_COMMANDS, node, sessionid, status: "completed" },
        xml("note", { type: "info" }, note),
        dataForm("result", { formType: CLIENT_CERTS_NODE, title: CLIENT_CERTS_COMMAND_NAME, fields }),
      ),
    );
  }

  private form(from: RoutableSession): Element {
    const sessionid = this.sessions.begin(from.fullJid);
    return xml(
      "command",
      { xmlns: NS_COMMANDS, node: CLIENT_CERTS_NODE, sessionid, status: "executing" },
      xml("actions", { execute: "complete" }, xml("complete")),
      dataForm("form", {
        formType: CLIENT_CERTS_NODE,
        title: CLIENT_CERTS_COMMAND_NAME,
        instructions: `Certificates of ${from.bareJid} that log in with SASL EXTERNAL (see docs/client-certs.md). The name picks the certificate to disable or revoke.`,
        fields: [
          { var: "action", type: "list-single", label: "What to do", required: true, values: ["list"], options: ACTIONS },
          { var: "name", type: "text-single", label: "Certificate name (laptop, kiosk, ...)" },
          { var: "certificate", type: "text-multi", label: "Certificate to add (PEM, never the key)" },
          { var: "no-cert-management", type: "boolean", label: "Logins with it may not manage certificates", values: ["0"] },
        ],
      }),
    );
  }
}

/**
 * Registers the XEP-0257 handlers and the ad-hoc command on the server's IQ registry, and lists
 * the command under disco#items' commands node.
 */
export function registerClientCertHandlers(handlers: { register(handler: IqHandler): unknown }, discoItems: DiscoItems, services: ClientCertsServices): void {
  const manager = new CertificateManager(services);
  for (const handler of saslCertHandlers(manager, services.sessions)) handlers.register(handler);
  handlers.register(new ClientCertsCommand(manager, services).handler());
  discoItems.addNode(NS_COMMANDS, (from) => [{ jid: from.domain, node: CLIENT_CERTS_NODE, name: CLIENT_CERTS_COMMAND_NAME }]);
}
