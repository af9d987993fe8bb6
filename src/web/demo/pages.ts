/** The demo's HTML: no inline scripts or styles (the Content Security Policy forbids them). */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string, bodyAttrs = ""): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/assets/demo.css">
</head>
<body${bodyAttrs}>
${body}
</body>
</html>
`;
}

export interface SignInPageState {
  /** The last sign-in failed: say so, and keep the username that was typed. */
  failed?: boolean;
  username?: string;
  /** The user has just signed out: say so. */
  signedOut?: boolean;
  /** A two-factor sign-in ended before its code: it took too long, or had too many wrong codes. */
  restart?: "expired" | "too-many-codes";
}

const RESTART_TEXT = {
  expired: "Your sign-in took too long to finish: sign in again.",
  "too-many-codes": "Too many wrong codes: sign in again, then type the code your app shows now.",
};

export function signInPage(users: string[], { failed = false, username = "", signedOut = false, restart }: SignInPageState = {}): string {
  const names = users.map((u) => `<code>${escapeHtml(u)}</code>`).join(", ");
  // After a failed attempt the username stays and the password field has the focus.
  const again = failed && username !== "";
  return page(
    "X-TOKEN demo: sign in",
    `<main class="card">
<h1>X-TOKEN demo</h1>
${signedOut ? '<p class="notice" role="status">You are signed out. Your chat session was closed.</p>\n' : ""}<p>Sign in to the web app. The chat then logs in to XMPP with a token the app mints for you: no XMPP password.</p>
<p class="hint">Demo users: ${names}. The password is the one <code>npm start</code> printed next to the name
(<code>Demo users: alice / …</code>); it is also in <code>.x-token-dev/demo-passwords.json</code>.</p>
${failed ? '<p class="error" role="alert">Wrong username or password.</p>' : ""}${restart ? `<p class="error" role="alert">${RESTART_TEXT[restart]}</p>` : ""}
<form method="post" action="/signin">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" list="demo-users" required${again ? ` value="${escapeHtml(username)}"` : " autofocus"}>
<datalist id="demo-users">${users.map((u) => `<option value="${escapeHtml(u)}"></option>`).join("")}</datalist>
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required${again ? " autofocus" : ""}>
<button type="submit">Sign in</button>
</form>
</main>`,
  );
}

/**
 * `websocket`: the endpoint's path on this host, or its full ws(s):// URL. The page starts in the
 * state it has before the script runs: connecting, nobody to write to, Send off and saying why.
 */
export function chatPage(jid: string, websocket: string): string {
  return page(
    "X-TOKEN demo: chat",
    `<header>
<h1>X-TOKEN chat</h1>
<span class="me"><span class="label">Signed in as </span><strong id="me">${escapeHtml(jid)}</strong></span>
<span id="state" class="state" data-state="connecting" role="status">connecting…</span>
<a class="two-factor" href="/two-factor">Two-factor</a>
<form method="post" action="/signout" id="signout"><button type="submit">Sign out</button></form>
</header>
<main class="chat">
<section class="roster"><h2>Online</h2><ul id="online"></ul><p id="roster-note" class="note">Not connected yet.</p></section>
<section class="conversation">
<ol id="log" role="log" aria-label="Messages" tabindex="0"></ol>
<button type="button" id="newer" class="newer" hidden>New messages below ↓</button>
<form id="send">
<select id="to" aria-label="To" aria-describedby="send-note" disabled><option value="">nobody to write to</option></select>
<input id="body" autocomplete="off" placeholder="Message" aria-label="Message" required>
<button type="submit" aria-describedby="send-note" disabled>Send</button>
</form>
<p id="send-note" class="note">Send is off until the chat is connected.</p>
</section>
</main>
<script type="module" src="/assets/demo.js"></script>`,
    ` class="chat-page" data-jid="${escapeHtml(jid)}" data-websocket="${escapeHtml(websocket)}"`,
  );
}

export function stropheCheckPage(jid: string, websocket: string): string {
  return page(
    "X-TOKEN demo: Strophe.js login",
    `<main class="card"><h1>Strophe.js X-TOKEN login</h1><p id="state" class="state">connecting</p></main>
