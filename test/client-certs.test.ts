/**
 * SASL EXTERNAL with registered client certificates (XEP-0178) and their management (XEP-0257,
 * the ad-hoc command, library calls), on real TLS sockets (STARTTLS and direct TLS) with
 * certificates made by the openssl CLI. Attacks: a huge certificate, two accounts in one
 * certificate, malformed DER, the same certificate twice, someone else's certificate or form.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { startTestServer, loginRaw, streamHeader, DOMAIN, type TestServer } from "./helpers/server.js";
import { removeTempDirs, tempDir } from "./helpers/temp.js";
import { externalAuth, externalOutcome, iq, makeClientCertificate, restartAndBind, tlsStream, type ClientIdentity } from "./helpers/client-certs.js";
import { registerClientCertificate, revokeClientCertificate, listClientCertificates, ClientCertError, parseCertificate, CertificateError, certificateDer } from "../src/auth/index.js";
import { memoryStorage } from "../src/core/records/storage.js";
import { MAX_CLIENT_CERTIFICATES_PER_ACCOUNT } from "../src/core/records/index.js";

const NS = "urn:xmpp:saslcert:1";
const ALICE = `alice@${DOMAIN}`;

let t: TestServer;
let dir: string;

beforeAll(async () => {
  dir = tempDir("x-token-certs-");
  t = await startTestServer({ directTls: true });
});
afterAll(async () => {
  await t.close();
  removeTempDirs();
});

const append = (name: string, der: Buffer, extra = "") => `<append xmlns='${NS}'><name>${name}</name><x509cert>${der.toString("base64")}</x509cert>${extra}</append>`;
const errorCondition = (answer: string) => /<error[^>]*>\s*<([a-z-]+)/.exec(answer)?.[1] ?? `(no error: ${answer})`;

describe("EXTERNAL is offered only for a registered certificate", () => {
  test("no certificate, or an unregistered one: not offered, and refused when tried", async () => {
    const none = await tlsStream(t, null);
    expect(none.mechanisms).toEqual(expect.arrayContaining(["X-TOKEN", "PLAIN"]));
    expect(none.mechanisms).not.toContain("EXTERNAL");
    expect(await externalOutcome(none.client)).toBe("invalid-mechanism");
    none.client.destroy();

    const stranger = makeClientCertificate(dir, [ALICE]);
    const unregistered = await tlsStream(t, stranger);
    expect(unregistered.mechanisms).not.toContain("EXTERNAL");
    expect(await externalOutcome(unregistered.client)).toBe("invalid-mechanism");
    unregistered.client.destroy();
  });
});

describe("XEP-0257 by a logged-in user, then EXTERNAL with the certificate", () => {
  let laptop: ClientIdentity;

  test("append, then items lists it; EXTERNAL logs in over STARTTLS and direct TLS; the session shows in users", async () => {
    laptop = makeClientCertificate(dir, [ALICE]);
    const { client } = await loginRaw(t, "alice");
    expect(await iq(client, "set", append("laptop", laptop.der))).toMatch(/type="result"/);
    const listed = await iq(client, "get", `<items xmlns='${NS}'/>`);
    expect(listed).toContain("<name>laptop</name>");
    expect(listed).toContain(`<x509cert>${laptop.der.toString("base64")}</x509cert>`);
    expect(listed).toContain("<users/>");
    // disco#info on the account lists the feature.
    expect(await iq(client, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", ALICE)).toContain(`var="${NS}"`);

    const tcp = await tlsStream(t, laptop);
    expect(tcp.mechanisms).toContain("EXTERNAL");
    expect(await externalOutcome(tcp.client)).toBe("success");
    expect(await restartAndBind(tcp.client, "desk")).toBe(`${ALICE}/desk`);
    expect(t.logLines).toContain(`info authenticated ${ALICE} from 127.0.0.1 via EXTERNAL over tcp`);
    expect(await iq(client, "get", `<items xmlns='${NS}'/>`)).toContain("<users><resource>desk</resource></users>");

    const direct = await tlsStream(t, laptop, { direct: true });
    expect(direct.mechanisms).toContain("EXTERNAL");
    // No initial response: an empty challenge, then the (empty) authzid.
    direct.client.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'/>");
    await direct.client.waitFor(/<challenge[^>]*\/>|<challenge[^>]*><\/challenge>/);
    direct.client.clear();
    direct.client.write("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>");
    await direct.client.waitFor("<success");
    for (const c of [client, tcp.client, direct.client]) c.destroy();
  });

  test("authzid: the account itself is accepted; another account, a full JID or garbage is invalid-authzid", async () => {
    for (const [authzid, expected] of [
      [ALICE, "success"],
      ["Alice@Example.TEST", "success"],
      [`bob@${DOMAIN}`, "invalid-authzid"],
      [`${ALICE}/res`, "invalid-authzid"],
      [`alice@other.test`, "invalid-authzid"],
      ["\u0000alice", "invalid-authzid"],
    ] as const) {
      const { client } = await tlsStream(t, laptop);
      expect([authzid, await externalOutcome(client, authzid)]).toEqual([authzid, expected]);
      client.destroy();
    }
    expect(t.logLines.some((l) => l.startsWith(`warn authentication failed for ${ALICE} from 127.0.0.1: invalid-authzid`))).toBe(true);
  });

  test("a direct-TLS session resumed from its ticket still carries the certificate (reconnects keep EXTERNAL)", async () => {
    let ticket: Buffer | undefined;
    const seen: [boolean, string][] = [];
    for (let i = 0; i < 2; i++) {
      const socket = tls.connect({ port: t.server.ports.directTls!, host: "127.0.0.1", ca: [t.caCert], servername: DOMAIN, cert: laptop.cert, key: laptop.key, ...(ticket ? { session: ticket } : {}) });
      socket.on("session", (b: Buffer) => (ticket = b));
      await new Promise((resolve) => socket.once("secureConnect", resolve));
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString()));
      socket.write(streamHeader());
      socket.write(externalAuth(""));
      await new Promise<void>((resolve) => {
        const check = () => (/<success|<\/failure>/.test(text) ? resolve() : setTimeout(check, 20));
        check();
      });
      seen.push([socket.isSessionReused(), /<success/.test(text) ? "success" : text]);
      socket.destroy();
    }
    expect(seen).toEqual([
      [false, "success"],
      [true, "success"],
    ]);
  });

  test("the stream's domain must be the account's: not offered on another hosted domain", async () => {
    const { client, mechanisms } = await tlsStream(t, laptop, { domain: "other.test" });
    expect(mechanisms).not.toContain("EXTERNAL");
    client.destroy();
  });

  test("disable: no further logins; it stays listed; revoke: gone, and its live session is closed", async () => {
    const kiosk = makeClientCertificate(dir, [ALICE]);
    const { client } = await loginRaw(t, "alice");
    expect(await iq(client, "set", append("kiosk", kiosk.der))).toMatch(/type="result"/);
    const live = await tlsStream(t, kiosk);
    expect(await externalOutcome(live.client)).toBe("success");
    await restartAndBind(live.client, "kiosk");

    expect(await iq(client, "set", `<disable xmlns='${NS}'><name>kiosk</name></disable>`)).toMatch(/type="result"/);
    const afterDisable = await tlsStream(t, kiosk);
    expect(afterDisable.mechanisms).not.toContain("EXTERNAL");
    expect(await externalOutcome(afterDisable.client)).toBe("invalid-mechanism");
    afterDisable.client.destroy();
    expect(await iq(client, "get", `<items xmlns='${NS}'/>`)).toContain("<name>kiosk</name>");
    expect(live.client.closed).toBe(false);

    expect(await iq(client, "set", `<revoke xmlns='${NS}'><name>kiosk</name></revoke>`)).toMatch(/type="result"/);
    await live.client.waitForClose();
    expect(live.client.received).toContain("<not-authorized");
    expect(live.client.received).toContain("the client certificate this session logged in with was revoked");
    expect(await iq(client, "get", `<items xmlns='${NS}'/>`)).not.toContain("<name>kiosk</name>");
    const afterRevoke = await tlsStream(t, kiosk);
    expect(afterRevoke.mechanisms).not.toContain("EXTERNAL");
    afterRevoke.client.destroy();
    expect(t.logLines.some((l) => l.includes('client certificate "kiosk"') && l.includes("revoked by") && l.includes("1 session(s)"))).toBe(true);
    expect(await iq(client, "set", `<revoke xmlns='${NS}'><name>kiosk</name></revoke>`)).toContain("<item-not-found");
    client.destroy();
  });

  test("a no-cert-management certificate logs in but its sessions cannot manage certificates", async () => {
    const bot = makeClientCertificate(dir, []);
    const { client } = await loginRaw(t, "alice");
    expect(await iq(client, "set", append("bot", bot.der, "<no-cert-management/>"))).toMatch(/type="result"/);
    const session = await tlsStream(t, bot);
    expect(await externalOutcome(session.client)).toBe("success");
    await restartAndBind(session.client);
    for (const payload of [`<items xmlns='${NS}'/>`]) expect(errorCondition(await iq(session.client, "get", payload))).toBe("forbidden");
    const other = makeClientCertificate(dir, []);
    expect(errorCondition(await iq(session.client, "set", append("more", other.der)))).toBe("forbidden");
    expect(errorCondition(await iq(session.client, "set", `<revoke xmlns='${NS}'><name>laptop</name></revoke>`))).toBe("forbidden");
    expect(errorCondition(await iq(session.client, "set", `<command xmlns='http://jabber.org/protocol/commands' node='urn:x-token:client-certificates' action='execute'/>`))).toBe("forbidden");
    expect(listClientCertificates(t.server.storage.clientCerts, ALICE).map((c) => c.name)).toContain("laptop");
    // A session that logged in with a certificate that may manage them can.
    const laptopSession = await tlsStream(t, laptop);
    expect(await externalOutcome(laptopSession.client)).toBe("success");
    await restartAndBind(laptopSession.client);
    expect(await iq(laptopSession.client, "get", `<items xmlns='${NS}'/>`)).toContain("<name>bot</name>");
    for (const c of [client, session.client, laptopSession.client]) c.destroy();
  });

  test("a full JID in the certificate fixes the resource", async () => {
    const fixed = makeClientCertificate(dir, [`${ALICE}/kiosk-1`]);
    registerClientCertificate(t.server.storage.clientCerts, { account: ALICE, name: "fixed", certificate: Buffer.from(fixed.cert) });
    const first = await tlsStream(t, fixed);
    expect(await externalOutcome(first.client)).toBe("success");
    expect(await restartAndBind(first.client, "something-else")).toBe(`${ALICE}/kiosk-1`);
    // The resource is never renamed: a second session with it gets conflict.
    const second = await tlsStream(t, fixed);
    expect(await externalOutcome(second.client)).toBe("success");
    await expect(restartAndBind(second.client)).rejects.toThrow(/conflict/);
    first.client.destroy();
    second.client.destroy();
  });
});

describe("SASL2 (XEP-0388)", () => {
  const SASL2 = "urn:xmpp:sasl:2";
  const authenticate = (extra: string) =>
    `<authenticate xmlns='${SASL2}' mechanism='EXTERNAL'><initial-response>=</initial-response><user-agent id='agent-cert'><software>raw</software></user-agent>${extra}</authenticate>`;

  test("EXTERNAL is offered in SASL2 with a registered certificate; Bind 2 follows a fixed resource; no FAST token; revoke closes it", async () => {
    const plain = await tlsStream(t, null);
    plain.client.write(authenticate(""));
    expect(await plain.client.waitFor("</failure>")).toContain("<invalid-mechanism");
    plain.client.destroy();

    const cert = makeClientCertificate(dir, [`${ALICE}/kiosk-2`]);
    registerClientCertificate(t.server.storage.clientCerts, { account: ALICE, name: "sasl2", certificate: cert.der });
    const fresh = await tlsStream(t, cert);
    expect(fresh.features).toMatch(/<authentication xmlns="urn:xmpp:sasl:2">.*<mechanism>EXTERNAL<\/mechanism>/);
    fresh.client.write(authenticate(`<bind xmlns='urn:xmpp:bind:0'><tag>Phone</tag></bind><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`));
    const text = await fresh.client.waitFor(/<stream:features[^>]*\/>|<\/stream:features>/);
    const success = /<success[\s\S]*<\/success>/.exec(text)![0];
    expect(success).toContain(`<authorization-identifier>${ALICE}/kiosk-2</authorization-identifier><bound xmlns="urn:xmpp:bind:0"/>`);
    expect(success).not.toContain("<token");
    expect(t.logLines).toContain(`info authenticated ${ALICE} from 127.0.0.1 via EXTERNAL over tcp (SASL2)`);
    const revoked = revokeClientCertificate(t.server.storage.clientCerts, ALICE, "sasl2");
    expect(t.server.endCertificateSessions(revoked.fingerprint)).toBe(1);
    await fresh.client.waitForClose();
  });
});

describe("validity: refused outside notBefore..notAfter (the server's clock)", () => {
  test("not yet valid, valid, expired", async () => {
    const cert = makeClientCertificate(dir, [ALICE], { days: 1 });
    const { notBefore, notAfter } = parseCertificate(cert.der);
    for (const [now, offered] of [
      [notBefore - 60, false],
      [notBefore + 60, true],
      [notAfter + 60, false],
    ] as const) {
      const storage = memoryStorage();
      registerClientCertificate(storage.clientCerts, { account: ALICE, name: "day", certificate: cert.der });
      const server = await startTestServer({ storage, start: { now: () => now } });
      const { client, mechanisms } = await tlsStream(server, cert);
      expect([now - notBefore, mechanisms.includes("EXTERNAL")]).toEqual([now - notBefore, offered]);
      expect(await externalOutcome(client)).toBe(offered ? "success" : "invalid-mechanism");
      client.destroy();
      await server.close();
    }
  });

  test("an account disabled in the configuration is refused as for every other mechanism", async () => {
    const cert = makeClientCertificate(dir, []);
    const storage = memoryStorage();
    registerClientCertificate(storage.clientCerts, { account: `carol@${DOMAIN}`, name: "c", certificate: cert.der });
    const server = await startTestServer({ storage, disabledUsers: ["carol"] });
    const { client } = await tlsStream(server, cert);
    expect(await externalOutcome(client)).toBe("account-disabled");
    client.destroy();
    await server.close();
  });
});

describe("attacks on management", () => {
  test("a huge certificate is refused", async () => {
    const huge = makeClientCertificate(dir, [ALICE], { dns: 400 });
    expect(huge.der.length).toBeGreaterThan(16 * 1024);
    const { client } = await loginRaw(t, "alice");
    const answer = await iq(client, "set", append("huge", huge.der));
    expect(errorCondition(answer)).toBe("bad-request");
    expect(answer).toContain("larger than 16384 bytes");
    client.destroy();
  });

  test("a certificate naming two accounts, or another account, is refused", async () => {
    const { client } = await loginRaw(t, "alice");
    for (const addrs of [[ALICE, `bob@${DOMAIN}`], [`bob@${DOMAIN}`], [`bob@${DOMAIN}/res`], ["not a jid@"]]) {
      const cert = makeClientCertificate(dir, addrs);
      const answer = await iq(client, "set", append("two", cert.der));
      expect([addrs, errorCondition(answer)]).toEqual([addrs, "bad-request"]);
    }
    expect(listClientCertificates(t.server.storage.clientCerts, ALICE).map((c) => c.name)).not.toContain("two");
    client.destroy();
  });

  test("malformed DER, bad base64, a missing name: bad-request, nothing stored", async () => {
    const good = makeClientCertificate(dir, []).der;
    const { client } = await loginRaw(t, "alice");
    const before = listClientCertificates(t.server.storage.clientCerts, ALICE).length;
    const cases = [
      Buffer.from("not a certificate"),
      good.subarray(0, good.length - 1),
      Buffer.concat([good, Buffer.from([0])]),
      // The outer length in a longer form than needed (BER, not DER).
      Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), good.subarray(2)]),
      Buffer.from([0x30, 0x80, 0x00, 0x00]),
      Buffer.alloc(0),
    ];
    for (const der of cases) expect(errorCondition(await iq(client, "set", append("bad", der)))).toBe("bad-request");
    expect(errorCondition(await iq(client, "set", `<append xmlns='${NS}'><name>bad</name><x509cert>!!!</x509cert></append>`))).toBe("bad-request");
    expect(errorCondition(await iq(client, "set", `<append xmlns='${NS}'><x509cert>${good.toString("base64")}</x509cert></append>`))).toBe("bad-request");
    expect(errorCondition(await iq(client, "set", append("", good)))).toBe("bad-request");
    expect(listClientCertificates(t.server.storage.clientCerts, ALICE).length).toBe(before);
    client.destroy();
  });

  test("the same certificate twice, or registered to another account: conflict; a name taken: conflict", async () => {
    const cert = makeClientCertificate(dir, []);
    const alice = await loginRaw(t, "alice");
    const bob = await loginRaw(t, "bob");
    expect(await iq(alice.client, "set", append("phone", cert.der))).toMatch(/type="result"/);
    expect(errorCondition(await iq(alice.client, "set", append("phone-again", cert.der)))).toBe("conflict");
    const elsewhere = await iq(bob.client, "set", append("stolen", cert.der));
    expect(errorCondition(elsewhere)).toBe("conflict");
    expect(elsewhere).toContain("registered to another account");
    expect(errorCondition(await iq(alice.client, "set", append("phone", makeClientCertificate(dir, []).der)))).toBe("conflict");
    // Bob cannot disable or revoke Alice's by name: his own account has none of that name.
    expect(errorCondition(await iq(bob.client, "set", `<revoke xmlns='${NS}'><name>phone</name></revoke>`))).toBe("item-not-found");
    expect(listClientCertificates(t.server.storage.clientCerts, ALICE).map((c) => c.name)).toContain("phone");
    // The certificate logs in Alice, never Bob.
    const { client } = await tlsStream(t, cert);
    expect(await externalOutcome(client, `bob@${DOMAIN}`)).toBe("invalid-authzid");
    client.destroy();
    alice.client.destroy();
    bob.client.destroy();
  });

  test(`at most ${MAX_CLIENT_CERTIFICATES_PER_ACCOUNT} certificates per account`, async () => {
    const { client } = await loginRaw(t, "dave");
    for (let i = 0; i < MAX_CLIENT_CERTIFICATES_PER_ACCOUNT; i++) {
      expect(await iq(client, "set", append(`d${i}`, makeClientCertificate(dir, []).der))).toMatch(/type="result"/);
    }
    const answer = await iq(client, "set", append("one-more", makeClientCertificate(dir, []).der));
    expect(errorCondition(answer)).toBe("not-allowed");
    expect(answer).toContain("revoke one first");
    client.destroy();
  });
});

describe("the ad-hoc command (XEP-0050)", () => {
  const COMMANDS = "http://jabber.org/protocol/commands";
  const NODE = "urn:x-token:client-certificates";
  const submit = (sessionid: string, fields: Record<string, string | string[]>) =>
    `<command xmlns='${COMMANDS}' node='${NODE}' sessionid='${sessionid}' action='complete'><x xmlns='jabber:x:data' type='submit'>${Object.entries(fields)
      .map(([k, v]) => `<field var='${k}'>${(Array.isArray(v) ? v : [v]).map((x) => `<value>${x}</value>`).join("")}</field>`)
      .join("")}</x></command>`;
  const sessionOf = (answer: string) => /sessionid="([0-9a-f]+)"/.exec(answer)![1]!;

  test("listed under the server's commands; add (PEM lines), list, revoke", async () => {
    const { client } = await loginRaw(t, "erin");
    const items = await iq(client, "get", `<query xmlns='http://jabber.org/protocol/disco#items' node='${COMMANDS}'/>`, DOMAIN);
    expect(items).toContain(`node="${NODE}"`);
    const form = await iq(client, "set", `<command xmlns='${COMMANDS}' node='${NODE}' action='execute'/>`, DOMAIN);
    expect(form).toContain('status="executing"');
    const cert = makeClientCertificate(dir, [`erin@${DOMAIN}`]);
    const added = await iq(client, "set", submit(sessionOf(form), { action: "add", name: "tablet", certificate: cert.cert.trim().split("\n") }), DOMAIN);
    expect(added).toContain('status="completed"');
    expect(added).toMatch(/Added (&quot;|")tablet/);
    expect(added).toContain(`tablet: SHA-256 ${parseCertificate(cert.der).fingerprint}`);
    const session = await tlsStream(t, cert);
    expect(await externalOutcome(session.client)).toBe("success");
    await restartAndBind(session.client);

    const again = await iq(client, "set", `<command xmlns='${COMMANDS}' node='${NODE}' action='execute'/>`, DOMAIN);
    const revoked = await iq(client, "set", submit(sessionOf(again), { action: "revoke", name: "tablet" }), DOMAIN);
    expect(revoked).toContain("1 session(s) that logged in with it closed");
    await session.client.waitForClose();
    client.destroy();
  });

  test("another user's form is refused (bad-sessionid), and nobody acts on someone else's account", async () => {
    const erin = await loginRaw(t, "erin");
    const mallory = await loginRaw(t, "mallory");
    const cert = makeClientCertificate(dir, []);
    registerClientCertificate(t.server.storage.clientCerts, { account: `erin@${DOMAIN}`, name: "watch", certificate: cert.der });
    const form = await iq(erin.client, "set", `<command xmlns='${COMMANDS}' node='${NODE}' action='execute'/>`, DOMAIN);
    const stolen = await iq(mallory.client, "set", submit(sessionOf(form), { action: "revoke", name: "watch" }), DOMAIN);
    expect(stolen).toContain("bad-sessionid");
    // Mallory's own form acts on Mallory's account only.
    const own = await iq(mallory.client, "set", `<command xmlns='${COMMANDS}' node='${NODE}' action='execute'/>`, DOMAIN);
    expect(errorCondition(await iq(mallory.client, "set", submit(sessionOf(own), { action: "revoke", name: "watch" }), DOMAIN))).toBe("item-not-found");
    expect(listClientCertificates(t.server.storage.clientCerts, `erin@${DOMAIN}`).map((c) => c.name)).toContain("watch");
    // Erin's form still works for Erin (the stolen attempt did not use it up).
    const listed = await iq(erin.client, "set", submit(sessionOf(form), { action: "list" }), DOMAIN);
    expect(listed).toContain("watch: SHA-256");
    erin.client.destroy();
    mallory.client.destroy();
  });
});

describe("library calls", () => {
  test("register, list, revoke with the same rules; the server ends the sessions on request", async () => {
    const cert = makeClientCertificate(dir, [`frank@${DOMAIN}`]);
    const records = t.server.storage.clientCerts;
    const added = registerClientCertificate(records, { account: `frank@${DOMAIN}`, name: "cli", certificate: Buffer.from(cert.cert) });
    expect(added.fingerprint).toBe(parseCertificate(cert.der).fingerprint);
    expect(() => registerClientCertificate(records, { account: `grace@${DOMAIN}`, name: "x", certificate: cert.der })).toThrow(ClientCertError);
    const { client } = await tlsStream(t, cert);
    expect(await externalOutcome(client)).toBe("success");
    await restartAndBind(client);
    const revoked = revokeClientCertificate(records, `frank@${DOMAIN}`, "cli");
    expect(t.server.endCertificateSessions(revoked.fingerprint)).toBe(1);
    await client.waitForClose();
  });

  test("PEM with a private key, or two certificates, is refused; DER and PEM give the same bytes", () => {
    const cert = makeClientCertificate(dir, []);
    expect(certificateDer(Buffer.from(cert.cert))).toEqual(cert.der);
    expect(certificateDer(cert.der)).toEqual(cert.der);
    expect(() => certificateDer(Buffer.from(cert.cert + cert.key))).toThrow(/private key/);
    expect(() => certificateDer(Buffer.from(cert.cert + cert.cert))).toThrow(/more than one/);
    expect(() => parseCertificate(Buffer.alloc(20_000, 0x30))).toThrow(CertificateError);
  });
});

describe("reading a certificate: one strict reading of the DER", () => {
  /** A certificate from an openssl config body (its [v3] section's extra lines). */
  function certWith(extensions: string[]): Buffer {
    const cnf = join(dir, `crafted-${Math.random().toString(16).slice(2)}.cnf`);
    writeFileSync(cnf, ["[req]", "prompt = no", "distinguished_name = dn", "x509_extensions = v3", "[dn]", "commonName = crafted", "[v3]", ...extensions, ""].join("\n"));
    const pem = execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-days", "2", "-config", cnf], { stdio: ["ignore", "pipe", "pipe"] });
    return certificateDer(pem);
  }
  const replaceOnce = (der: Buffer, from: Buffer, to: Buffer) => {
    const at = der.indexOf(from);
    expect(at).toBeGreaterThan(0);
    expect(der.indexOf(from, at + 1)).toBe(-1);
    const out = Buffer.from(der);
    to.copy(out, at);
    return out;
  };

  test("JIDs in order; other kinds of names ignored; a JID with a comma read as one value", () => {
    const der = certWith(["subjectAltName = @san", "[san]", "DNS.0 = a.example", "otherName.0 = 1.3.6.1.5.5.7.8.5;UTF8:alice@example.test", "email.0 = x@y.z", "otherName.1 = 1.3.6.1.5.5.7.8.5;UTF8:a\\, DNS:evil@x"]);
    expect(parseCertificate(der).xmppAddrs).toEqual(["alice@example.test", "a, DNS:evil@x"]);
    expect(() => allowed(der)).toThrow(ClientCertError);
  });
  const allowed = (der: Buffer) => registerClientCertificate(memoryStorage().clientCerts, { account: ALICE, name: "x", certificate: der });

  test("an xmppAddr that is not a UTF8String, or not valid UTF-8, is refused", () => {
    expect(() => parseCertificate(certWith(["subjectAltName = otherName:1.3.6.1.5.5.7.8.5;IA5STRING:alice@example.test"]))).toThrow(/xmppAddr: must be one UTF8String/);
    const good = certWith(["subjectAltName = otherName:1.3.6.1.5.5.7.8.5;UTF8:alice@example.test"]);
    expect(parseCertificate(good).xmppAddrs).toEqual([ALICE]);
    const broken = replaceOnce(good, Buffer.from("alice@"), Buffer.from([0xff, 0x6c, 0x69, 0x63, 0x65, 0x40]));
    expect(() => parseCertificate(broken)).toThrow(/not valid UTF-8/);
  });

  test("two subjectAltName extensions are refused (two answers to whose certificate it is)", () => {
    const der = certWith(["subjectAltName = otherName:1.3.6.1.5.5.7.8.5;UTF8:alice@example.test", "issuerAltName = otherName:1.3.6.1.5.5.7.8.5;UTF8:bob@example.test"]);
    expect(parseCertificate(der).xmppAddrs).toEqual([ALICE]);
    // issuerAltName (2.5.29.18) renamed subjectAltName (2.5.29.17): OpenSSL still reads it.
    const twice = replaceOnce(der, Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x12]), Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]));
    expect(() => parseCertificate(twice)).toThrow(/two subjectAltName extensions/);
  });

  test("no subjectAltName: no JIDs, any resource; validity read from the DER", () => {
    const der = certWith([]);
    const parsed = parseCertificate(der);
    expect(parsed.xmppAddrs).toEqual([]);
    expect(parsed.notAfter - parsed.notBefore).toBe(2 * 86400);
    expect(Math.abs(parsed.notBefore - Date.now() / 1000)).toBeLessThan(3600);
  });
});
