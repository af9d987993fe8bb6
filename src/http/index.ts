export { createTokenEndpoint, type TokenEndpointOptions, type NodeHandler } from "./token-endpoint.js";
