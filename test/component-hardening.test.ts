/**
 * Components under a hostile user (issue 18, items 3, 5, 6 and the keepalive note), on real
 * sockets: a fair share of a component's queue for each sender, attempt limits on handshakes,
 * dead component streams detected and replaced, and the login-token component's bounded log.
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import net from "node:net";
import { handshakeDigest } from "../src/server/component-stream.js";
import { HANDSHAKE_HOLD_BACK_SECONDS } from "../src/server/components.js";
import { startTokenComponent, type TokenComponent } from "../src/component/component.js";
import { LOGIN_TOKEN_NODE, MAX_LOGGED_JID_CHARS, NS_COMMANDS } from "../src/component/login-token-command.js";
import { DOMAIN, loginRaw, startTestServer, type RawClient, type TestServer, type TestServerOptions } from "./helpers/server.js";

const COMPONENT = "tokens.example.test";
const SECRET = "hardening-test-secret-0123456789";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function server(options: TestServerOptions = {}): Promise<TestServer> {
  const t = await startTestServer({ components: { [COMPONENT]: SECRET }, requireTls: false, ...options });
  cleanups.push(() => t.close());
  return t;
}

async function user(t: TestServer, local: string): Promise<RawClient> {
  const { client } = await loginRaw(t, local);
  cleanups.push(() => client.destroy());
  return client;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw component connection, from any loopback address (127.0.0.0/8 all reach 127.0.0.1). */
class RawComponent {
  received = "";
  closed = false;
  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d) => (this.received += d.toString()));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => {});
    cleanups.push(() => socket.destroy());
  }

  static async open(t: TestServer, localAddress = "127.0.0.1"): Promise<{ c: RawComponent; id: string }> {
    const socket = net.connect({ port: t.server.ports.component!, host: "127.0.0.1", localAddress });
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new RawComponent(socket);
    socket.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${COMPONENT}'>`);
    await until(() => /id='([^']+)'/.test(c.received), "the stream header");
    return { c, id: /id='([^']+)'/.exec(c.received)![1]! };
  }

  /** Sends the handshake; `answered` resolves with what the server answered and when. */
  static async handshake(t: TestServer, secret = SECRET, localAddress = "127.0.0.1"): Promise<{ c: RawComponent; answer: Promise<{ ok: boolean; ms: number }> }> {
    const { c, id } = await RawComponent.open(t, localAddress);
    const started = Date.now();
    c.socket.write(`<handshake>${handshakeDigest(id, secret)}</handshake>`);
    const answer = (async () => {
      await until(() => c.received.includes("<handshake/>") || c.received.includes("<stream:error>") || c.closed, "the handshake's answer", 20_000);
      return { ok: c.received.includes("<handshake/>"), ms: Date.now() - started };
    })();
    return { c, answer };
  }

  static async connected(t: TestServer, localAddress = "127.0.0.1"): Promise<RawComponent> {
    const { c, answer } = await RawComponent.handshake(t, SECRET, localAddress);
    expect((await answer).ok).toBe(true);
    return c;
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** Answers every ping the server sent since the last call. */
  answerPings(): number {
    let n = 0;
    for (const m of this.received.matchAll(/<iq [^>]*type="get"[^>]*><ping xmlns="urn:xmpp:ping"\/><\/iq>/g)) {
      const id = /id="([^"]+)"/.exec(m[0])![1]!;
      const from = /from="([^"]+)"/.exec(m[0])![1]!;
      this.write(`<iq type='result' id='${id}' from='${COMPONENT}' to='${from}'/>`);
      n++;
    }
    this.received = this.received.replace(/<iq [^>]*type="get"[^>]*><ping xmlns="urn:xmpp:ping"\/><\/iq>/g, "");
    return n;
  }

  pings(): number {
    return (this.received.match(/<ping xmlns="urn:xmpp:ping"\/>/g) ?? []).length;
  }
}

const command = (id: string) =>
  `<iq type='set' id='${id}' to='${COMPONENT}'><command xmlns='${NS_COMMANDS}' node='${LOGIN_TOKEN_NODE}' action='execute'/></iq>`;
const HEADLINE = `<message type='headline' to='${COMPONENT}'><body>${"h".repeat(200 * 1024)}</body></message>`;
/** No flood loop writes more than this however the server behaves. */
const MAX_FLOOD_ROUNDS = 400;

