/**
 * Enrolment from the demo's pages (docs/otp.md, "Two-factor sign-in on the web"): a signed-in user
 * without a credential is shown a new one (QR code, otpauth:// URI, key), kept here in memory, and
 * it is stored only when a code from the app confirms it (startOtpEnrolment, confirmOtpEnrolment).
 * No HTTP here: each step says what to answer, and app.ts answers it.
 */
import { renderSVG } from "uqr";
import { confirmOtpEnrolment, startOtpEnrolment, type PendingOtpEnrolment } from "../../auth/otp/manage.js";
import { OtpRecordsError, type OtpCredentials } from "../../core/records/otp.js";
import type { Clock } from "../../core/clock.js";
import { enrolPage, messagePage } from "./pages.js";

/** How long a shown enrolment waits for its confirming code, and how many wrong ones it takes. */
const ENROLMENT_SECONDS = 600;
const MAX_CODES_PER_ENROLMENT = 5;

export type EnrolmentAnswer =
  | { kind: "page"; html: string }
  | { kind: "redirect"; location: string }
  /** The store failed: a 503 page with this text (the reason went to the log). */
  | { kind: "storage-trouble"; title: string; text: string };

export interface DemoEnrolmentsOptions {
  credentials: OtpCredentials;
  /** What the app shows above the code. */
  issuer: string;
  /** The account of a demo user. */
  jidOf(username: string): string;
  /** The HOTP look-ahead in force (the verifier's default when undefined). */
  maxOffset(): number | undefined;
  now: Clock;
  log?: { warn(message: string): void; info?(message: string): void } | undefined;
}

interface Shown {
  pending: PendingOtpEnrolment;
  expiresAt: number;
  failures: number;
}

function qrCode(uri: string): string {
  // uqr's SVG, sized by the stylesheet; described for screen readers (the URI is on the page as text too).
  return renderSVG(uri, { border: 2 }).replace("<svg ", '<svg role="img" aria-label="QR code of the new credential" ');
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class DemoEnrolments {
  /** By username: one per user (the configured users, so bounded); starting again replaces it. */
  private readonly shown = new Map<string, Shown>();

  constructor(private readonly options: DemoEnrolmentsOptions) {}

  /** POST /two-factor/start: a new credential, shown; nothing stored until a code confirms it. */
  async start(username: string): Promise<EnrolmentAnswer> {
    const { credentials, issuer, jidOf, now, log } = this.options;
    const jid = jidOf(username);
    let pending: PendingOtpEnrolment;
    try {
      if (credentials.forAccount(jid).length > 0) return { kind: "redirect", location: "/two-factor" };
      pending = await startOtpEnrolment(credentials, { jid, kind: "totp", issuer });
    } catch (err) {
      log?.warn(`demo: enrolment of ${jid} not started: ${reason(err)}`);
      return { kind: "storage-trouble", title: "Set-up failed", text: "The server could not start the set-up: its storage is failing. Try again in a moment." };
    }
    // Starting again replaces the one shown before (its QR code is then worthless).
    this.shown.set(username, { pending, expiresAt: now() + ENROLMENT_SECONDS, failures: 0 });
    return this.page(username, pending, false);
  }

  /** POST /two-factor/confirm: the first code from the app stores the credential (and is used up). */
  confirm(username: string, code: string): EnrolmentAnswer {
    const { credentials, jidOf, now, maxOffset, log } = this.options;
    const entry = this.shown.get(username);
    // Taken out before the write: confirmations racing store one credential.
    this.shown.delete(username);
    if (!entry || entry.expiresAt <= now()) return { kind: "redirect", location: "/two-factor?expired=1" };
    let stored;
    try {
      const offset = maxOffset();
      stored = confirmOtpEnrolment(credentials, entry.pending, code, { now: now(), ...(offset !== undefined ? { maxOffset: offset } : {}) });
    } catch (err) {
      if (err instanceof OtpRecordsError) return { kind: "redirect", location: "/two-factor" }; // one was added meanwhile: shown there
      log?.warn(`demo: enrolment of ${jidOf(username)} not stored: ${reason(err)}`);
      return { kind: "storage-trouble", title: "Set-up failed", text: "The server could not store your new credential: its storage is failing. Nothing was changed; start the set-up again." };
    }
    if (stored === null) {
      if (++entry.failures >= MAX_CODES_PER_ENROLMENT) return { kind: "redirect", location: "/two-factor?expired=1" };
      this.shown.set(username, entry);
      return this.page(username, entry.pending, true);
    }
    log?.info?.(`demo: ${jidOf(username)} turned two-factor sign-in on (credential ${stored.name})`);
    return {
      kind: "page",
      html: messagePage("Two-factor sign-in is on", "From now on, signing in asks for a code from your app after the password. The same code, once, is also a password for an XMPP client.", {
        href: "/chat",
        label: "Back to the chat",
      }),
    };
  }

  private page(username: string, { spec, uri, secret }: PendingOtpEnrolment, failed: boolean): EnrolmentAnswer {
    return { kind: "page", html: enrolPage({ jid: this.options.jidOf(username), qrSvg: qrCode(uri), uri, secret, digits: spec.digits, period: spec.period ?? 30, failed }) };
  }
}
