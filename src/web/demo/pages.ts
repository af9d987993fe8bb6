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

export function signInPage(users: string[], failed: boolean): string {
  return page(
    "X-TOKEN demo: sign in",
    `<main class="card">
<h1>X-TOKEN demo</h1>
<p>Sign in to the web app. The chat then logs in to XMPP with a token the app mints for you: no XMPP password.</p>
${failed ? '<p class="error" role="alert">Wrong username or password.</p>' : ""}
<form method="post" action="/signin">
<label>Username <select name="username">${users.map((u) => `<option>${escapeHtml(u)}</option>`).join("")}</select></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</main>`,
  );
}

/** `websocket`: the endpoint's path on this host, or its full ws(s):// URL. */
export function chatPage(jid: string, websocket: string): string {
  return page(
    "X-TOKEN demo: chat",
    `<header>
<h1>X-TOKEN chat</h1>
<span>Signed in as <strong id="me">${escapeHtml(jid)}</strong></span>
<span id="state" class="state">connecting</span>
<form method="post" action="/signout" id="signout"><button type="submit">Sign out</button></form>
</header>
<main class="chat">
<section class="roster"><h2>Online</h2><ul id="online"></ul></section>
<section class="conversation">
<ol id="log"></ol>
<form id="send">
<select id="to" aria-label="To"></select>
<input id="body" autocomplete="off" placeholder="Message" aria-label="Message" required>
<button type="submit">Send</button>
</form>
</section>
</main>
<script type="module" src="/assets/demo.js"></script>`,
    ` data-jid="${escapeHtml(jid)}" data-websocket="${escapeHtml(websocket)}"`,
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
