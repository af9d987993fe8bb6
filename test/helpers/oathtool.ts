/**
 * Debian's `oathtool` (OATH Toolkit), a second HOTP/TOTP implementation the tests check ours
 * against: codes in the tests come from it, not from src/core/otp. .ci/run installs it.
 */
import { execFileSync } from "node:child_process";

let available: boolean | null = null;

/** Why oathtool cannot be used here, or null when it can. */
export function oathtoolUnavailable(): string | null {
  if (available === null) {
    try {
      execFileSync("oathtool", ["--version"], { stdio: "ignore" });
      available = true;
    } catch {
      available = false;
    }
  }
  return available ? null : "oathtool is not installed (apt-get install oathtool)";
}

const hex = (key: Uint8Array) => Buffer.from(key).toString("hex");

/** HOTP codes for counter values `counter` .. `counter + count - 1`. */
export function oathHotp(key: Uint8Array, counter: number, { digits = 6, count = 1 }: { digits?: number; count?: number } = {}): string[] {
  const out = execFileSync("oathtool", ["--hotp", "-d", String(digits), "-c", String(counter), "-w", String(count - 1), hex(key)], { encoding: "utf8" });
  return out.trim().split("\n");
}

/** The TOTP code at unix time `seconds`. */
export function oathTotp(key: Uint8Array, seconds: number, { digits = 6, period = 30, algorithm = "sha1" }: { digits?: number; period?: number; algorithm?: string } = {}): string {
  const out = execFileSync("oathtool", [`--totp=${algorithm}`, "-d", String(digits), "-s", `${period}s`, "-N", `@${Math.floor(seconds)}`, hex(key)], { encoding: "utf8" });
  return out.trim();
}
