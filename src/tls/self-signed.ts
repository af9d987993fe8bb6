/** Development certificates: a self-signed certificate for the hosted domains and loopback. */
import { generate } from "selfsigned";

export interface PemPair {
  cert: string;
  key: string;
}

export async function createSelfSignedCertificate(domains: readonly string[], days = 365): Promise<PemPair> {
  const [first = "localhost"] = domains;
  const notAfter = new Date(Date.now() + days * 24 * 3600 * 1000);
  const pems = await generate([{ name: "commonName", value: first }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          ...[...new Set([...domains, "localhost"])].map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