<script type="module" src="/assets/strophe-check.js"></script>`,
    ` data-jid="${escapeHtml(jid)}" data-websocket="${escapeHtml(websocket)}"`,
  );
}

/** A short page for errors and refusals (and news), with one link onwards: back to sign-in by default. */
export function messagePage(title: string, text: string, link: { href: string; label: string } = { href: "/", label: "Back to sign-in" }): string {
  return page(
    `X-TOKEN demo: ${title}`,
    `<main class="card"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p></main>`,
  );
}

export interface CodePageState {
  /** Who passed the password step. */
  jid: string;
  /** The last code was refused. */
  failed?: boolean;
  /** A credential of the account has a PIN: the PIN comes first, as in an XMPP client. */
  pin?: boolean;
}

/** The second step of a two-factor sign-in (Caddy's TOTP prompt): the code, or PIN then code. */
export function codePage({ jid, failed = false, pin = false }: CodePageState): string {
  // With a PIN the field holds a secret to hide, and is not digits only.
  const field = pin ? `type="password" autocomplete="off"` : `inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"`;
  return page(
    "X-TOKEN demo: code",
    `<main class="card">
<h1>Two-factor sign-in</h1>
<p>Password accepted for <strong>${escapeHtml(jid)}</strong>. Now type the code your authenticator app shows for it.</p>
${pin ? '<p class="hint">Your credential has a PIN: type the PIN, then the code, with nothing between them.</p>\n' : ""}${failed ? '<p class="error" role="alert">Wrong or already used code. Wait for the next code and try again.</p>\n' : ""}<form method="post" action="/code">
<label for="code">${pin ? "PIN and code" : "Code"}</label>
<input id="code" name="code" ${field} autocapitalize="none" spellcheck="false" maxlength="${MAX_CODE_FIELD}" required autofocus>
<button type="submit">Verify</button>
</form>
<form method="post" action="/signout" class="aside"><button type="submit" class="quiet">Cancel and sign out</button></form>
</main>`,
  );
}

/** Characters the code field takes: a PIN (at most 64) and an 8-digit code, with room for spaces. */
export const MAX_CODE_FIELD = 80;

export interface CredentialShown {
  name: string;
  kind: "hotp" | "totp";
  digits: number;
  hasPin: boolean;
}

/** Two-factor sign-in of the signed-in user: on (with what), or off with the way to turn it on. */
export function twoFactorPage(jid: string, credentials: readonly CredentialShown[], { expired = false } = {}): string {
  const on = credentials.length > 0;
  const list = credentials
    .map((c) => `<li><strong>${escapeHtml(c.name)}</strong>: ${c.kind === "totp" ? "authenticator app (TOTP)" : "counter token (HOTP)"}, ${c.digits} digits${c.hasPin ? ", with a PIN" : ""}</li>`)
    .join("");
  return page(
    "X-TOKEN demo: two-factor sign-in",
    `<main class="card">
<h1>Two-factor sign-in</h1>
<p>Account <strong>${escapeHtml(jid)}</strong>.</p>
${expired ? '<p class="error" role="alert">That set-up expired before it was confirmed: start again.</p>\n' : ""}${
      on
        ? `<p class="notice" role="status">On. After your password, the sign-in asks for a code from:</p>
<ul class="credentials">${list}</ul>
<p class="hint">The same code (after the PIN, if any) is also the password of an XMPP client for this account, once. To remove a credential, ask the operator (<code>x-token otp remove</code>).</p>`
        : `<p>Off: your password alone signs you in. Turn it on to be asked for a code from an authenticator app (Google Authenticator, FreeOTP, Aegis, …) after the password.</p>
<form method="post" action="/two-factor/start"><button type="submit">Set up two-factor sign-in</button></form>`
    }
<p><a href="/chat">Back to the chat</a></p>
</main>`,
  );
}

export interface EnrolPageState {
  jid: string;
  /** The QR code of `uri`, as an SVG element (ours, from uqr). */
  qrSvg: string;
  uri: string;
  /** The secret in base32, for typing by hand. */
  secret: string;
  digits: number;
  period: number;
  /** The last confirmation code was refused. */
  failed?: boolean;
}

/** Enrolment: the QR code and the otpauth:// URI of a new credential, stored once a code from the app confirms it. */
export function enrolPage({ jid, qrSvg, uri, secret, digits, period, failed = false }: EnrolPageState): string {
  const grouped = secret.replace(/(.{4})(?=.)/g, "$1 ");
  return page(
    "X-TOKEN demo: set up two-factor sign-in",
    `<main class="card enrol">
<h1>Set up two-factor sign-in</h1>
<p>1. Scan this QR code with your authenticator app, as an account for <strong>${escapeHtml(jid)}</strong>.</p>
<figure class="qr">${qrSvg}<figcaption>The QR code holds your new secret: it is shown during this set-up only.</figcaption></figure>
<p class="hint">On this device: <a href="${escapeHtml(uri)}">open it in an authenticator app</a>. Or type the key by hand (time-based, SHA-1, ${digits} digits, every ${period} s):</p>
<p><code class="secret" id="secret">${escapeHtml(grouped)}</code></p>
<p class="hint">Its otpauth:// URI:</p>
<p><code class="uri" id="uri">${escapeHtml(uri)}</code></p>
<p>2. Type the code the app now shows. Two-factor sign-in is on once the code is right.</p>
${failed ? '<p class="error" role="alert">That is not the code of this QR code. Check the app shows the new account, and type its current code.</p>\n' : ""}<form method="post" action="/two-factor/confirm">
<label for="code">Code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" autocapitalize="none" spellcheck="false" maxlength="${MAX_CODE_FIELD}" required autofocus>
<button type="submit">Turn on</button>
</form>
<p><a href="/chat">Cancel: back to the chat</a></p>
</main>`,
  );
}
