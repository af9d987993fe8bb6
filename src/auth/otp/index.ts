/** One-time password accounts (docs/otp.md): the login check, PINs, and managing credentials. */
export { OtpVerifier, DEFAULT_MAX_OFFSET, MAX_MAX_OFFSET, TOTP_SKEW, type OtpVerdict, type OtpVerifierOptions } from "./verifier.js";
export { hashPin, verifyPin, isPinHash } from "./pin.js";
export {
  OtpSetupError,
  MIN_SECRET_BYTES,
  DEFAULT_SECRET_BYTES,
  WEAK_SECRET_BYTES,
  MIN_PIN_LENGTH,
  MAX_PIN_LENGTH,
  DEFAULT_RESYNC_WINDOW,
  otpAccount,
  credentialUri,
  enrolOtpCredential,
  startOtpEnrolment,
  confirmOtpEnrolment,
  checkIssuer,
  listOtpCredentials,
  removeOtpCredentials,
  resyncHotpCredential,
  importOtpUsersFile,
  exportOtpUsersFile,
  type OtpCredentialSummary,
  type EnrolOptions,
  type Enrolment,
  type PendingOtpEnrolment,
  type ImportOptions,
  type ImportResult,
  type ExportResult,
} from "./manage.js";
export { OtpRecordsError, MAX_OTP_CREDENTIALS_PER_ACCOUNT, MemoryOtpCredentials, type OtpCredentials, type OtpCredential, type OtpCredentialSpec, type OtpKind } from "../../core/records/otp.js";
