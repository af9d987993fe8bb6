/**
 * The SASL exchange of one stream, on either wire: legacy SASL (RFC 6120 section 6: `<auth/>`,
 * `<response/>` and `<abort/>` in, `<challenge/>`, `<success/>` and `<failure/>` out) and SASL2
 * (XEP-0388: `<authenticate/>`, `<response/>`, `<abort/>` in the urn:xmpp:sasl:2 namespace; the
 * SASL2 success, with what rides on it, is the stream's to build: src/server/sasl2.ts). It runs
 * the registries' mechanisms and is the one place the login policy is consulted, whichever the
 * wire: before a token is checked (`admit`) and after every attempt (`settle`), with the same
 * metrics, log lines and failure budget per connection. It knows nothing of stream headers, TLS
 * or stanzas.
 */
import { xml, type Element } from "@xmpp/xml";
import type { LoginPolicy } from "../auth/policy/login-limiter.js";
import { ABORTED, INVALID_MECHANISM, decodeSaslPayload, encodeSaslPayload, failure, type SaslRegistry, type ServerMechanism } from "../auth/sasl/index.js";
import type { SaslCondition, SaslContext, SaslOutcome } from "../auth/sasl/types.js";
import type { Logger } from "./log.js";
import type { FailureLog } from "./failure-log.js";
import { NS } from "./namespaces.js";
import { serialize, type Outbound } from "./serialized.js";

/** What the exchange needs of its stream. */
export interface SaslPeer {
  readonly kind: string;
  readonly remoteAddress: string;
  /** The stream ended (while a check or a hold-back was running): send nothing more. */
  readonly closed: boolean;
  context(): SaslContext;
  send(element: Outbound): void;
}

/** The same bytes on every successful legacy login. */
const SUCCESS = serialize(xml("success", { xmlns: NS.sasl }));

/** How one wire writes what the exchange answers (the success aside: see ExchangeStep). */
export interface SaslWire {
  challenge(data: Buffer): Outbound;
  failure(condition: SaslCondition): Outbound;
}

const LEGACY_WIRE: SaslWire = {
  challenge: (data) => xml("challenge", { xmlns: NS.sasl }, encodeSaslPayload(data)),
  failure: (condition) => xml("failure", { xmlns: NS.sasl }, xml(condition)),
};

/** SASL2's answers (XEP-0388): the condition keeps the RFC 6120 namespace inside `<failure/>`. */
const SASL2_WIRE: SaslWire = {
  challenge: (data) => xml("challenge", { xmlns: NS.sasl2 }, encodeSaslPayload(data)),
  failure: (condition) => xml("failure", { xmlns: NS.sasl2 }, xml(condition, { xmlns: NS.sasl })),
};

/** What starts an attempt, whichever the wire. */
export interface AttemptStart {
  mechanism: string;
  /** The initial response's text (base64, `=` for empty); null when the client sent none. */
  initialResponse: string | null;
  /** What the context of this attempt adds to the stream's (SASL2's user agent). */
  context?: Partial<SaslContext>;
}

/**
 * Where login figures go (the Prometheus adapter in src/metrics, or nothing). Called once per
 * finished attempt, aborts included; `mechanism` is one the registry knows or "unknown", and
 * `reason` one of ours (never client text), so labels stay few.
 */
export interface LoginMetrics {
  loginFinished(event: { mechanism: string; result: "success" | "failure"; reason: string; seconds: number }): void;
}

export interface SaslExchangeServices {
  sasl: SaslRegistry;
  /** Mechanisms SASL2 takes besides `sasl`'s: FAST's Hashed Token mechanisms (never offered in legacy SASL). */
  fastSasl?: SaslRegistry;
  policy: LoginPolicy;
  log: Logger;
  metrics?: LoginMetrics;
  /** Where failed-attempt lines go, bounded per address (failure-log.ts); by default `log.warn`. */
  failureLog?: Pick<FailureLog, "failure">;
  /** How a held-back failure waits (by default holdBackTimer). */
  holdBack?: HoldBack;
}

export type ExchangeStep =
  /** Answered (challenge or failure); the stream stays unauthenticated. */
  | { kind: "continue" }
  /**
   * The attempt succeeded as `jid` (policy settled, logged). Legacy SASL: `<success/>` was sent
   * and the stream restarts. SASL2: the caller sends the success, with `outcome`'s extras.
   */
  | { kind: "authenticated"; jid: string; outcome: Extract<SaslOutcome, { kind: "success" }> }
  /** The connection used up its failed attempts: close it with `policy-violation`. */
  | { kind: "exhausted" };

const CONTINUE: ExchangeStep = { kind: "continue" };

/** Refused before any check because the address used up its failures. */
const RATE_LIMITED = failure("temporary-auth-failure", "rate-limited");

/** How an answer held back by the login policy waits; tests pass their own to see which answers wait. */
export type HoldBack = (seconds: number) => Promise<void>;

/** The real wait: a timer that keeps no process alive. */
export const holdBackTimer: HoldBack = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000).unref());

export class SaslExchange {
  private mechanism: ServerMechanism | null = null;
  private mechanismName = "";
  /** The wire of the exchange running (a response must come on it). */
  private wire: SaslWire = LEGACY_WIRE;
  /** The mechanism's name for metrics: one the registry knows, else "unknown" (never client text). */
  private mechanismLabel = "unknown";
  /** Failed attempts on this connection, aborted and abandoned ones included. */
  private failures = 0;

  constructor(
    private readonly peer: SaslPeer,
    private readonly services: SaslExchangeServices,
  ) {}

