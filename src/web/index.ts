/** xmpp-x-token/web: the token endpoint (node:http, Express, Fastify) and the demo web app. */
export * from "./endpoint/index.js";
export * from "./demo/index.js";
