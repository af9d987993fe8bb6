export { createDemoApp, DemoAppOptionsError, type DemoApp, type DemoAppOptions } from "./app.js";
export { hashPassword, verifyPassword, isPasswordHash } from "./password.js";
