export {
  createTokenEndpoint,
  TokenEndpointOptionsError,
  type TokenEndpointOptions,
  type TokenSource,
  type TokenResponse,
  type MintFunction,
  type NodeHandler,
} from "./token-endpoint.js";
