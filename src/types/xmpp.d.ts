// Minimal typings for the @xmpp/* 0.14 packages, which ship none.
declare module "@xmpp/xml" {
  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined>);
    name: string;
    attrs: Record<string, string>;
    children: (Element | string)[];
    parent: Element | null;
    getName(): string;
    getNS(): string | undefined;
    is(name: string, xmlns?: string): boolean;
    attr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    text(): string;
    append(...children: (Element | string)[]): Element;
    c(name: string, attrs?: Record<string, string | undefined>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    toString(): string;
  }
  export type Child = Element | string | null | undefined | false | Child[];
  export function xml(name: string, attrs?: Record<string, string | number | undefined> | null, ...children: Child[]): Element;
  export function escapeXML(s: string): string;
  export function escapeXMLText(s: string): string;
  export class XMLError extends Error {}
  export default xml;
}

declare module "@xmpp/xml/lib/parse.js" {
  import type { Element } from "@xmpp/xml";
  export default function parse(data: string): Element;
}

declare module "@xmpp/client" {
  import type { Element } from "@xmpp/xml";
  import { EventEmitter } from "node:events";

  /** An address as xmpp.js gives it (`@xmpp/jid`): `local@domain/resource`. */
  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
    equals(other: JID): boolean;
  }

  /** What a SASL mechanism is given: X-TOKEN and PLAIN read username, password (the token) and authzid. */
  export interface Credentials {
    username?: string;
    password?: string;
    authzid?: string;
    /** A FAST token (SASL2); not used by X-TOKEN. */
    token?: unknown;
  }

  /** Runs one SASL exchange with these credentials and this mechanism (e.g. "X-TOKEN"). */
  export type Authenticate = (credentials: Credentials, mechanism: string, userAgent?: Element) => Promise<void>;

  /**
   * The `credentials` option as a function: called for every authentication (the first login and
   * each reconnect) with the mechanisms the server offers; it calls `authenticate` once.
   */
  export type CredentialsCallback = (authenticate: Authenticate, mechanisms: string[], fast: unknown, entity: Client) => Promise<void> | void;

  export interface ClientOptions {
    /** `xmpp://host:5222` (STARTTLS), `xmpps://host:5223`, `ws(s)://host/xmpp-websocket`. */
    service?: string;
    domain?: string;
    resource?: string;
    /** Milliseconds each step (connect, stream open, each reply) may take; 2000 by default. */
    timeout?: number;
    lang?: string;
    username?: string;
    password?: string;
    credentials?: CredentialsCallback | Credentials;
    userAgent?: Element;
  }

  export interface Client extends EventEmitter {
    /** The client's address: null before login (unless `username` was given), full once online. */
    jid: JID | null;
    status: string;
    options: ClientOptions;
    saslFactory: { use(mechanism: unknown): unknown };
    /** The current transport: net.Socket, @xmpp/tls's (secure: true) or @xmpp/websocket's (secure, url). */
    socket: { secure?: unknown; url?: unknown } | null;
    reconnect: EventEmitter & { delay: number; stop(): void; start(): void };
    middleware: { use(fn: (ctx: { stanza: Element; entity: Client }, next: () => Promise<unknown>) => unknown): unknown };
    /** Resolves with the bound address once online. */
    start(): Promise<JID>;
    stop(): Promise<unknown>;
    /** Closes the stream and the socket, leaving the client offline (reconnect may start it again). */
    disconnect(): Promise<unknown>;
    send(element: Element): Promise<void>;
    sendReceive(element: Element): Promise<Element>;
    iqCaller: { request(element: Element, timeout?: number): Promise<Element> };
    /**
     * FAST (XEP-0484) on SASL2: the token storage hooks an app overrides (in memory by default);
     * `mechanism` is the HT-* mechanism the server offers on this stream, null when none.
     */
    fast: {
      mechanism: string | null;
      fetchToken(): Promise<FastTokenData | null | undefined>;
      saveToken(token: FastTokenData): Promise<void>;
      deleteToken(): Promise<void>;
    };
  }
  /** A FAST token as xmpp.js saves it: the mechanism it is bound to, the token, its XEP-0082 expiry. */
  export interface FastTokenData {
    mechanism: string;
    token: string;
    expiry: string;
  }
  export function client(options?: ClientOptions): Client;
  export function jid(local: string | null, domain?: string, resource?: string): JID;
  export { xml } from "@xmpp/xml";
}
