export { base32Decode, base32Encode, Base32Error } from "./base32.js";
export { hotp, checkHotpOptions, OtpOptionsError, type HotpOptions, type OtpAlgorithm } from "./hotp.js";
export { totp, timeStep, type TotpOptions } from "./totp.js";
export { sameCode, isCodeShape, hotpMatches, totpMatches, findHotpPair, type CodeOptions, type StepOptions } from "./match.js";
export { otpauthUri, type OtpauthParameters } from "./otpauth.js";
export { parseUsersFile, formatUsersFileLine, UsersFileError, type UsersFileEntry, type UsersFileLine } from "./users-file.js";
