/**
 * The SASL exchange of one stream (RFC 6120 section 6): `<auth/>`, `<response/>` and `<abort/>`
 * in, `<challenge/>`, `<success/>` and `<failure/>` out. It runs the registry's mechanisms and is
 * the one place the login policy is consulted: before a token is checked (`admit`) and after
 * every attempt (`settle`). It knows nothing of stream headers, TLS or stanzas.
 */
import { xml, type Element } from "@xmpp/xml";
import type { LoginPolicy } from "../auth/policy/login-limiter.js";
import { ABORTED, INVALID_MECHANISM, decodeSaslPayload, encodeSaslPayload, failure, type SaslRegistry, type ServerMechanism } from "../auth/sasl/index.js";
import type { SaslContext, SaslOutcome } from "../auth/sasl/types.js";
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

/** The same bytes on every successful login. */
const SUCCESS = serialize(xml("success", { xmlns: NS.sasl }));

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
  policy: LoginPolicy;
  log: Logger;
  metrics?: LoginMetrics;
  /** Where failed-attempt lines go, bounded per address (failure-log.ts); by default `log.warn`. */
  failureLog?: Pick<FailureLog, "failure">;
}

export type ExchangeStep =
  /** Answered (challenge or failure); the stream stays unauthenticated. */
  | { kind: "continue" }
  /** `<success/>` was sent: the stream is authenticated as `jid` and restarts. */
  | { kind: "authenticated"; jid: string }
  /** The connection used up its failed attempts: close it with `policy-violation`. */
  | { kind: "exhausted" };

const CONTINUE: ExchangeStep = { kind: "continue" };

/** Refused before any check because the address used up its failures. */
const RATE_LIMITED = failure("temporary-auth-failure", "rate-limited");

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000).unref());
}

export class SaslExchange {
  private mechanism: ServerMechanism | null = null;
  private mechanismName = "";
  /** The mechanism's name for metrics: one the registry knows, else "unknown" (never client text). */
  private mechanismLabel = "unknown";
  /** Failed attempts on this connection, aborted and abandoned ones included. */
  private failures = 0;

  constructor(
    private readonly peer: SaslPeer,
    private readonly services: SaslExchangeServices,
  ) {}

  /** One element in the SASL namespace; `null` for an element SASL does not have. */
  async handle(element: Element): Promise<ExchangeStep | null> {
    const started = process.hrtime.bigint();
    let outcome: SaslOutcome;
    if (element.name === "abort") {
      this.mechanism = null;
      outcome = ABORTED;
    } else if (element.name === "auth" || element.name === "response") {
      if (element.name === "auth") {
        // A new <auth/> abandons an exchange still running: that attempt counts as failed, so
        // attempts per connection stay capped however they end.
        if (this.mechanism && this.countFailure()) return { kind: "exhausted" };
        this.mechanismName = element.attrs.mechanism ?? "";
        this.mechanism = this.services.sasl.start(this.mechanismName, this.peer.context());
        this.mechanismLabel = this.mechanism ? this.mechanismName : "unknown";
      }
      outcome = await this.step(element);
    } else {
      return null;
    }
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
    if (this.peer.closed) return CONTINUE;
    return this.answer(outcome);
  }

  private async step(element: Element): Promise<SaslOutcome> {
    const mechanism = this.mechanism;
    if (!mechanism) return element.name === "auth" ? INVALID_MECHANISM : failure("malformed-request", "no-exchange");
    const payload = decodeSaslPayload(element.text());
    if (payload.kind === "invalid") return failure("incorrect-encoding", "incorrect-encoding");
    const message = payload.kind === "none" ? (element.name === "auth" ? null : Buffer.alloc(0)) : payload.data;
    // Before the check: an address over its limit costs no HMAC and gets no verdict on its token.
    if (message !== null && !(await this.services.policy.admit(this.peer.remoteAddress))) return RATE_LIMITED;
    return mechanism.step(message);
  }

  private async answer(outcome: SaslOutcome): Promise<ExchangeStep> {
    const { peer, services } = this;
    const ip = peer.remoteAddress;
    if (outcome.kind === "challenge") {
      peer.send(xml("challenge", { xmlns: NS.sasl }, encodeSaslPayload(outcome.data)));
      return CONTINUE;
    }
    this.mechanism = null;
    if (outcome.kind === "success") {
      await services.policy.settle({ ip, jid: outcome.jid, result: "success" });
      if (peer.closed) return CONTINUE;
      // The name came from a mechanism the registry found, so it is one of ours, not client text.
      services.log.info(`authenticated ${outcome.jid} from ${ip} via ${this.mechanismName} over ${peer.kind}`);
      peer.send(SUCCESS);
      return { kind: "authenticated", jid: outcome.jid };
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
    if (holdBackSeconds > 0) await sleep(holdBackSeconds);
    if (peer.closed) return CONTINUE;
    peer.send(xml("failure", { xmlns: NS.sasl }, xml(outcome.condition)));
    return this.countFailure() ? { kind: "exhausted" } : CONTINUE;
  }

  /** Counts a failed attempt on this connection; true when the connection must now be closed. */
  private countFailure(): boolean {
    this.failures++;
    return this.failures >= this.services.policy.maxFailuresPerConnection;
  }
}
