/**
 * Fuzz targets for the XML front end: the framer (src/server/transport/xml-framer.ts) and the
 * strict parser (src/server/transport/strict-xml.ts), plus a checker of the server's own output
 * that the session targets use.
 *
 * Contracts (from the sources): XmlFramer.push and XmlFramer.singleElement throw FramingError for
 * bad input and nothing else, and a framer that failed keeps throwing the same error;
 * StrictXmlParser.parseHeader and parseElement throw NotWellFormedError and nothing else.
 * Invariants checked besides:
 * - framing does not depend on how the bytes are cut, nor on other framers pushing in between
 *   (they share one buffer): the same events and the same error condition, cut anyhow;
 * - a framer reset() after a stream frames a new stream;
 * - singleElement's answer is one element that frames again to itself;
 * - an element the strict parser accepted serialises (as the server relays it) to XML that the
 *   strict parser accepts again, standing alone (every prefix it uses is declared on it);
 * - the shared parsers are clean after any input: a canary element parses to the same text.
 */
import fc from "fast-check";
import type { Element } from "@xmpp/xml";
import { FramingError, XmlFramer, type FramerEvent } from "../../src/server/transport/xml-framer.js";
import { NotWellFormedError, StrictXmlParser } from "../../src/server/transport/strict-xml.js";
import { check, Finding, type Target } from "./fuzz-engine.js";
import { chunking, cut, elementBytes, HEADER, streamBytes, type Chunking } from "./fuzz-inputs.js";

// ---- the framer -------------------------------------------------------------------------------

interface Framed {
  events: FramerEvent[];
  error: FramingError | null;
  framer: XmlFramer;
}

/** Pushes each framer's chunks in turn (framer 0's first chunk, framer 1's first, ...). */
function frameInterleaved(plans: { framer: XmlFramer; chunks: Buffer[] }[]): Framed[] {
  const results: Framed[] = plans.map(({ framer }) => ({ events: [], error: null, framer }));
  const rounds = Math.max(...plans.map((p) => p.chunks.length));
  for (let i = 0; i < rounds; i++) {
    plans.forEach((plan, k) => {
      const result = results[k]!;
      const chunk = plan.chunks[i];
      if (!chunk || result.error) return;
      try {
        result.events.push(...plan.framer.push(chunk));
      } catch (err) {
        if (!(err instanceof FramingError)) throw err;
        result.error = err;
      }
    });
  }
  return results;
}

const sameEvents = (a: FramerEvent[], b: FramerEvent[]) =>
  a.length === b.length && a.every((e, i) => e.kind === b[i]!.kind && (e.kind === "close" || e.text === (b[i] as { text: string }).text));

const describeEvents = (events: FramerEvent[]) => JSON.stringify(events.map((e) => (e.kind === "close" ? "close" : `${e.kind}:${e.text.slice(0, 60)}`)));

interface FramerInput {
  bytes: Buffer;
  how: Chunking;
  how2: Chunking;
  maxBytes: number;
  maxDepth: number;
  single: boolean;
}

/** A new stream after reset(), small enough for the smallest limit fuzzed (the framer checks no namespaces). */
const RESTART = Buffer.from("<stream:stream to='example.test'><presence/>");

