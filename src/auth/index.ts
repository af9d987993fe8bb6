export { TokenAuthority, type AuthorityOptions, type AuthorityDomain, type AuthorityVerdict } from "./authority.js";
