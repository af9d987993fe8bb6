/**
 * The component's protocol logic, with no I/O: XEP-0030 service discovery and the XEP-0050
 * ad-hoc command "Get a login token". Each method takes the stanza's `from` (stamped by the
 * XMPP server, so it is who really asked) and the request's payload, and returns the reply's
 * payload or an `<error/>`; the adapter (component.ts) puts either into the IQ reply.
 */
import { randomBytes } from "node:crypto";
import { xml, type Element } from "@xmpp/xml";
import { WindowCounter } from "../auth/policy/window-counter.js";
import { FailureLog } from "../auth/policy/failure-log.js";
import { Keyring, type TokenKey } from "../core/token/keys.js";
import { issueToken } from "../core/token/mint.js";
import { systemClock, type Clock } from "../core/clock.js";
import { nameprep } from "../core/jid/prep.js";
import { AccessPolicy, requesterOf } from "./access.js";
import { dataForm, FormError, NS_DATA, submittedValues } from "../core/forms/data-form.js";
import { CommandSessions } from "../core/forms/command-sessions.js";

export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
export const NS_COMMANDS = "http://jabber.org/protocol/commands";
export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
export const LOGIN_TOKEN_NODE = "urn:x-token:login-token";
export const LOGIN_TOKEN_NAME = "Get a login token";

export interface ComponentLogger {
  info(message: string): void;
  warn(message: string): void;
}

export class LoginTokenOptionsError extends Error {
  override readonly name = "LoginTokenOptionsError";
}

export interface LoginTokenOptions {
  /** The component's own domain (disco items point at it). */
  domain: string;
  /** Domains the component mints for, each with its keys (current first) and window. */
  domains: Record<string, { keys: readonly TokenKey[]; window?: number; nonceDigits?: number }>;
  /** Bare JIDs that may mint for any JID of `domains`. */
  admins?: readonly string[];
  /** Bare JIDs and domains that may use the command; absent: everyone of `domains`. */
  allowed?: readonly string[];
  /** Tokens per requester per window (the token endpoint's policy); default 10 per 60 s. */
  rateLimit?: { max: number; perSeconds: number; maxUsers?: number };
  /** Shown in the result so a client knows where to log in (ws:// or wss://). */
  websocketUrl?: string;
  /** A web login link: `{jid}` and `{token}` are replaced (URL-encoded). Put them in the fragment (#) to keep the token out of server logs. */
  loginUrl?: string;
  /** One line per mint and per refusal: who, for whom, why. Never the token. */
  log?: ComponentLogger;
  /**
   * Refusal lines per requester per minute (default 10); past them, one summary line per
   * requester when the minute is over (the server's FailureLog, keyed by the requester's bare JID).
   */
  refusalLinesPerMinute?: number;
  /** Unix seconds. */
  now?: Clock;
  /** Open admin form sessions kept at most (oldest dropped first) and how long each lives. */
  maxSessions?: number;
  sessionSeconds?: number;
}

type ErrorType = "auth" | "cancel" | "modify" | "wait";
const ERROR_TYPE: Record<string, ErrorType> = {
  forbidden: "auth",
  "bad-request": "modify",
  "item-not-found": "cancel",
  "resource-constraint": "wait",
  "not-allowed": "cancel",
  "feature-not-implemented": "cancel",
};

/** A stanza `<error/>` (RFC 6120 8.3) with a human-readable text and, optionally, a XEP-0050 condition. */
export function stanzaError(condition: string, text: string, commandCondition?: string): Element {
  return xml(
    "error",
    { type: ERROR_TYPE[condition] ?? "cancel" },
    xml(condition, { xmlns: NS_STANZAS }),
    xml("text", { xmlns: NS_STANZAS }, text),
    commandCondition ? xml(commandCondition, { xmlns: NS_COMMANDS }) : null,
  );
}

/** The most characters of a JID a log line shows (prepared JIDs may be 3 KB long). */
export const MAX_LOGGED_JID_CHARS = 96;