export function framerTarget(): Target<FramerInput> {
  const limits = fc.constantFrom(64, 1024, 10 * 1024, 256 * 1024);
  const depths = fc.constantFrom(2, 8, 64);
  const stream = fc.record({ bytes: streamBytes(), how: chunking, how2: chunking, maxBytes: limits, maxDepth: depths, single: fc.constant(false) });
  const single = fc.record({ bytes: elementBytes(), how: chunking, how2: chunking, maxBytes: limits, maxDepth: depths, single: fc.constant(true) });
  const stats = { events: 0, errors: new Map<string, number>(), singleOk: 0 };
  return {
    name: "framer",
    about: "XmlFramer: a stream pushed whole, and cut two ways with the two framers' pushes interleaved; singleElement",
    weight: 30,
    async: false,
    arbitrary: fc.oneof({ arbitrary: stream, weight: 5 }, { arbitrary: single, weight: 1 }),
    run(input) {
      const { bytes, maxBytes, maxDepth } = input;
      if (input.single) {
        let text: string;
        try {
          text = XmlFramer.singleElement(bytes, maxBytes, maxDepth);
        } catch (err) {
          if (err instanceof FramingError) return void stats.errors.set(err.condition, (stats.errors.get(err.condition) ?? 0) + 1);
          throw err;
        }
        stats.singleOk++;
        check(text.startsWith("<") && text.endsWith(">"), "framer: singleElement answer is not one element", () => `answer ${JSON.stringify(text.slice(0, 200))}`);
        let again: string;
        try {
          again = XmlFramer.singleElement(text, 1 << 30, maxDepth);
        } catch (err) {
          throw new Finding("invariant", "framer: singleElement answer does not frame again", `${String(err)} for ${JSON.stringify(text.slice(0, 200))}`);
        }
        check(again === text, "framer: singleElement answer frames to something else", () => `${JSON.stringify(text.slice(0, 200))} -> ${JSON.stringify(again.slice(0, 200))}`);
        return;
      }
      const make = () => new XmlFramer(maxBytes, { maxDepth });
      const [whole] = frameInterleaved([{ framer: make(), chunks: [bytes] }]);
      const [a, b] = frameInterleaved([
        { framer: make(), chunks: cut(bytes, input.how, 4096) },
        { framer: make(), chunks: cut(bytes, input.how2, 1024) },
      ]);
      for (const other of [a!, b!]) {
        check(
          (whole!.error === null) === (other.error === null) && whole!.error?.condition === other.error?.condition,
          "framer: the outcome depends on how the bytes are cut",
          () => `whole: ${whole!.error?.condition ?? "ok"} (${whole!.error?.message ?? ""}), cut: ${other.error?.condition ?? "ok"} (${other.error?.message ?? ""})`,
        );
        if (!whole!.error) {
          check(sameEvents(whole!.events, other.events), "framer: the events depend on how the bytes are cut", () => `whole ${describeEvents(whole!.events)} cut ${describeEvents(other.events)}`);
        }
      }
      for (const result of [whole!, a!, b!]) {
        for (const e of result.events) {
          if (e.kind !== "close") check(e.text.startsWith("<") && e.text.endsWith(">"), "framer: an event's text is not one tag or element", () => JSON.stringify(e.text.slice(0, 200)));
        }
        if (result.error) {
          // A framer that failed keeps failing with the same error.
          let again: unknown = null;
          try {
            result.framer.push(Buffer.from("<presence/>"));
          } catch (err) {
            again = err;
          }
          check(again === result.error, "framer: a failed framer accepts more input", () => `after ${result.error!.message}: ${String(again)}`);
        }
      }
      stats.events += whole!.events.length;
      if (whole!.error) {
        stats.errors.set(whole!.error.condition, (stats.errors.get(whole!.error.condition) ?? 0) + 1);
      } else {
        // A restart (after STARTTLS or SASL) frames a new stream, whatever the old one left open.
        const framer = a!.framer;
        framer.reset();
        let events: FramerEvent[];
        try {
          events = framer.push(RESTART);
        } catch (err) {
          throw new Finding("invariant", "framer: a reset framer refuses a new stream", String(err));
        }
        check(events.length === 2 && events[0]!.kind === "header" && events[1]!.kind === "element", "framer: a reset framer frames a new stream wrongly", () => describeEvents(events));
      }
    },
    notes: () => [`events framed ${stats.events}, singleElement answers ${stats.singleOk}, framing errors ${[...stats.errors].map(([k, v]) => `${k} ${v}`).join(", ")}`],
  };
}

// ---- the strict parser ------------------------------------------------------------------------

