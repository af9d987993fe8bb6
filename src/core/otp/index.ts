export { base32Decode, base32Encode, Base32Error } from "./base32.js";
export { hotp, checkHotpOptions, OtpOptionsError, type HotpOptions, type OtpAlgorithm } from "./hotp.js";
export { totp, timeStep, type TotpOptions } from "./totp.js";
