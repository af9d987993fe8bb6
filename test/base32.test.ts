import { describe, expect, test } from "@jest/globals";
import { base32Decode, base32Encode, Base32Error } from "../src/core/otp/base32.js";

/** RFC 4648 section 10 test vectors. */
const VECTORS: [string, string][] = [
  ["", ""],
  ["f", "MY======"],
  ["fo", "MZXQ===="],
  ["foo", "MZXW6==="],
  ["foob", "MZXW6YQ="],
  ["fooba", "MZXW6YTB"],
  ["foobar", "MZXW6YTBOI======"],
];

/** Runs `fn`, expecting a Base32Error, and returns it. */
function base32ErrorOf(fn: () => unknown): Base32Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(Base32Error);
    return err as Base32Error;
  }
  throw new Error("expected a Base32Error, nothing was thrown");
}

describe("RFC 4648 section 10 vectors", () => {
  test.each(VECTORS)("decode %j <- %s", (plain, encoded) => {
    expect(base32Decode(encoded).toString("latin1")).toBe(plain);
  });

  test.each(VECTORS)("encode %j -> %s (unpadded, as OTP tools write seeds)", (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain, "latin1"))).toBe(encoded.replace(/=+$/, ""));
  });

  test.each(VECTORS)("lower case decodes the same: %j", (plain, encoded) => {
    expect(base32Decode(encoded.toLowerCase()).toString("latin1")).toBe(plain);
  });

  test.each(VECTORS)("padding is optional: %j", (plain, encoded) => {
    expect(base32Decode(encoded.replace(/=+$/, "")).toString("latin1")).toBe(plain);
  });
});

describe("input as people paste it", () => {
  test("spaces are ignored wherever they are", () => {
    expect(base32Decode("MZXW 6YTB OI").toString()).toBe("foobar");
    expect(base32Decode(" mzxw6ytb oi====== ").toString()).toBe("foobar");
    expect(base32Decode("M Z X W 6 Y T B").toString()).toBe("fooba");
  });

  test("mixed case", () => {
    expect(base32Decode("MzXw6YtBoI").toString()).toBe("foobar");
  });

  test("round trip of every byte value and of every length up to 40", () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(base32Decode(base32Encode(bytes))).toEqual(bytes);
    for (let n = 0; n <= 40; n++) {
      const slice = bytes.subarray(255 - n, 255);
      expect(base32Decode(base32Encode(slice))).toEqual(slice);
    }
  });
});

describe("invalid input is a Base32Error", () => {
  test.each([
    ["a digit outside 2-7", "MZXW1YTB", 5],
    ["digit 0", "0ZXW6YTB", 1],
    ["digit 8", "MZXW6YT8", 8],
    ["punctuation", "MZXW6YT!", 8],
    ["a tab", "MZXW\t6YTB", 5],
    ["a hyphen", "MZXW-6YTB", 5],
    ["a non-ASCII letter", "MZXWÉYTB", 5],
    // "ß".toUpperCase() is "SS", valid base32: it must be refused, not read as two letters.
    ["sharp s", "MZXWßYTB", 5],
  ])("%s (%s) names position %i", (_what, input, position) => {
    const err = base32ErrorOf(() => base32Decode(input));
    expect(err.message).toContain(`position ${position}`);
  });

  test.each([
    ["padding in the middle", "MZ=XW6YT"],
    ["padding followed by data", "MY======MY======"],
    ["impossible length 1", "M"],
    ["impossible length 3", "MZX"],
    ["impossible length 6", "MZXW6Y"],
    ["padded but not a multiple of 8", "MY====="],
  ])("%s (%s)", (_what, input) => {
    base32ErrorOf(() => base32Decode(input));
  });

  test("the message never contains the input (seeds are secrets)", () => {
    const secretish = ["SECRETSEED1XQQQQ", "SECRETSEEDXXXX=Q", "SECRETSEEDQ", "SECRET!SEEDQQQQQ"];
    for (const input of secretish) {
      const err = base32ErrorOf(() => base32Decode(input));
      expect(err.message).not.toContain("SECRET");
      expect(err.message).not.toContain(input);
    }
  });

  test("a bad character is reported at its position in the text as given, spaces counted", () => {
    const err = base32ErrorOf(() => base32Decode("MZXW 6YT1"));
    expect(err.message).toContain("position 9");
  });
});
