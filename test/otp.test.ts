import { describe, expect, test } from "@jest/globals";
import { hotp, totp, timeStep, OtpOptionsError } from "../src/core/otp/index.js";
// base32 has its own file: test/base32.test.ts

describe("HOTP, RFC 4226 Appendix D", () => {
  const secret = Buffer.from("12345678901234567890", "ascii");
  const expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
  test.each(expected.map((otp, counter) => [counter, otp]))("counter %i -> %s", (counter, otp) => {
    expect(hotp(secret, counter as number)).toBe(otp);
  });

  test("6 to 10 digits, other digit counts and hashes refused", () => {
    // RFC 4226 Appendix D lists the truncated value of counter 0 as 1284755224.
    expect(hotp(secret, 0, { digits: 10 })).toBe("1284755224");
    expect(hotp(secret, 0, { digits: 7 })).toBe("4755224");
    expect(() => hotp(secret, 0, { digits: 5 })).toThrow(OtpOptionsError);
    expect(() => hotp(secret, 0, { digits: 11 })).toThrow(OtpOptionsError);
    expect(() => hotp(secret, 0, { algorithm: "md5" as never })).toThrow(OtpOptionsError);
    expect(() => hotp(secret, -1)).toThrow(OtpOptionsError);
  });
});

describe("TOTP, RFC 6238 Appendix B", () => {
  const seeds = {
    sha1: Buffer.from("12345678901234567890", "ascii"),
    sha256: Buffer.from("12345678901234567890123456789012", "ascii"),
    sha512: Buffer.from("1234567890123456789012345678901234567890123456789012345678901234", "ascii"),
  } as const;
  const rows: [number, string, keyof typeof seeds, string][] = [
    [59, "0000000000000001", "sha1", "94287082"],
    [59, "0000000000000001", "sha256", "46119246"],
    [59, "0000000000000001", "sha512", "90693936"],
    [1111111109, "00000000023523EC", "sha1", "07081804"],
    [1111111109, "00000000023523EC", "sha256", "68084774"],
    [1111111109, "00000000023523EC", "sha512", "25091201"],
    [1111111111, "00000000023523ED", "sha1", "14050471"],
    [1111111111, "00000000023523ED", "sha256", "67062674"],
    [1111111111, "00000000023523ED", "sha512", "99943326"],
    [1234567890, "000000000273EF07", "sha1", "89005924"],
    [1234567890, "000000000273EF07", "sha256", "91819424"],
    [1234567890, "000000000273EF07", "sha512", "93441116"],
    [2000000000, "0000000003F940AA", "sha1", "69279037"],
    [2000000000, "0000000003F940AA", "sha256", "90698825"],
    [2000000000, "0000000003F940AA", "sha512", "38618901"],
    [20000000000, "0000000027BC86AA", "sha1", "65353130"],
    [20000000000, "0000000027BC86AA", "sha256", "77737706"],
    [20000000000, "0000000027BC86AA", "sha512", "47863826"],
  ];
  test.each(rows)("time %i (T=%s) %s -> %s", (time, hexStep, algorithm, otp) => {
    expect(timeStep(time)).toBe(parseInt(hexStep, 16));
    expect(totp(seeds[algorithm], time, { algorithm, digits: 8 })).toBe(otp);
  });

  test("step and T0 are honoured", () => {
    const key = seeds.sha1;
    expect(totp(key, 1000 + 59, { t0: 1000, digits: 8 })).toBe("94287082");
    expect(totp(key, 118, { step: 60, digits: 8 })).toBe(hotp(key, 1, { digits: 8 }));
    expect(() => totp(key, 0, { step: 0 })).toThrow(OtpOptionsError);
    expect(() => totp(key, Number.NaN)).toThrow(OtpOptionsError);
  });

  test("bad digits or algorithm are refused by TOTP too", () => {
    const key = seeds.sha1;
    expect(() => totp(key, 59, { digits: 5 })).toThrow(OtpOptionsError);
    expect(() => totp(key, 59, { digits: 11 })).toThrow(OtpOptionsError);
    expect(() => totp(key, 59, { digits: 7.5 })).toThrow(OtpOptionsError);
    expect(() => totp(key, 59, { algorithm: "sha384" as never })).toThrow(OtpOptionsError);
    expect(() => totp(key, 59, { algorithm: "SHA1" as never })).toThrow(OtpOptionsError);
  });
});
