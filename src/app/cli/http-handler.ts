/**
 * The handler for the HTTP port's requests other than the WebSocket endpoint: /metrics when
 * metrics are on, the demo web app when configured.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppConfig } from "../config/types.js";
import type { WebSessionRecords } from "../../core/records/web-sessions.js";
import type { OtpCredentials } from "../../core/records/otp.js";
import type { LoginPolicy } from "../../auth/policy/login-limiter.js";
import { createDemoApp, type DemoAppOptions } from "../../web/demo/app.js";
import { DEFAULT_OTP_SETTINGS } from "../config/otp.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpHandlerOptions {
  /** The storage's web sessions (null for the memory engine): demo sign-ins then survive restarts. */
  webSessions?: WebSessionRecords | null | undefined;
  /** Where the demo app reports failed sign-ins and sign-ins and sign-outs it could not store. */
  log?: { warn(message: string): void; info?(message: string): void } | undefined;
  /** The storage's one-time password credentials: the demo's two-factor sign-in checks and enrols them. */
  otpCredentials?: OtpCredentials;
  /** The server's login policy: the demo's sign-in counts against the same limits. */
  loginPolicy?: LoginPolicy;
  /** The rules every login of a domain follows (the TokenAuthority: disabled accounts). */
  accounts?: { accountProblem(localpart: string, domain: string): string | null };
}

export function createHttpHandler(
  config: AppConfig,
  metrics?: { handle(req: IncomingMessage, res: ServerResponse): boolean } & Pick<NonNullable<DemoAppOptions["metrics"]>, "loginFinished">,
  options: HttpHandlerOptions = {},
): Handler | undefined {
  const app = demoHandler(config, { ...options, ...(metrics ? { metrics } : {}) });
  if (!metrics) return app;
  return (req, res) => {
    if (metrics.handle(req, res)) return;
    if (app) return app(req, res);
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  };
}

function demoHandler(config: AppConfig, { webSessions, log, otpCredentials, loginPolicy, accounts, metrics }: HttpHandlerOptions & Pick<DemoAppOptions, "metrics">): Handler | undefined {
  if (!config.demo) return undefined;
  const domain = config.domains[config.demo.domain]!;
  const otp = config.otp ?? DEFAULT_OTP_SETTINGS;
  return createDemoApp({
    demo: config.demo,
    keys: domain.keys,
    nonceDigits: domain.nonceDigits,
    websocketPath: config.listeners.websocketPath,
    trustedProxies: config.trustedProxies,
    ...(webSessions ? { sessionRecords: webSessions } : {}),
    ...(log ? { log } : {}),
    ...(otpCredentials ? { otp: { credentials: otpCredentials, maxOffset: otp.maxOffset, ...(otp.issuer !== null ? { issuer: otp.issuer } : {}), ...(accounts ? { accounts } : {}) } } : {}),
    ...(loginPolicy ? { loginPolicy } : {}),
    ...(metrics ? { metrics } : {}),
    failureLinesPerMinute: config.limits.maxFailureLinesPerIpPerMinute,
  });
}
