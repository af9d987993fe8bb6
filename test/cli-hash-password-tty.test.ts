/**
 * `x-token hash-password` on a real terminal: the compiled binary runs under util-linux
 * `script`, which gives it a pseudo-terminal; we type into that terminal and read everything
 * the terminal shows.
 */
import { describe, expect, test } from "@jest/globals";
import { spawn, spawnSync } from "node:child_process";
import { verifyPassword, isPasswordHash } from "../src/auth/password/scrypt-hash.js";
import { BINARY } from "./helpers/cli.js";

const HAVE_SCRIPT = spawnSync("script", ["--version"]).status === 0;
if (!HAVE_SCRIPT) console.warn("skipping terminal tests: util-linux `script` is not installed");

/** Runs hash-password on a pseudo-terminal; `steps` wait for a prompt, then type. */
async function onTerminal(steps: [prompt: string, typed: string][]): Promise<{ code: number | null; screen: string }> {
  const child = spawn("script", ["-qec", `"${process.execPath}" "${BINARY}" hash-password`, "/dev/null"], {
    env: { PATH: process.env.PATH, TERM: "dumb" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  child.stdout.on("data", (d) => (screen += d));
  child.stderr.on("data", (d) => (screen += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  let seen = 0;
  for (const [prompt, typed] of steps) {
    const deadline = Date.now() + 10_000;
    // Type only once the prompt is out: from then on the terminal is in raw mode.
    while (screen.indexOf(prompt, seen) < 0) {
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(prompt)} prompt: ${JSON.stringify(screen)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    seen = screen.indexOf(prompt, seen) + prompt.length;
    child.stdin.write(typed);
  }
  const code = await exited;
  child.stdin.destroy();
  return { code, screen };
}

(HAVE_SCRIPT ? describe : describe.skip)("x-token hash-password on a terminal", () => {
  test("asks twice without echo, prints a hash of what was typed", async () => {
    const password = "correct horse battery";
    // A typo fixed with backspace is not part of the password.
    const { code, screen } = await onTerminal([["Password: ", `${password}X\u007f\r`], ["Again: ", `${password}\r`]]);
    expect(code).toBe(0);
    expect(screen).not.toContain("correct");
    expect(screen).not.toContain("horse");
    const hash = screen.match(/scrypt\$\S+/)?.[0];
    expect(isPasswordHash(hash ?? "")).toBe(true);
    expect(await verifyPassword(password, hash!)).toBe(true);
  });

  test("two different passwords: exit 2, no hash", async () => {
    const { code, screen } = await onTerminal([["Password: ", "first password\r"], ["Again: ", "second password\r"]]);
    expect(code).toBe(2);
    expect(screen).toMatch(/x-token: the two passwords differ/);
    expect(screen).not.toMatch(/scrypt\$|password\r/);
  });

  test("Ctrl-C at the prompt cancels at once, exit 2, and gives the terminal back", async () => {
    const { code, screen } = await onTerminal([["Password: ", "half\u0003"]]);
    expect(code).toBe(2);
    expect(screen).toMatch(/x-token: cancelled/);
    expect(screen).not.toContain("half");
  });
});
