/** Client certificates made with the openssl CLI for the SASL EXTERNAL tests, and raw logins presenting them. */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RawClient, streamHeader, DOMAIN, type TestServer } from "./server.js";

export interface ClientIdentity {
  cert: string;
  key: string;
  /** The certificate's DER bytes. */
  der: Buffer;
  certPath: string;
  keyPath: string;
}

let made = 0;

/**
 * A self-signed client certificate (P-256, so it takes milliseconds) with these id-on-xmppAddr
 * JIDs (none: no subjectAltName), valid for `days` from now, in `dir`. `dns`: that many extra
 * DNS names (a huge certificate).
 */
export function makeClientCertificate(dir: string, xmppAddrs: string[], { days = 30, dns = 0 }: { days?: number; dns?: number } = {}): ClientIdentity {
  const name = `client-${++made}`;
  const names = [
    ...xmppAddrs.map((jid, i) => `otherName.${i} = 1.3.6.1.5.5.7.8.5;FORMAT:UTF8,UTF8:${jid}`),
    ...Array.from({ length: dns }, (_, i) => `DNS.${i} = host-${i}-${"x".repeat(40)}.example`),
  ];
  const config = [
    "[req]",
    "prompt = no",
    "distinguished_name = dn",
    "x509_extensions = v3",
    "[dn]",
    `commonName = ${name}`,
    "[v3]",
    "extendedKeyUsage = clientAuth",
    "keyUsage = digitalSignature",
    "basicConstraints = CA:FALSE",
    ...(names.length > 0 ? ["subjectAltName = @san", "[san]", ...names] : []),
    "",
  ].join("\n");
  const cnf = join(dir, `${name}.cnf`);
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  writeFileSync(cnf, config);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", String(days), "-config", cnf], { stdio: "pipe" });
  const der = execFileSync("openssl", ["x509", "-in", certPath, "-outform", "DER"]);
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), der, certPath, keyPath };
}

const MECHANISMS = /<mechanisms[^>]*>(.*?)<\/mechanisms>/;

/** The mechanisms of the last features received. */
export function offeredMechanisms(text: string): string[] {
  const list = MECHANISMS.exec(text)?.[1] ?? "";
  return [...list.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]!);
}

/**
 * A TLS stream (STARTTLS, or direct TLS with `direct`) presenting `identity` (or none), up to
 * the features after TLS: the client, and the mechanisms offered.
 */
/** A server to reach: a TestServer, or the ports of a `x-token serve` process and its certificate. */
export type TlsTarget = Pick<TestServer, "caCert"> & { server: { ports: { c2s: number | null; directTls: number | null } } };

export async function tlsStream(t: TlsTarget, identity: ClientIdentity | null, { direct = false, domain = DOMAIN }: { direct?: boolean; domain?: string } = {}): Promise<{ client: RawClient; mechanisms: string[]; features: string }> {
  const pair = identity ? { cert: identity.cert, key: identity.key } : undefined;
  let client: RawClient;
  if (direct) {
    client = await RawClient.connectTls(t.server.ports.directTls!, t.caCert, domain, pair);
  } else {
    client = await RawClient.connect(t.server.ports.c2s!);
    client.write(streamHeader(domain));
    await client.waitFor("</stream:features>");
    client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await client.waitFor("<proceed");
    await client.startTls(t.caCert, domain, pair);
  }
  client.clear();
  client.write(streamHeader(domain));
  const features = await client.waitFor("</stream:features>");
  client.clear();
  return { client, mechanisms: offeredMechanisms(features), features };
}

/** `<auth mechanism='EXTERNAL'>`: the authzid's base64, `=` for an empty one, nothing for no initial response. */
export function externalAuth(authzid: string | null = ""): string {
  const text = authzid === null ? "" : authzid === "" ? "=" : Buffer.from(authzid).toString("base64");
  return `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>${text}</auth>`;
}

/** Sends an EXTERNAL `<auth/>` and returns "success" or the failure condition. */
export async function externalOutcome(client: RawClient, authzid: string | null = ""): Promise<string> {
  client.write(externalAuth(authzid));
  const text = await client.waitFor(/<success[^>]*\/>|<failure[^>]*>\s*<[a-z-]+/);
  client.clear();
  return /<success/.test(text) ? "success" : /<failure[^>]*>\s*<([a-z-]+)/.exec(text)![1]!;
}

/** After `<success/>`: restart and bind (asking for `resource`); the full JID bound. */
export async function restartAndBind(client: RawClient, resource?: string, domain = DOMAIN): Promise<string> {
  client.write(streamHeader(domain));
  await client.waitFor("</stream:features>");
  client.clear();
  const ask = resource === undefined ? "" : `<resource>${resource}</resource>`;
  client.write(`<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${ask}</bind></iq>`);
  const text = await client.waitFor(/<jid>[^<]+<\/jid>|type="error"/);
  client.clear();
  const jid = /<jid>([^<]+)<\/jid>/.exec(text)?.[1];
  if (!jid) throw new Error(`bind failed: ${text}`);
  return jid;
}

let iqs = 0;

/** Sends an IQ (`payload` inside) and waits for its answer: the answer's text. */
export async function iq(client: RawClient, type: "get" | "set", payload: string, to?: string): Promise<string> {
  const id = `q${++iqs}`;
  client.write(`<iq type='${type}' id='${id}'${to ? ` to='${to}'` : ""}>${payload}</iq>`);
  const pattern = new RegExp(`<iq [^>]*id="${id}"[^>]*(?:/>|>[\\s\\S]*?</iq>)`);
  const text = await client.waitFor(pattern);
  const answer = pattern.exec(text)![0];
  client.received = client.received.replace(answer, "");
  return answer;
}
