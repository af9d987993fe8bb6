export { createDemoApp, type DemoAppOptions } from "./app.js";
export { hashPassword, verifyPassword, isPasswordHash } from "./password.js";