/** Element text after a trip through the server: parsed, serialised as it is relayed. */
function relayed(element: Element): string {
  return element.toString();
}

const CANARY_HEADER = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:canary' to='example.test' version='1.0'>`;
const CANARY = `<message to='a@example.test' id='c&amp;1'><body>canary &lt;3 😀</body><x:y a='1'/></message>`;
const CANARY_RELAYED = `<message to="a@example.test" id="c&amp;1" xmlns:x="urn:canary"><body>canary &lt;3 😀</body><x:y a="1"/></message>`;

interface StrictInput {
  mode: "stream" | "messages" | "strings";
  bytes: Buffer;
  how: Chunking;
  /** For `strings`: characters no UTF-8 decoder makes (lone surrogates) put in at these places. */
  inserts: [number, string][];
}

export function strictXmlTarget(): Target<StrictInput> {
  const stats = { headers: 0, elements: 0, refused: 0, fidelity: 0, fidelityExample: "" };
  let n = 0;
  const canary = () => {
    const parser = new StrictXmlParser("stream");
    let text: string;
    try {
      parser.parseHeader(CANARY_HEADER);
      text = relayed(parser.parseElement(CANARY));
    } catch (err) {
      throw new Finding("invariant", "strict-xml: the canary no longer parses (a shared parser kept state)", String(err));
    }
    check(text === CANARY_RELAYED, "strict-xml: the canary parses differently (a shared parser kept state)", () => text);
  };
  const reparse = (element: Element) => {
    const text = relayed(element);
    let again: Element;
    try {
      again = new StrictXmlParser("messages").parseElement(text);
    } catch (err) {
      throw new Finding("invariant", "strict-xml: an accepted element is relayed as XML the strict parser refuses", `${String(err)}: ${JSON.stringify(text.slice(0, 300))}`);
    }
    const third = relayed(again);
    if (third !== text) {
      // Not a failure: XML's own normalisation (line ends, white space in attribute values)
      // changes a character or two on the way; counted in the notes.
      stats.fidelity++;
      if (!stats.fidelityExample) stats.fidelityExample = `${JSON.stringify(text.slice(0, 120))} -> ${JSON.stringify(third.slice(0, 120))}`;
    }
  };
  const surrogates = fc.array(fc.tuple(fc.nat(), fc.constantFrom("\ud800", "\udfff", "\udbff\udbff", "\ufffe", "\uffff", "\u0000", "\u{10ffff}")), { maxLength: 3 });
  return {
    name: "strict-xml",
    about: "StrictXmlParser: framed streams (header + stanzas), WebSocket messages, and strings with lone surrogates; relayed output re-parsed",
    weight: 25,
    async: false,
    arbitrary: fc.oneof(
      { arbitrary: fc.record({ mode: fc.constant("stream" as const), bytes: streamBytes(), how: chunking, inserts: fc.constant<[number, string][]>([]) }), weight: 5 },
      { arbitrary: fc.record({ mode: fc.constant("messages" as const), bytes: elementBytes(), how: chunking, inserts: fc.constant<[number, string][]>([]) }), weight: 3 },
      { arbitrary: fc.record({ mode: fc.constant("strings" as const), bytes: elementBytes(), how: chunking, inserts: surrogates }), weight: 2 },
    ),
    run(input) {
      n++;
      let refused = false;
      try {
        if (input.mode === "stream") {
          const framer = new XmlFramer(1 << 20);
          const parser = new StrictXmlParser("stream");
          outer: for (const chunk of cut(input.bytes, input.how, 2048)) {
            let events: FramerEvent[];
            try {
              events = framer.push(chunk);
            } catch (err) {
              if (err instanceof FramingError) break;
              throw err;
            }
            for (const event of events) {
              if (event.kind === "close") break outer;
              if (event.kind === "header") {
                parser.parseHeader(event.text);
                stats.headers++;
              } else {
                reparse(parser.parseElement(event.text));
                stats.elements++;
              }
            }
          }
        } else if (input.mode === "messages") {
          let text: string;
          try {
            text = XmlFramer.singleElement(input.bytes, 1 << 20);
          } catch (err) {
            if (err instanceof FramingError) return;
            throw err;
          }
          reparse(new StrictXmlParser("messages").parseElement(text));
          stats.elements++;
        } else {
          let text = input.bytes.toString("utf8");
          for (const [at, s] of input.inserts) {
            const i = at % (text.length + 1);
            text = text.slice(0, i) + s + text.slice(i);
          }
          if (input.bytes.length % 2 === 0) {
            reparse(new StrictXmlParser("messages").parseElement(text));
          } else {
            const parser = new StrictXmlParser("stream");
            parser.parseHeader(HEADER.replace("<?xml version='1.0'?>", ""));
            reparse(parser.parseElement(text));
          }
          stats.elements++;
        }
      } catch (err) {
        if (!(err instanceof NotWellFormedError)) throw err;
        refused = true;
        stats.refused++;
      }
      if (refused || n % 64 === 0) canary();
    },
    notes: () => [
      `headers ${stats.headers}, elements accepted ${stats.elements}, inputs refused (not-well-formed) ${stats.refused}`,
      `relayed text changed by a second trip (XML normalisation, not a failure): ${stats.fidelity}${stats.fidelityExample ? `, e.g. ${stats.fidelityExample}` : ""}`,
    ],
  };
}

