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
  export interface Client extends EventEmitter {
    jid: { toString(): string; bare(): { toString(): string }; local: string; domain: string; resource: string } | null;
    status: string;
    saslFactory: { use(mechanism: unknown): unknown };
    /** The current transport: net.Socket, @xmpp/tls's (secure: true) or @xmpp/websocket's (secure, url). */
    socket: { secure?: unknown; url?: unknown } | null;
    reconnect: { stop(): void; start(): void };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    sendReceive(element: Element): Promise<Element>;
    iqCaller: { request(element: Element, timeout?: number): Promise<Element> };
  }
  export function client(options: Record<string, unknown>): Client;
  export { xml } from "@xmpp/xml";
}