/** Writes 200 KB headlines until the flooder has had one bounced (its share of the queue is full). */
async function floodUntilBounced(flooder: RawClient): Promise<void> {
  for (let round = 0; !flooder.received.includes("<resource-constraint"); round++) {
    if (round > MAX_FLOOD_ROUNDS) throw new Error("the component's queue never filled");
    flooder.write(HEADLINE.repeat(4));
    await sleep(20);
  }
}

describe("a fair share of a component's queue for each sender (item 3)", () => {
  test("one user's 200 KB headlines fill the queue of a component that does not read: another user's requests still get in", async () => {
    const t = await server({ limits: { maxOutboundBytes: 256 * 1024 } });
    const component = await RawComponent.connected(t);
    component.socket.pause(); // it reads nothing for now
    const mallory = await user(t, "mallory");
    const bob = await user(t, "bob");
    await floodUntilBounced(mallory);
    // The flood goes on while bob asks five times.
    for (let i = 0; i < 5; i++) {
      bob.write(command(`bob-${i}`));
      mallory.write(HEADLINE.repeat(2));
      await sleep(20);
    }
    await sleep(300);
    expect(bob.received).not.toContain("resource-constraint");
    // Once the component reads, every one of bob's requests reaches it.
    component.socket.resume();
    await until(() => [0, 1, 2, 3, 4].every((i) => component.received.includes(`id="bob-${i}"`)), "bob's requests at the component", 30_000);
    expect(bob.received).not.toContain("resource-constraint");
  }, 120_000);

  test("three flooding accounts cannot keep a fourth user out either", async () => {
    const t = await server({ limits: { maxOutboundBytes: 256 * 1024 } });
    const component = await RawComponent.connected(t);
    component.socket.pause();
    const flooders = await Promise.all(["m1", "m2", "m3"].map((local) => user(t, local)));
    const carol = await user(t, "carol");
    await Promise.all(flooders.map((f) => floodUntilBounced(f)));
    for (let i = 0; i < 3; i++) {
      carol.write(command(`carol-${i}`));
      for (const f of flooders) f.write(HEADLINE);
      await sleep(20);
    }
    await sleep(300);
    expect(carol.received).not.toContain("resource-constraint");
    component.socket.resume();
    await until(() => [0, 1, 2].every((i) => component.received.includes(`id="carol-${i}"`)), "carol's requests at the component", 30_000);
  }, 120_000);

  test("the login-token component keeps serving everyone while one user floods it with 200 KB headlines", async () => {
    const t = await server();
    const tokens = startTokens(t, []);
    await tokens.online();
    const mallory = await user(t, "mallory");
    const dave = await user(t, "dave");
    let flooding = true;
    const flood = (async () => {
      for (let round = 0; flooding && round < MAX_FLOOD_ROUNDS; round++) {
        mallory.write(HEADLINE.repeat(8));
        await sleep(5);
      }
    })();
    try {
      await floodUntilBounced(mallory);
      for (let i = 0; i < 5; i++) {
        dave.write(command(`dave-${i}`));
        await dave.waitFor(new RegExp(`id="dave-${i}"`), 30_000);
      }
      expect(dave.received).not.toContain("resource-constraint");
      expect((dave.received.match(/status="completed"/g) ?? []).length).toBe(5);
    } finally {
      flooding = false;
      await flood;
    }
  }, 120_000);
});

function startTokens(t: TestServer, log: string[], options: { refusalLinesPerMinute?: number } = {}): TokenComponent {
  const tokens = startTokenComponent({
    service: `xmpp://127.0.0.1:${t.server.ports.component}`,
    domain: COMPONENT,
    secret: SECRET,
    domains: { [DOMAIN]: { keys: t.keys[DOMAIN]! } },
    reconnect: { minMs: 100, maxMs: 400 },
    log: { info: (m) => log.push(m), warn: (m) => log.push(m) },
    ...options,
  });
  cleanups.push(() => tokens.stop());
  return tokens;
}

/**
 * The server's hold-back (StartOptions.holdBack) as a gate the test opens: each wait is recorded
 * with its seconds, and none ends before open(); after it, they end at once. Which answers wait is
 * then seen without timing anything.
 */
function heldBack(): { waits: number[]; holdBack: (seconds: number) => Promise<void>; open: () => void } {
  const waits: number[] = [];
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { waits, holdBack: (seconds) => (waits.push(seconds), opened), open };
}

