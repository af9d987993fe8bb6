// Minimal typings for @xmpp/component 0.13 (CommonJS, ships none), as far as src/component uses it.
declare module "@xmpp/component" {
  import type { Element } from "@xmpp/xml";
  import { EventEmitter } from "node:events";

  export interface IncomingContext {
    stanza: Element;
    /** The request's only child (set by the IQ callee for get/set). */
    element: Element;
    type: string;
    id: string;
  }
  type IqHandler = (ctx: IncomingContext, next: () => Promise<unknown>) => Element | undefined | Promise<Element | undefined>;

  export interface Component extends EventEmitter {
    status: string;
    jid: { toString(): string } | null;
    options: { service: string; domain: string };
    /** Fixed delay (ms) before each reconnect attempt; start()/stop() switch it on and off. */
    reconnect: EventEmitter & { delay: number; start(): void; stop(): void };
    iqCallee: { get(ns: string, name: string, handler: IqHandler): void; set(ns: string, name: string, handler: IqHandler): void };
    middleware: { use(fn: (ctx: IncomingContext, next: () => Promise<unknown>) => unknown): unknown };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
  }

  export function component(options: { service: string; domain: string; password: string | ((auth: (secret: string) => Promise<void>) => Promise<void>) }): Component;
  const _default: { component: typeof component };
  export default _default;
}