// ---- the server's output ----------------------------------------------------------------------

/**
 * Checks what a server wrote on one TCP stream: each stream it opened (a new one after SASL) is
 * framed and strictly parsed as a client would. Returns null when it is well-formed, else why.
 * Stops at `<proceed/>` (TLS follows).
 */
export function serverOutputProblem(output: string): string | null {
  const proceed = output.indexOf("<proceed");
  const text = proceed === -1 ? output : output.slice(0, output.indexOf(">", proceed) + 1);
  const streams = text.split("<?xml version='1.0'?>").filter((s) => s.length > 0);
  for (const stream of streams) {
    const framer = new XmlFramer(1 << 30, { maxDepth: 1000 });
    const parser = new StrictXmlParser("stream");
    try {
      for (const event of framer.push(Buffer.from(stream))) {
        if (event.kind === "header") parser.parseHeader(event.text);
        else if (event.kind === "element") parser.parseElement(event.text);
      }
    } catch (err) {
      if (err instanceof FramingError || err instanceof NotWellFormedError) return `${err.name}: ${err.message}${inside(stream)} in ${around(stream)}`;
      throw err;
    }
  }
  return null;
}

/** Which element the first character XML does not allow is in (so two such bugs have two signatures). */
export function inside(text: string): string {
  const at = text.search(NOT_XML_CHAR);
  if (at === -1) return "";
  const tags = [...text.slice(0, at).matchAll(/<([A-Za-z_][\w:.-]*)/g)];
  const last = tags.at(-1)?.[1];
  return last ? ` (inside <${last}>)` : "";
}

/** Characters XML 1.0 does not allow anywhere (outside Char). */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** The text around the first character XML does not allow, or its start. */
function around(text: string): string {
  const at = text.search(NOT_XML_CHAR);
  return at === -1 ? JSON.stringify(text.slice(0, 400)) : `...${JSON.stringify(text.slice(Math.max(0, at - 250), at + 100))}...`;
}

/** The same for WebSocket: every message the server sent is one well-formed element. */
export function serverMessageProblem(message: string): string | null {
  try {
    new StrictXmlParser("messages").parseElement(XmlFramer.singleElement(message, 1 << 30, 1000));
    return null;
  } catch (err) {
    if (err instanceof FramingError || err instanceof NotWellFormedError) return `${err.name}: ${err.message}${inside(message)} in ${around(message)}`;
    throw err;
  }
}
