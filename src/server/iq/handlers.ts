/**
 * The IQs the server answers itself (RFC 6120 10.3.3: no `to`, or the domain; RFC 6121 8.5:
 * a bare JID, on behalf of the account): a registry of small handlers, one per payload, so each
 * protocol lives in its own module and service discovery lists what is registered.
 */
import type { Element } from "@xmpp/xml";
import type { Address } from "../address.js";
import type { RoutableSession } from "../router.js";

/** Who an IQ addressed to the server side is for. */
export type IqTarget =
  /** No `to`, or the session's own domain. */
  | "server"
  /** The session's own bare JID. */
  | "own-account"
  /** Another bare JID (a user of this server, as far as we know: tokens make accounts). */
  | "other-account";

export interface IqRequest {
  /** The session that sent it (bound: it has a full JID). */
  from: RoutableSession;
  to: Address | null;
  target: IqTarget;
  type: "get" | "set";
  /** The IQ's one child element. */
  payload: Element;
}

export type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

export type IqAnswer =
  | { kind: "result"; payload?: Element }
  | { kind: "error"; type: StanzaErrorType; condition: string; text?: string };

export const result = (payload?: Element): IqAnswer => ({ kind: "result", payload });
export const iqError = (type: StanzaErrorType, condition: string, text?: string): IqAnswer => ({ kind: "error", type, condition, text });

export interface IqHandler {
  /** The payload's namespace and element name, e.g. "jabber:iq:roster" and "query". */
  readonly ns: string;
  readonly name: string;
  /** The addressees this handler answers for; the others get service-unavailable. */
  readonly targets: readonly IqTarget[];
  /** disco#info features it adds for each target it answers for (none: nothing advertised). */
  readonly features?: readonly string[];
  handle(request: IqRequest): IqAnswer;
}

export class IqHandlers {
  private readonly byKey = new Map<string, IqHandler>();

  register(handler: IqHandler): this {
    const key = `${handler.ns} ${handler.name}`;
    if (this.byKey.has(key)) throw new Error(`an IQ handler for ${key} is already registered`);
    this.byKey.set(key, handler);
    return this;
  }

  /** The handler for this payload and addressee, if any. */
  find(target: IqTarget, payload: Element): IqHandler | null {
    const handler = this.byKey.get(`${payload.attrs.xmlns ?? ""} ${payload.name}`);
    return handler && handler.targets.includes(target) ? handler : null;
  }

  /** The disco#info features of an addressee, sorted, without duplicates. */
  features(target: IqTarget): string[] {
    const out = new Set<string>();
    for (const handler of this.byKey.values()) {
      if (handler.targets.includes(target)) for (const feature of handler.features ?? []) out.add(feature);
    }
    return [...out].sort();
  }

  /**
   * The answer to a get or set addressed to the server side. Exactly one payload element is
   * required (RFC 6120 8.2.3); unknown payloads and addressees get service-unavailable.
   */
  answer(request: Omit<IqRequest, "payload">, iq: Element): IqAnswer {
    const payloads = iq.children.filter((c): c is Element => typeof c !== "string");
    if (payloads.length !== 1) return iqError("modify", "bad-request");
    const payload = payloads[0]!;
    const handler = this.find(request.target, payload);
    if (!handler) return iqError("cancel", "service-unavailable");
    return handler.handle({ ...request, payload });
  }
}