  /** One element in the legacy SASL namespace; `null` for an element SASL does not have. */
  async handle(element: Element): Promise<ExchangeStep | null> {
    if (element.name === "abort") return this.abort(LEGACY_WIRE);
    if (element.name === "auth") return this.start(LEGACY_WIRE, { mechanism: element.attrs.mechanism ?? "", initialResponse: element.text() });
    if (element.name === "response") return this.respond(LEGACY_WIRE, element.text());
    return null;
  }

  /** SASL2: `<authenticate/>`'s mechanism and initial response (src/server/sasl2.ts reads the rest). */
  startSasl2(start: AttemptStart): Promise<ExchangeStep> {
    return this.start(SASL2_WIRE, start);
  }

  /** SASL2's `<response/>` text. */
  respondSasl2(text: string): Promise<ExchangeStep> {
    return this.respond(SASL2_WIRE, text);
  }

  abortSasl2(): Promise<ExchangeStep> {
    return this.abort(SASL2_WIRE);
  }

  private abort(wire: SaslWire): Promise<ExchangeStep> {
    this.mechanism = null;
    return this.finish(wire, ABORTED, process.hrtime.bigint());
  }

  private async start(wire: SaslWire, { mechanism: name, initialResponse, context }: AttemptStart): Promise<ExchangeStep> {
    const started = process.hrtime.bigint();
    // A new attempt abandons an exchange still running: that attempt counts as failed, so
    // attempts per connection stay capped however they end.
    if (this.mechanism && this.countFailure()) return { kind: "exhausted" };
    const ctx = { ...this.peer.context(), ...context };
    this.mechanismName = name;
    this.wire = wire;
    this.mechanism = this.services.sasl.start(name, ctx) ?? (wire === SASL2_WIRE ? (this.services.fastSasl?.start(name, ctx) ?? null) : null);
    this.mechanismLabel = this.mechanism ? name : "unknown";
    // An empty element is "no initial response"; "=" is an empty one (RFC 6120 6.4.2, XEP-0388).
    const outcome = this.mechanism ? await this.step(initialResponse ?? "", true) : INVALID_MECHANISM;
    return this.finish(wire, outcome, started);
  }

  private async respond(wire: SaslWire, text: string): Promise<ExchangeStep> {
    const started = process.hrtime.bigint();
    // A response on the other wire than the exchange's is no response to it.
    const outcome = this.mechanism && this.wire === wire ? await this.step(text, false) : failure("malformed-request", "no-exchange");
    return this.finish(wire, outcome, started);
  }

  /** Metrics for a verdict, then the answer. */
  private finish(wire: SaslWire, outcome: SaslOutcome, started: bigint): Promise<ExchangeStep> {
    if (this.services.metrics && outcome.kind !== "challenge") {
      // The time to a verdict: the address check and the mechanism's (token check, replay claim).
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const mechanism = this.mechanismLabel;
      this.services.metrics.loginFinished(
        outcome.kind === "success"
          ? { mechanism, result: "success", reason: "ok", seconds }
          : { mechanism, result: "failure", reason: outcome.reason, seconds },
      );
    }
    if (this.peer.closed) return Promise.resolve(CONTINUE);
    return this.answer(wire, outcome);
  }

  private async step(text: string, initial: boolean): Promise<SaslOutcome> {
    const mechanism = this.mechanism!;
    const payload = decodeSaslPayload(text);
    if (payload.kind === "invalid") return failure("incorrect-encoding", "incorrect-encoding");
    const message = payload.kind === "none" ? (initial ? null : Buffer.alloc(0)) : payload.data;
    // Before the check: an address over its limit costs no HMAC and gets no verdict on its token.
    if (message !== null && !(await this.services.policy.admit(this.peer.remoteAddress))) return RATE_LIMITED;
    return mechanism.step(message);
  }

  private async answer(wire: SaslWire, outcome: SaslOutcome): Promise<ExchangeStep> {
    const { peer, services } = this;
    const ip = peer.remoteAddress;
    if (outcome.kind === "challenge") {
      peer.send(wire.challenge(outcome.data));
      return CONTINUE;
    }
    this.mechanism = null;
    if (outcome.kind === "success") {
      await services.policy.settle({ ip, jid: outcome.jid, result: "success" });
      if (peer.closed) return CONTINUE;
      // The name came from a mechanism the registry found, so it is one of ours, not client text.
      services.log.info(`authenticated ${outcome.jid} from ${ip} via ${this.mechanismName} over ${peer.kind}${wire === SASL2_WIRE ? " (SASL2)" : ""}`);
      if (wire === LEGACY_WIRE) peer.send(SUCCESS);
      return { kind: "authenticated", jid: outcome.jid, outcome };
    }
    // A client's own <abort/> is nobody's failed login: it counts on this connection only.
    let overLimit = "";
    let holdBackSeconds = 0;
    if (outcome.condition !== "aborted") {
      const result = outcome.condition === "not-authorized" ? "refused" : "failed";
      const settled = await services.policy.settle({ ip, ...(outcome.jid === undefined ? {} : { jid: outcome.jid }), result });
      if (settled.jidOverLimit) overLimit = " (the JID is over its failure limit)";
      holdBackSeconds = settled.holdBackSeconds;
    }
    const line = `authentication failed for ${outcome.jid ?? "(unknown)"} from ${ip}: ${outcome.reason}${overLimit}`;
    if (services.failureLog) services.failureLog.failure(ip, line);
    else services.log.warn(line);
    if (holdBackSeconds > 0) await (services.holdBack ?? holdBackTimer)(holdBackSeconds);
    if (peer.closed) return CONTINUE;
    peer.send(wire.failure(outcome.condition));
    return this.countFailure() ? { kind: "exhausted" } : CONTINUE;
  }

  /** Counts a failed attempt on this connection; true when the connection must now be closed. */
  private countFailure(): boolean {
    this.failures++;
    return this.failures >= this.services.policy.maxFailuresPerConnection;
  }
}
