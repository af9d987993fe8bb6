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
}

export function signInPage(users: string[], { failed = false, username = "", signedOut = false }: SignInPageState = {}): string {
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
${failed ? '<p class="error" role="alert">Wrong username or password.</p>' : ""}
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

/** A short page for errors and refusals. */
export function messagePage(title: string, text: string): string {
  return page(`X-TOKEN demo: ${title}`, `<main class="card"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="/">Back to sign-in</a></p></main>`);
}
