/**
 * Elements serialised ahead of time. Some answers are the same bytes on every login (`<success/>`,
 * the features for a given offer): they are built and serialised once, and transports write the
 * text as it is. The type is branded so that only serialize() makes one: a plain string (client
 * text, say) cannot be passed where serialised XML is expected.
 */
import type { Element } from "@xmpp/xml";

declare const serializedBrand: unique symbol;
export type SerializedXml = string & { readonly [serializedBrand]: true };

/** What a transport writes: an element, or one serialised by serialize(). */
export type Outbound = Element | SerializedXml;

export function serialize(element: Element): SerializedXml {
  return element.toString() as SerializedXml;
}

/** The text of what goes out. */
export function outboundText(outbound: Outbound): string {
  return typeof outbound === "string" ? outbound : outbound.toString();
}
