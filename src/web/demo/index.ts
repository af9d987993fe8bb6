export { createDemoApp, DemoAppOptionsError, type DemoApp, type DemoAppOptions } from "./app.js";
export { hashPassword, verifyPassword, isPasswordHash } from "../../auth/password/scrypt-hash.js";
