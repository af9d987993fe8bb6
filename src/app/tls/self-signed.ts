/**
 * Development certificates: a self-signed certificate for the hosted domains and loopback.
 * ECDSA P-256: a TLS handshake costs the server a fraction of what RSA-2048 does.
 */
import { generate } from "selfsigned";

export interface PemPair {
  cert: string;
  key: string;
}

export async function createSelfSignedCertificate(domains: readonly string[], days = 365): Promise<PemPair> {
  const [first = "localhost"] = domains;
  const notAfter = new Date(Date.now() + days * 24 * 3600 * 1000);
  const pems = await generate([{ name: "commonName", value: first }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          ...[...new Set([...domains, "localhost"])].map((value) => ({ type: 2 as const, value })),
          // Direct TLS to an address (xmpps://127.0.0.1:5223) checks the address, not a name.
          { type: 7 as const, ip: "127.0.0.1" },
          { type: 7 as const, ip: "::1" },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
