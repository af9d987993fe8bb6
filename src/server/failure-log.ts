/** Failed-login lines, bounded per address: the one implementation lives in the auth layer (src/auth/policy/failure-log.ts). */
export { FailureLog, type FailureLogOptions } from "../auth/policy/failure-log.js";
