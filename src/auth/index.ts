export { TokenAuthority, type AuthorityOptions, type AuthorityResult } from "./authority.js";
