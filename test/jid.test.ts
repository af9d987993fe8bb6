import { describe, expect, test } from "@jest/globals";
import fc from "fast-check";
import { hasBidiControl, InvalidJidError, nameprep, nameprepUnicode, nodeprep, nodeprepUnicode, normaliseBareJid, prepareBareJid, resourceProblem } from "../src/core/jid/prep.js";

describe("the bare, prepared JID tokens are signed over", () => {
  test.each([
    ["Alice@Example.COM/res", "alice@example.com"],
    ["alice@example.com", "alice@example.com"],
    ["ALICE@EXAMPLE.COM", "alice@example.com"],
    ["alice@example.com/a/b@c", "alice@example.com"],
    ["JÜRGEN@example.com", "jürgen@example.com"],
    // Decomposed ü (u + combining diaeresis) is NFKC-composed.
    ["ju\u0308rgen@example.com", "jürgen@example.com"],
    ["straße@example.com", "strasse@example.com"],
    ["soft\u00ADhyphen@example.com", "softhyphen@example.com"],
    ["alice@example.com.", "alice@example.com"],
    ["ＡＬＩＣＥ@example.com", "alice@example.com"],
  ])("%s -> %s", (input, output) => {
    expect(normaliseBareJid(input)).toBe(output);
  });

  test("jürgen and jurgen stay different accounts", () => {
    expect(normaliseBareJid("jürgen@example.com")).not.toBe(normaliseBareJid("jurgen@example.com"));
  });

  test("prepareBareJid splits the parts", () => {
    expect(prepareBareJid("Romeo@Montague.LIT/orchard")).toEqual({ local: "romeo", domain: "montague.lit" });
    expect(nodeprep("Romeo")).toBe("romeo");
    expect(nameprep("Montague.LIT.")).toBe("montague.lit");
  });
});

describe("invalid JIDs are InvalidJidError", () => {
  test.each([
    ["no @", "example.com"],
    ["no @, with a resource holding one", "example.com/a@b"],
    ["empty localpart", "@example.com"],
    ["empty domain", "alice@"],
    ["empty domain before a resource", "alice@/res"],
    ["empty", ""],
    ["space in localpart", "al ice@example.com"],
    ["space in domain", "alice@exa mple.com"],
    ["quote in localpart", 'a"b@example.com'],
    ["apostrophe in localpart", "a'b@example.com"],
    ["ampersand", "a&b@example.com"],
    ["colon", "a:b@example.com"],
    ["angle brackets", "a<b>@example.com"],
    ["second @", "a@b@example.com"],
    ["control character", "a\u0001b@example.com"],
    ["NUL", "a\0b@example.com"],
    ["private use character", "a\uE000@example.com"],
    ["empty domain label", "alice@example..com"],
    ["domain label over 63", `alice@${"a".repeat(64)}.com`],
    ["mixed right-to-left and left-to-right", "aשלום@example.com"],
    ["localpart over 1023 bytes", `${"a".repeat(1024)}@example.com`],
    ["localpart over 1023 bytes in UTF-8 (512 × 2 bytes)", `${"é".repeat(512)}@example.com`],
    ["domain over 1023 bytes", `alice@${Array.from({ length: 20 }, () => "a".repeat(60)).join(".")}`],
  ])("%s", (_what, jid) => {
    expect(() => normaliseBareJid(jid)).toThrow(InvalidJidError);
    expect(() => prepareBareJid(jid)).toThrow(InvalidJidError);
  });

  test("exactly 1023 bytes is accepted", () => {
    const local = "a".repeat(1023);
    expect(normaliseBareJid(`${local}@example.com`)).toBe(`${local}@example.com`);
    expect(normaliseBareJid(`${"é".repeat(511)}a@example.com`)).toBe(`${"é".repeat(511)}a@example.com`);
  });

  test("non-strings are InvalidJidError", () => {
    for (const value of [undefined, null, 42, {}, ["a@b.c"]]) {
      expect(() => normaliseBareJid(value as never)).toThrow(InvalidJidError);
    }
  });
});