describe("handshake attempt limits (item 5)", () => {
  const wrongLines = (t: TestServer) => t.logLines.filter((l) => l.includes("wrong handshake")).length;

  test("past the per-address limit every answer waits; the lines are bounded; the right secret still connects, from another address at once and from the same one", async () => {
    const gate = heldBack();
    const t = await server({
      limits: { maxAuthFailuresPerIpPerMinute: 5, maxAuthFailuresPerJidPerMinute: 1000, maxFailureLinesPerIpPerMinute: 3 },
      start: { holdBack: gate.holdBack },
    });
    // Within the limit: refused at once (the gate is shut: a held-back answer would never come).
    for (let i = 0; i < 5; i++) {
      const { answer } = await RawComponent.handshake(t, `guess-${i}`);
      expect((await answer).ok).toBe(false);
    }
    expect(gate.waits).toEqual([]);
    // Past it, 40 guesses in parallel: each is held back, and not one is answered while it lasts.
    const guesses = await Promise.all(Array.from({ length: 40 }, (_, i) => RawComponent.handshake(t, `guess-more-${i}`)));
    await until(() => gate.waits.length === 40, "the 40 hold-backs");
    expect(gate.waits).toEqual(Array.from({ length: 40 }, () => HANDSHAKE_HOLD_BACK_SECONDS));
    for (const { c } of guesses) expect(c.received).not.toContain("<not-authorized");
    gate.open();
    for (const { ok } of await Promise.all(guesses.map((g) => g.answer))) expect(ok).toBe(false);
    for (const { c } of guesses) expect(c.received).toContain("<not-authorized");
    expect(wrongLines(t)).toBe(3);
    // The real component, from another loopback address: at once (no hold-back).
    const elsewhere = await RawComponent.handshake(t, SECRET, "127.0.0.2");
    expect(await elsewhere.answer).toMatchObject({ ok: true });
    expect(gate.waits).toHaveLength(40);
    elsewhere.c.socket.destroy();
    await until(() => t.logLines.some((l) => l.includes(`component ${COMPONENT} disconnected`)), "the first to leave");
    // And from the address the guesses came from: it waits the hold-back, and is never refused.
    const same = await RawComponent.handshake(t, SECRET, "127.0.0.1");
    expect((await same.answer).ok).toBe(true);
    expect(gate.waits).toHaveLength(41);
    await t.close();
    // One summary line for what was not written one by one.
    expect(t.logLines).toContainEqual(expect.stringContaining("… and 42 more failures from 127.0.0.1 in the last minute"));
    expect(wrongLines(t)).toBe(3);
  }, 60_000);

  test("guesses spread over many addresses: past the per-domain limit every answer waits, and the right secret still connects", async () => {
    const gate = heldBack();
    const t = await server({
      limits: { maxAuthFailuresPerIpPerMinute: 1000, maxAuthFailuresPerJidPerMinute: 5, maxFailureLinesPerIpPerMinute: 1000 },
      start: { holdBack: gate.holdBack },
    });
    // The failure that uses up the domain's count is the first answered late (as for a JID's logins).
    for (let i = 0; i < 4; i++) {
      const { answer } = await RawComponent.handshake(t, `guess-${i}`, `127.0.1.${i + 1}`);
      expect((await answer).ok).toBe(false);
    }
    expect(gate.waits).toEqual([]);
    const late = await Promise.all(Array.from({ length: 10 }, (_, i) => RawComponent.handshake(t, `guess-late-${i}`, `127.0.2.${i + 1}`)));
    await until(() => gate.waits.length === 10, "the 10 hold-backs");
    for (const { c } of late) expect(c.received).not.toContain("<not-authorized");
    gate.open();
    for (const { ok } of await Promise.all(late.map((g) => g.answer))) expect(ok).toBe(false);
    const real = await RawComponent.handshake(t, SECRET, "127.0.3.1");
    expect(await real.answer).toMatchObject({ ok: true });
    expect(gate.waits).toHaveLength(11);
  }, 60_000);
});

