/**
 * One-time password accounts through `x-token extauth` behind a real, private ejabberd with two
 * workers sharing one SQLite file (test/helpers/ejabberd.ts): real @xmpp/client logins with
 * PLAIN over STARTTLS, the password being PIN + code (codes from oathtool). Each code logs in
 * once, whichever worker answers, and logins sent together spread over both workers.
 */
import { afterAll, beforeAll, expect, test, describe } from "@jest/globals";
import { chownSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { openSqliteStorage } from "../src/stores/sqlite/index.js";
import { enrolOtpCredential, importOtpUsersFile } from "../src/auth/otp/index.js";
import { BINARY } from "./helpers/cli.js";
import { ejabberdIds, ejabberdPrivateDir, ejabberdPrivateFile, ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
import { loginWithPassword } from "./helpers/ejabberd-login.js";
import { freshKey } from "./helpers/server.js";
import { oathHotp, oathTotp, oathtoolUnavailable } from "./helpers/oathtool.js";

const unavailable = ejabberdUnavailable() ?? oathtoolUnavailable();
if (unavailable) console.warn(`skipping ejabberd + x-token extauth with one-time password accounts: ${unavailable}`);
const describeWith = unavailable ? describe.skip : describe;

const DOMAIN = "example.test";
const RFC_KEY = Buffer.from("12345678901234567890", "ascii");
/** Logins in flight together spread over ejabberd's pool (see extauth-ejabberd.test.ts). */
const AT_ONCE = 4;

describeWith("ejabberd with two x-token extauth workers: one-time password accounts from one SQLite file", () => {
  let ej: RunningEjabberd;
  let totpKey: Buffer;
  const removals: (() => void)[] = [];

  beforeAll(async () => {
    const data = ejabberdPrivateDir();
    removals.push(data.remove);
    // Credentials written before the node starts (as `x-token otp` would), then given to the ejabberd user.
    const storage = openSqliteStorage({ dir: data.path });
    await importOtpUsersFile(storage.otp, `HOTP alice - ${RFC_KEY.toString("hex")}\n`, { domain: DOMAIN });
    await enrolOtpCredential(storage.otp, { jid: `bob@${DOMAIN}`, pin: "2468" });
    totpKey = Buffer.from(storage.otp.forAccount(`bob@${DOMAIN}`)[0]!.secret);
    storage.close();
    const { uid, gid } = ejabberdIds();
    for (const name of readdirSync(data.path)) chownSync(join(data.path, name), uid, gid);
    const file = ejabberdPrivateFile("x-token.json", JSON.stringify({ domains: { [DOMAIN]: { keys: [freshKey()] } }, storage: { dir: data.path } }));
    removals.push(file.remove);
    ej = await startEjabberd({
      domains: [DOMAIN],
      auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file.path], poolSize: 2, logPerWorker: true },
    });
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    for (const remove of removals) remove();
  }, 30_000);

  test("each HOTP code logs in once when sent several times at once, until both workers have accepted codes", async () => {
    const codes = oathHotp(RFC_KEY, 0, { count: 12 });
    const accepted = (log: string) => (log.match(/auth accepted for alice@/g) ?? []).length;
    const replayed = (log: string) => (log.match(/auth refused for alice@example\.test: otp-replayed/g) ?? []).length;
    let workers = ej.extauthWorkers();
    let round = 0;
    for (; round < codes.length && !(workers.length === 2 && workers.every((w) => accepted(w.log) > 0)); round++) {
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, () => loginWithPassword(ej, "alice", codes[round]!)));
      expect(answers.filter((a) => a === `online alice@${DOMAIN}/test`)).toHaveLength(1);
      expect(answers.filter((a) => a === "not-authorized")).toHaveLength(AT_ONCE - 1);
      for (let i = 0; i < 100; i++) {
        workers = ej.extauthWorkers();
        // The workers write their lines in batches: wait for every answer's line.
        if (workers.reduce((n, w) => n + accepted(w.log), 0) === round + 1 && workers.reduce((n, w) => n + replayed(w.log), 0) === (round + 1) * (AT_ONCE - 1)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(workers).toHaveLength(2);
    for (const w of workers) expect(accepted(w.log)).toBeGreaterThan(0);
    const logs = workers.map((w) => w.log).join("\n");
    expect(replayed(logs)).toBe(round * (AT_ONCE - 1));
    for (const code of codes) expect(logs).not.toContain(code);
    // A code behind the counter stays refused.
    expect(await loginWithPassword(ej, "alice", codes[0]!)).toBe("not-authorized");
  });

  test("PIN + TOTP code logs in once; a wrong PIN is refused without using the code up", async () => {
    const code = oathTotp(totpKey, Date.now() / 1000);
    expect(await loginWithPassword(ej, "bob", `2469${code}`)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "bob", `2468${code}`)).toBe(`online bob@${DOMAIN}/test`);
    expect(await Promise.all([1, 2, 3].map(() => loginWithPassword(ej, "bob", `2468${code}`)))).toEqual(Array(3).fill("not-authorized"));
    const logs = ej.extauthWorkers().map((w) => w.log).join("\n");
    expect(logs).toContain(`auth refused for bob@${DOMAIN}: otp-invalid`);
    expect(logs).not.toContain(code);
    expect(logs).not.toContain("2468");
  });
});
