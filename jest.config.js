/** ES modules + ts-jest; see README "Development" for why this setup. */
import { isAbsolute, resolve } from "node:path";

// `NODE_EXTRA_CA_CERTS=test/fixtures/tls/cert.pem` (npm test) is read at each process's start,
// relative to its working directory: tests that start Node elsewhere (a consumer project, a
// temporary folder) would warn "Ignoring extra certs". Workers and their children get it absolute.
const extraCerts = process.env.NODE_EXTRA_CA_CERTS;
if (extraCerts && !isAbsolute(extraCerts)) process.env.NODE_EXTRA_CA_CERTS = resolve(extraCerts);

export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  transform: {
    "^.+\\.ts$": ["ts-jest", { useESM: true, tsconfig: "tsconfig.json" }],
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  testTimeout: 30000,
};