describe("dead component streams (keepalive)", () => {
  test("a component that stops reading and answering is replaced by a new connection with the secret", async () => {
    const t = await server({ limits: { authTimeoutSeconds: 4 } }); // a ping gets 2 s
    const old = await RawComponent.connected(t);
    old.socket.pause(); // half-open, as far as the server can tell
    const { c: fresh, answer } = await RawComponent.handshake(t);
    const { ok, ms } = await answer;
    expect(fresh.received).not.toContain("conflict");
    expect(ok).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(t.logLines).toContainEqual(expect.stringContaining(`component ${COMPONENT}: no answer to a ping in 2 s`));
    // Users reach the new one.
    const erin = await user(t, "erin");
    erin.write(command("erin-1"));
    await until(() => fresh.received.includes('id="erin-1"'), "erin's request at the new component");
  }, 30_000);

  test("a silent component is pinged; it stays while it answers, and is closed once it does not (users then get service-unavailable)", async () => {
    const t = await server({ limits: { idleTimeoutSeconds: 1, authTimeoutSeconds: 2 } }); // pinged after 1 s, 1 s to answer
    const c = await RawComponent.connected(t);
    for (let n = 0; n < 3; n++) {
      await until(() => c.pings() > 0, "a ping", 5000);
      expect(c.answerPings()).toBe(1);
    }
    expect(c.closed).toBe(false);
    // It stops answering.
    await until(() => c.received.includes("<connection-timeout"), "the stream error", 5000);
    await until(() => c.closed, "the close", 5000);
    const frank = await user(t, "frank");
    frank.write(command("frank-1"));
    await frank.waitFor(/id="frank-1"[^>]*>.*<service-unavailable/s);
  }, 30_000);

  test("the login-token component answers the pings: it stays online and serves", async () => {
    const t = await server({ limits: { idleTimeoutSeconds: 1, authTimeoutSeconds: 2 } });
    const tokens = startTokens(t, []);
    await tokens.online();
    await sleep(3500);
    expect(tokens.status).toBe("online");
    expect(t.logLines.filter((l) => l.includes("no answer to a ping"))).toEqual([]);
    const gina = await user(t, "gina");
    gina.write(command("gina-1"));
    await gina.waitFor(/id="gina-1"[^>]*>.*status="completed"/s);
  }, 30_000);
});

describe("the login-token component's log (item 6)", () => {
  test("400 refusals in a burst write a bounded number of lines, none longer than the bound or carrying the JID as typed", async () => {
    const t = await server();
    const log: string[] = [];
    const tokens = startTokens(t, log);
    await tokens.online();
    const hank = await user(t, "hank");
    const typed = `  ${"Zq".repeat(400)}@${DOMAIN}  `; // someone else's (long) JID, as typed
    const invalid = `${"Zq".repeat(600)}@@${DOMAIN}`;
    const withJid = (id: string, jid: string) =>
      `<iq type='set' id='${id}' to='${COMPONENT}'><command xmlns='${NS_COMMANDS}' node='${LOGIN_TOKEN_NODE}' action='execute'>` +
      `<x xmlns='jabber:x:data' type='submit'><field var='jid'><value>${jid}</value></field></x></command></iq>`;
    let batch = "";
    for (let i = 0; i < 400; i++) {
      batch += i % 3 === 0 ? withJid(`r${i}`, typed) : i % 3 === 1 ? withJid(`r${i}`, invalid) : command(`r${i}`);
      if (i % 50 === 49) {
        hank.write(batch);
        batch = "";
      }
    }
    await until(() => (hank.received.match(/<iq [^>]*id="r\d+"/g) ?? []).length >= 400, "400 answers", 60_000);
    const minted = (hank.received.match(/status="completed"/g) ?? []).length;
    expect(minted).toBe(10); // the rate limit
    await tokens.stop();
    const refusals = log.filter((l) => l.includes("refused a login token"));
    const mints = log.filter((l) => l.includes("minted"));
    expect(mints).toHaveLength(10);
    // 10 lines for the requester in the minute, then one summary of the rest.
    expect(refusals).toHaveLength(10);
    expect(log).toContainEqual(expect.stringContaining(`… and 380 more failures from hank@${DOMAIN} in the last minute`));
    expect(log.length).toBeLessThanOrEqual(10 + 10 + 1 + 5);
    for (const line of log) {
      expect(line.length).toBeLessThanOrEqual(3 * MAX_LOGGED_JID_CHARS + 200);
      expect(line).not.toContain("Zq");
      expect(line).not.toContain("zq".repeat(MAX_LOGGED_JID_CHARS));
    }
    expect(refusals.some((l) => l.includes(`for ${"zq".repeat(MAX_LOGGED_JID_CHARS / 2)}…(${800 + 1 + DOMAIN.length} characters): forbidden`))).toBe(true);
  }, 120_000);
});
