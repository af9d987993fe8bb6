/** The SASL exchange with the real registry, authority and login limiter, from several addresses (no sockets needed). */
import { describe, expect, test } from "@jest/globals";
import type { Element } from "@xmpp/xml";
import { xml } from "@xmpp/xml";
import { TokenAuthority } from "../src/auth/authority.js";
import { LoginLimiter } from "../src/auth/policy/login-limiter.js";
import { createXTokenSasl } from "../src/auth/sasl/index.js";
import { mintToken } from "../src/core/token/mint.js";
import { SaslExchange } from "../src/server/sasl-exchange.js";
import { StrictXmlParser } from "../src/server/transport/strict-xml.js";

const KEY = { tokenSecret: "exchange-test-secret", otpSeed: "XVGR73KMZH2M4XMY" };
const DOMAIN = "example.test";
const SASL = "urn:ietf:params:xml:ns:xmpp-sasl";

function setup(limits: { ip: number; jid: number }) {
  const now = () => 1_700_000_000;
  const authority = new TokenAuthority({ domains: { [DOMAIN]: { keys: [KEY] } }, now });
  const policy = new LoginLimiter({
    limits: { maxAuthFailuresPerConnection: 100, maxAuthFailuresPerIpPerMinute: limits.ip, maxAuthFailuresPerJidPerMinute: limits.jid },
    holdBackSeconds: 0,
  });
  const lines: string[] = [];
  const services = { sasl: createXTokenSasl({ authority }), policy, log: { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) } };
  const from = (ip: string) => {
    const sent: Element[] = [];
    const exchange = new SaslExchange(
      { kind: "tcp", remoteAddress: ip, closed: false, context: () => ({ domain: DOMAIN, secure: true, remoteAddress: ip }), send: (e) => sent.push(typeof e === "string" ? new StrictXmlParser("messages").parseElement(e) : e) },
      services,
    );
    return {
      async auth(user: string, token: string): Promise<string> {
        sent.length = 0;
        await exchange.handle(xml("auth", { xmlns: SASL, mechanism: "X-TOKEN" }, Buffer.from(`\0${user}\0${token}`).toString("base64")));
        const answer = sent.at(-1)!;
        return answer.name === "failure" ? (answer.children[0] as Element).name : answer.name;
      },
    };
  };
  const mint = (user: string) => mintToken({ jid: `${user}@${DOMAIN}`, key: KEY, now: now() });
  return { from, mint, lines };
}

describe("SASL exchange and login policy (issue 7 #5)", () => {
  test("attempts the per-IP limit refused do not count against the JID", async () => {
    const { from, mint, lines } = setup({ ip: 2, jid: 2 });
    const attacker = from("192.0.2.1");
    expect(await attacker.auth("mallory", "garbage")).toBe("malformed-request");
    expect(await attacker.auth("mallory", "garbage")).toBe("malformed-request");
    // The address is used up: every further attempt is refused before any check, bob's good token included.
    for (let i = 0; i < 5; i++) expect(await attacker.auth("bob", mint("someone-else"))).toBe("temporary-auth-failure");
    expect(await attacker.auth("bob", mint("bob"))).toBe("temporary-auth-failure");
    // None of that counted against bob: one refused check from elsewhere is not over his limit of 2...
    const elsewhere = from("198.51.100.7");
    expect(await elsewhere.auth("bob", mint("someone-else"))).toBe("not-authorized");
    expect(lines.at(-1)).toBe("authentication failed for bob@example.test from 198.51.100.7: bad-signature");
    // ...and his own token logs him in.
    expect(await from("203.0.113.9").auth("bob", mint("bob"))).toBe("success");
  });

  test("a JID over its limit gets its failures marked for fail2ban, and its good token still succeeds", async () => {
    const { from, mint, lines } = setup({ ip: 1000, jid: 2 });
    for (let i = 0; i < 3; i++) expect(await from(`192.0.2.${i}`).auth("bob", mint("someone-else"))).toBe("not-authorized");
    expect(lines.at(-1)).toBe("authentication failed for bob@example.test from 192.0.2.2: bad-signature (the JID is over its failure limit)");
    expect(await from("192.0.2.50").auth("bob", mint("bob"))).toBe("success");
  });
});
