export {
  createTokenEndpoint,
  TokenEndpointOptionsError,
  type TokenEndpointOptions,
  type TokenEndpointSource,
  type TokenResponse,
  type MintFunction,
  type NodeHandler,
} from "./token-endpoint.js";