/** A prepared value as a log line shows it: at most MAX_LOGGED_JID_CHARS characters, the rest counted. */
export function logged(value: string): string {
  const chars = [...value];
  if (chars.length <= MAX_LOGGED_JID_CHARS) return value;
  return `${chars.slice(0, MAX_LOGGED_JID_CHARS).join("")}…(${chars.length} characters)`;
}

function isoTime(unixSeconds: number): string {
  return new Date(Math.floor(unixSeconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function checkUrl(value: string | undefined, protocols: string[], name: string): void {
  if (value === undefined) return;
  let url: URL;
  try {
    url = new URL(value.replaceAll("{jid}", "jid").replaceAll("{token}", "token"));
  } catch {
    throw new LoginTokenOptionsError(`${name} is not a URL`);
  }
  if (!protocols.includes(url.protocol)) throw new LoginTokenOptionsError(`${name} must be a ${protocols.join(" or ")} URL`);
}

export class LoginTokenCommand {
  private readonly domain: string;
  private readonly keyrings = new Map<string, { keyring: Keyring; window: number; nonceDigits?: number }>();
  private readonly access: AccessPolicy;
  private readonly issued: WindowCounter;
  private readonly rateLimit: NonNullable<LoginTokenOptions["rateLimit"]>;
  private readonly sessions: CommandSessions;
  private readonly options: LoginTokenOptions;
  private readonly now: Clock;
  private readonly log: ComponentLogger;
  /** Refusal lines, bounded per requester. */
  private readonly refusals: FailureLog;

  constructor(options: LoginTokenOptions) {
    this.options = options;
    try {
      this.domain = nameprep(options.domain);
    } catch {
      throw new LoginTokenOptionsError("domain is not a valid domain");
    }
    for (const [name, { keys, window = 1, nonceDigits }] of Object.entries(options.domains)) {
      this.keyrings.set(nameprep(name), { keyring: Keyring.from(keys), window, nonceDigits });
    }
    if (this.keyrings.size === 0) throw new LoginTokenOptionsError("domains: the component needs the keys of at least one domain");
    this.access = new AccessPolicy({ keyDomains: [...this.keyrings.keys()], admins: options.admins ?? [], ...(options.allowed ? { allowed: options.allowed } : {}) });
    this.rateLimit = options.rateLimit ?? { max: 10, perSeconds: 60 };
    const { max, perSeconds } = this.rateLimit;
    if (!(Number.isInteger(max) && max > 0 && Number.isFinite(perSeconds) && perSeconds > 0)) {
      throw new LoginTokenOptionsError("rateLimit needs a positive integer max and a positive perSeconds");
    }
    checkUrl(options.websocketUrl, ["ws:", "wss:"], "websocketUrl");
    checkUrl(options.loginUrl, ["http:", "https:"], "loginUrl");
    if (options.loginUrl !== undefined && !options.loginUrl.includes("{token}")) throw new LoginTokenOptionsError("loginUrl must contain {token}");
    this.now = options.now ?? systemClock;
    this.sessions = new CommandSessions({ now: this.now, ...(options.maxSessions !== undefined ? { max: options.maxSessions } : {}), ...(options.sessionSeconds !== undefined ? { seconds: options.sessionSeconds } : {}) });
    this.log = options.log ?? { info() {}, warn() {} };
    this.refusals = new FailureLog(this.log, { linesPerMinute: options.refusalLinesPerMinute ?? 10 });
    // The same per-user window counter (and bounded memory) as the token endpoint.
    this.issued = new WindowCounter({ limit: max, windowSeconds: perSeconds, maxKeys: this.rateLimit.maxUsers ?? 100_000, now: this.now });
  }

  /** disco#info on the component (no node), its command list or the command's node. */
  discoInfo(from: string | undefined, query: Element): Element {
    const node = query.attrs.node;
    const answer = (...children: Element[]) => xml("query", { xmlns: NS_DISCO_INFO, ...(node ? { node } : {}) }, ...children);
    const features = [NS_DISCO_INFO, NS_DISCO_ITEMS, NS_COMMANDS, NS_DATA].map((v) => xml("feature", { var: v }));
    if (!node) return answer(xml("identity", { category: "component", type: "generic", name: "X-TOKEN login tokens" }), ...features);
    if (node === NS_COMMANDS) return answer(xml("identity", { category: "automation", type: "command-list", name: "Commands" }), ...features);
    if (node === LOGIN_TOKEN_NODE && this.visibleTo(from)) {
      return answer(xml("identity", { category: "automation", type: "command-node", name: LOGIN_TOKEN_NAME }), xml("feature", { var: NS_COMMANDS }), xml("feature", { var: NS_DATA }));
    }
    return stanzaError("item-not-found", "no such node");
  }

  /** disco#items: the commands node lists the command for those who may run it. */
  discoItems(from: string | undefined, query: Element): Element {
    const node = query.attrs.node;
    if (!node) return xml("query", { xmlns: NS_DISCO_ITEMS });
    if (node === NS_COMMANDS) {
      const items = this.visibleTo(from) ? [xml("item", { jid: this.domain, node: LOGIN_TOKEN_NODE, name: LOGIN_TOKEN_NAME })] : [];
      return xml("query", { xmlns: NS_DISCO_ITEMS, node }, ...items);
    }
    if (node === LOGIN_TOKEN_NODE && this.visibleTo(from)) return xml("query", { xmlns: NS_DISCO_ITEMS, node });
    return stanzaError("item-not-found", "no such node");
  }

  private visibleTo(from: string | undefined): boolean {
    const requester = requesterOf(from);
    return requester !== null && this.access.mayUse(requester);
  }

  /** XEP-0050 execute / complete / cancel of the login-token command. */
  async execute(from: string | undefined, command: Element): Promise<Element> {
    const node = command.attrs.node;
    if (node !== LOGIN_TOKEN_NODE) return stanzaError("item-not-found", "no such command");
    const requester = requesterOf(from);
    if (!requester) return stanzaError("forbidden", "only a user account (user@domain) can get a login token");
    const who = `${requester.local}@${requester.domain}`;
    if (!this.access.mayUse(requester)) {
      this.refused(who, "not allowed");
      return stanzaError("forbidden", "you may not get login tokens from this service");
    }
    const action = command.attrs.action ?? "execute";
    if (!["execute", "complete", "next", "cancel", "prev"].includes(action)) return stanzaError("bad-request", `unknown action ${JSON.stringify(action)}`, "malformed-action");
    const sessionid = command.attrs.sessionid;
    if (sessionid !== undefined) {
      if (!this.sessions.take(sessionid, from!)) return stanzaError("bad-request", "no such session (expired, finished, or not yours)", "bad-sessionid");
      if (action === "cancel") return xml("command", { xmlns: NS_COMMANDS, node, sessionid, status: "canceled" });
    } else if (action === "cancel" || action === "prev") {
      return stanzaError("bad-request", `${action} needs a session`, "bad-action");
    }
    if (action === "prev") return stanzaError("bad-request", "this command has a single step", "bad-action");

    const forms = command.getChildren("x", NS_DATA);
    if (forms.length > 1) return stanzaError("bad-request", "more than one form", "bad-payload");
    let target: string | undefined;
    if (forms.length === 1) {
      let values: Map<string, string[]>;
      try {
        values = submittedValues(forms[0]!);
      } catch (err) {
        if (err instanceof FormError) return stanzaError("bad-request", err.message, "bad-payload");
        throw err;
      }
      const jid = values.get("jid") ?? [];
      if (jid.length > 1) return stanzaError("bad-request", "jid takes one value", "bad-payload");
      target = jid[0];
      // An admin who submits the form must say for whom; everyone else may leave it out.
      if (sessionid !== undefined && (target === undefined || target.trim() === "")) return stanzaError("bad-request", "jid is required", "bad-payload");
    } else if (this.access.isAdmin(requester)) {
      if (sessionid !== undefined) return stanzaError("bad-request", "submit the form with a jid", "bad-payload");
      return this.adminForm(from!, who);
    }

    const decision = this.access.decide(requester, target);
    if (!decision.ok) {
      // Only the prepared JID asked for, never the text as typed.
      this.refused(who, decision.condition, decision.jid ?? (target === undefined ? undefined : "an invalid JID"));
      return stanzaError(decision.condition, decision.text);
    }
    if (this.issued.isOver(who)) {
      this.refused(who, "rate limited", decision.jid);
      return stanzaError("resource-constraint", `at most ${this.rateLimit.max} tokens per ${this.rateLimit.perSeconds} seconds; try again later`);
    }
    this.issued.record(who);
    return this.mint(who, decision.jid, sessionid ?? randomBytes(8).toString("hex"));
  }

  private mint(who: string, jid: string, sessionid: string): Element {
    const now = this.now();
    const domain = jid.slice(jid.lastIndexOf("@") + 1);
    const { keyring, window, nonceDigits } = this.keyrings.get(domain)!;
    const issued = issueToken({ jid, key: keyring, now, window, ...(nonceDigits === undefined ? {} : { nonceDigits }) });
    const { token } = issued;
    const expires = isoTime(issued.expiresAt);
    // One line per token: as many as the rate limit lets through.
    this.log.info(`component: login token minted by ${logged(who)} for ${logged(jid)}, expires ${expires}`);
    const { websocketUrl, loginUrl } = this.options;
    const fields = [
      { var: "jid", type: "jid-single" as const, label: "For", values: [jid] },
      { var: "token", type: "text-single" as const, label: "Token (usable once)", values: [token] },
      { var: "expires", type: "text-single" as const, label: "Expires (UTC)", values: [expires] },
      ...(websocketUrl ? [{ var: "websocket-url", type: "text-single" as const, label: "WebSocket URL", values: [websocketUrl] }] : []),
      ...(loginUrl
        ? [{ var: "login-url", type: "text-single" as const, label: "Log in on the web", values: [loginUrl.replaceAll("{jid}", encodeURIComponent(jid)).replaceAll("{token}", encodeURIComponent(token))] }]
        : []),
    ];
    return xml(
      "command",
      { xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, sessionid, status: "completed" },
      xml("note", { type: "info" }, `Login token for ${jid}, usable once, until ${expires}.`),
      dataForm("result", { formType: LOGIN_TOKEN_NODE, title: LOGIN_TOKEN_NAME, fields }),
    );
  }

  /**
   * A refusal's line, through the per-requester bound: `who` is the requester's prepared bare JID
   * (stamped by the server), `target` a prepared JID or a fixed phrase; both shortened to a bound.
   */
  private refused(who: string, why: string, target?: string): void {
    const shown = logged(who);
    this.refusals.failure(shown, `component: refused a login token to ${shown}${target === undefined ? "" : ` for ${logged(target)}`}: ${why}`);
  }

  /** Writes the refusal summaries still pending (the component stops). */
  flushLog(): void {
    this.refusals.flush();
  }

  private adminForm(from: string, who: string): Element {
    const sessionid = this.sessions.begin(from);
    return xml(
      "command",
      { xmlns: NS_COMMANDS, node: LOGIN_TOKEN_NODE, sessionid, status: "executing" },
      xml("actions", { execute: "complete" }, xml("complete")),
      dataForm("form", {
        formType: LOGIN_TOKEN_NODE,
        title: LOGIN_TOKEN_NAME,
        instructions: `As an admin you may get a token for any user of ${[...this.keyrings.keys()].join(", ")}.`,
        fields: [{ var: "jid", type: "jid-single", label: "For the JID", required: true, values: [who] }],
      }),
    );
  }
}
