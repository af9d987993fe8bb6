/**
 * Prometheus metrics (prom-client) for `x-token serve`: the server reports login events through
 * its thin LoginMetrics hook and is asked for open streams when scraped; this adapter names,
 * labels and serves them. Labels are bounded: mechanisms the registry knows (or "unknown"),
 * results, and the server's own failure reasons, never client text.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { TrustedProxies } from "../auth/policy/trusted-proxies.js";

/** Reasons that mean the shared store (replay or limits) could not answer. */
const STORE_ERROR_REASONS = new Set(["replay-store-error", "replay-store-full"]);

export interface LoginEvent {
  mechanism: string;
  result: "success" | "failure";
  reason: string;
  seconds: number;
}

export interface PrometheusMetricsOptions {
  /** Open streams by state, read at each scrape. */
  streams: () => Record<string, number>;
  /** Addresses and CIDR ranges allowed to scrape, matched on the TCP peer (never a header). */
  allowFrom: readonly string[];
  /** Node's process metrics too (CPU, memory, event loop); default true. */
  processMetrics?: boolean;
}

export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly allowed: TrustedProxies;
  private readonly logins: Counter<"mechanism" | "result">;
  private readonly failures: Counter<"reason">;
  private readonly replayHits: Counter;
  private readonly storeErrors: Counter;
  private readonly verification: Histogram<"mechanism" | "result">;
  private readonly revocations: Counter<"source">;
  private readonly revokedStreams: Counter;

  constructor(options: PrometheusMetricsOptions) {
    // An address list, matched like trustedProxies (the same parser, so the same forms are valid).
    this.allowed = TrustedProxies.parse(options.allowFrom);
    const registers = [this.registry];
    this.logins = new Counter({ name: "xtoken_logins_total", help: "Finished SASL attempts by mechanism and result", labelNames: ["mechanism", "result"], registers });
    this.failures = new Counter({ name: "xtoken_login_failures_total", help: "Failed SASL attempts by reason", labelNames: ["reason"], registers });
    this.replayHits = new Counter({ name: "xtoken_replay_hits_total", help: "Tokens refused because they were already used", registers });
    this.storeErrors = new Counter({ name: "xtoken_store_errors_total", help: "Logins refused because the replay store could not answer (down, slow, full)", registers });
    this.verification = new Histogram({
      name: "xtoken_verification_seconds",
      help: "Time from a SASL message to its verdict (address check, token check, replay claim)",
      labelNames: ["mechanism", "result"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.revocations = new Counter({ name: "xtoken_revocations_total", help: "Account revocations applied on this node, by who asked (library, http, cli, bus)", labelNames: ["source"], registers });
    this.revokedStreams = new Counter({ name: "xtoken_revoked_streams_total", help: "Streams ended because their account was revoked", registers });
    const streams = options.streams;
    new Gauge({
      name: "xtoken_open_streams",
      help: "Open XMPP streams by state",
      labelNames: ["state"],
      registers,
      collect() {
        for (const [state, count] of Object.entries(streams())) this.set({ state }, count);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The server's hook (StartOptions.metrics). */
  loginFinished({ mechanism, result, reason, seconds }: LoginEvent): void {
    this.logins.inc({ mechanism, result });
    this.verification.observe({ mechanism, result }, seconds);
    if (result === "success") return;
    this.failures.inc({ reason });
    if (reason === "replayed") this.replayHits.inc();
    if (STORE_ERROR_REASONS.has(reason)) this.storeErrors.inc();
  }

  /** The server's revocation hook (StartOptions.metrics). */
  accountRevoked({ source, streamsEnded }: { source: string; streamsEnded: number }): void {
    this.revocations.inc({ source });
    this.revokedStreams.inc(streamsEnded);
  }

  revokedStreamEnded(): void {
    this.revokedStreams.inc();
  }

  /**
   * `GET /metrics` for allowed peers (403 for others); `false` for any other path, so the caller
   * hands the request on.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if ((req.url ?? "").split("?")[0] !== "/metrics") return false;
    if (!this.allowed.has(req.socket.remoteAddress)) {
      res.writeHead(403, { "Content-Type": "text/plain" }).end("forbidden\n");
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("method not allowed\n");
      return true;
    }
    this.registry.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": this.registry.contentType, "Cache-Control": "no-store" }).end(req.method === "HEAD" ? undefined : text),
      () => res.writeHead(500, { "Content-Type": "text/plain" }).end("metrics unavailable\n"),
    );
    return true;
  }
}
