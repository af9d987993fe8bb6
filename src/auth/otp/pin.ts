/**
 * PINs of one-time password credentials, kept in the project's one password-hash format
 * (src/auth/password/scrypt-hash.ts, the demo's sign-in passwords use it too): a login only
 * needs to check a PIN, so nobody who reads the database learns it.
 */
export { hashPassword as hashPin, verifyPassword as verifyPin, isPasswordHash as isPinHash } from "../password/scrypt-hash.js";