describe("the ASCII fast path agrees with full preparation", () => {
  test("on random ASCII JIDs", () => {
    const ascii = fc.string({ unit: fc.constantFrom(..."aAzZ09.-_!#$%*+=?^`{|}~\"&'/:<>@ \t"), maxLength: 30 });
    fc.assert(
      fc.property(ascii, ascii, (local, domain) => {
        const jid = `${local}@${domain}`;
        let full: string | Error;
        try {
          const { local: l, domain: d } = prepareBareJid(jid);
          full = `${l}@${d}`;
        } catch (err) {
          full = err as Error;
        }
        if (full instanceof Error) {
          expect(full).toBeInstanceOf(InvalidJidError);
          expect(() => normaliseBareJid(jid)).toThrow(InvalidJidError);
        } else {
          expect(normaliseBareJid(jid)).toBe(full);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the lower-case ASCII shortcut of nodeprep and nameprep", () => {
  const outcome = (prep: (s: string) => string, s: string) => {
    try {
      return prep(s);
    } catch (err) {
      if (err instanceof InvalidJidError) return `refused: ${err.message}`;
      throw err;
    }
  };
  const ascii = (chars: string) => fc.string({ unit: fc.constantFrom(...chars.split("")), minLength: 0, maxLength: 70 });
  const localChars = "abcxyz019!#$%*+-.=?^_`{|}~ABZ @:/&'\"<>\t\u00df\u0130";
  const domainChars = "abcxyz019-.ABZ_ @";

  test("gives what the full preparation gives, for ASCII and for anything near it", () => {
    fc.assert(fc.property(ascii(localChars), (s) => outcome(nodeprep, s) === outcome(nodeprepUnicode, s)), { numRuns: 2000 });
    fc.assert(fc.property(ascii(domainChars), (s) => outcome(nameprep, s) === outcome(nameprepUnicode, s)), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 20 }), (s) => outcome(nodeprep, s) === outcome(nodeprepUnicode, s) && outcome(nameprep, s) === outcome(nameprepUnicode, s)));
    for (const s of ["a".repeat(1023), "a".repeat(1024), `${"a".repeat(63)}.b`, `${"a".repeat(64)}.b`, "a..b", ".a", "a.", "-a", "Alice", "alice"]) {
      expect(outcome(nodeprep, s)).toBe(outcome(nodeprepUnicode, s));
      expect(outcome(nameprep, s)).toBe(outcome(nameprepUnicode, s));
    }
  });
});

describe("bidirectional controls are refused in every part (issue 18; RFC 7622's PRECIS profiles disallow them)", () => {
  // Embeddings and overrides, isolates, and the three marks.
  const CONTROLS = ["\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066", "\u2067", "\u2068", "\u2069", "\u200E", "\u200F", "\u061C"];
  const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

  test.each(CONTROLS.map((c) => [hex(c), c]))("%s in a localpart, a domain, a resource", (_name, c) => {
    for (const local of [`alice${c}`, `${c}alice`, `ali${c}ce`, `ALICE${c}`, `jürgen${c}`, `${c}שלום`]) {
      expect(() => nodeprep(local)).toThrow("localpart contains a bidirectional control character");
      expect(() => nodeprepUnicode(local)).toThrow(InvalidJidError);
      expect(() => normaliseBareJid(`${local}@example.com`)).toThrow(InvalidJidError);
    }
    for (const domain of [`example${c}.com`, `${c}example.com`, `Example.COM${c}`]) {
      expect(() => nameprep(domain)).toThrow("domain contains a bidirectional control character");
      expect(() => normaliseBareJid(`alice@${domain}`)).toThrow(InvalidJidError);
    }
    expect(resourceProblem(`phone${c}`)).toBe("resource contains a bidirectional control character");
    expect(resourceProblem(`${c}gpj.exe`)).toBe("resource contains a bidirectional control character");
    expect(hasBidiControl(`a${c}b`)).toBe(true);
  });

  test("right-to-left names themselves are fine, and other format characters are still mapped or refused as before", () => {
    expect(nodeprep("שלום")).toBe("שלום");
    expect(normaliseBareJid("مرحبا@example.com")).toBe("مرحبا@example.com");
    expect(resourceProblem("טלפון")).toBeNull();
    // Zero-width joiners are mapped to nothing (RFC 3454 B.1), as before.
    expect(nodeprep("al\u200Dice")).toBe("alice");
    expect(hasBidiControl("alice")).toBe(false);
  });

  test("resources: empty, over 1023 bytes, control characters refused; 1023 bytes and Unicode kept", () => {
    expect(resourceProblem("")).toBe("resource is empty");
    expect(resourceProblem("r".repeat(1024))).toBe("resource is longer than 1023 bytes");
    expect(resourceProblem("€".repeat(342))).toBe("resource is longer than 1023 bytes");
    expect(resourceProblem("a\u0007b")).toBe("resource contains a control character");
    expect(resourceProblem("a\u007fb")).toBe("resource contains a control character");
    expect(resourceProblem("r".repeat(1023))).toBeNull();
    expect(resourceProblem("Phone ☎ / home @ work")).toBeNull();
  });
});
