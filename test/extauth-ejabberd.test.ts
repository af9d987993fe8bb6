/**
 * `x-token extauth` behind a real, private ejabberd (test/helpers/ejabberd.ts): real
 * @xmpp/client logins with PLAIN over STARTTLS, the token as the password.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { mintToken } from "../src/core/token/mint.js";
import type { TokenKey } from "../src/core/token/keys.js";
import { BINARY } from "./helpers/cli.js";
import { ejabberdPrivateFile, ejabberdUnavailable, startEjabberd, type RunningEjabberd } from "./helpers/ejabberd.js";
import { loginWithPassword } from "./helpers/ejabberd-login.js";
import { freshKey } from "./helpers/server.js";

const unavailable = ejabberdUnavailable();
if (unavailable) console.warn(`skipping the ejabberd + x-token extauth tests: ${unavailable}`);
const describeWithEjabberd = unavailable ? describe.skip : describe;

const DOMAIN = "example.test";

/** ejabberd running our binary as its extauth program, with `config` as the program's config file. */
async function ejabberdWithExtauth(config: object, poolSize: number) {
  const file = ejabberdPrivateFile("x-token.json", JSON.stringify(config));
  try {
    const ej = await startEjabberd({ domains: [DOMAIN], auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file.path], poolSize } });
    return { ej, remove: file.remove };
  } catch (err) {
    file.remove();
    throw err;
  }
}

describeWithEjabberd("ejabberd with x-token extauth (one worker, the in-memory replay store)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let remove = () => {};
  beforeAll(async () => {
    ({ ej, remove } = await ejabberdWithExtauth({ domains: { [DOMAIN]: { keys: [key], disabledUsers: ["mallory"] } } }, 1));
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
  }, 30_000);

  test("a token logs in once; the same token again, another user's token and a disabled user's are refused", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe("not-authorized");
    expect(await loginWithPassword(ej, "bob", mintToken({ jid: `alice@${DOMAIN}`, key }))).toBe("not-authorized");
    expect(await loginWithPassword(ej, "mallory", mintToken({ jid: `mallory@${DOMAIN}`, key }))).toBe("not-authorized");
    // nodeprep as everywhere: "Carol" typed by the user is carol.
    expect(await loginWithPassword(ej, "Carol", mintToken({ jid: `carol@${DOMAIN}`, key }))).toBe(`online carol@${DOMAIN}/test`);
    const log = readFileSync(ej.extauthLog, "utf8");
    expect(log).toContain(`auth refused for alice@${DOMAIN}: replayed`);
    expect(log).toContain(`auth refused for bob@${DOMAIN}: bad-signature`);
    expect(log).toContain(`auth refused for mallory@${DOMAIN}: account-disabled`);
    expect(log).not.toContain(token.split(" ")[1]!);
  });

  test("a token from another key is refused", async () => {
    expect(await loginWithPassword(ej, "alice", mintToken({ jid: `alice@${DOMAIN}`, key: freshKey() }))).toBe("not-authorized");
  });
});

describeWithEjabberd("ejabberd with auth_use_cache left on (why docs/ejabberd.md requires false)", () => {
  const key: TokenKey = freshKey();
  let ej: RunningEjabberd;
  let remove = () => {};
  beforeAll(async () => {
    const file = ejabberdPrivateFile("x-token.json", JSON.stringify({ domains: { [DOMAIN]: { keys: [key] } } }));
    remove = file.remove;
    ej = await startEjabberd({ domains: [DOMAIN], auth: { method: "external", program: [process.execPath, BINARY, "extauth", "--config", file.path], poolSize: 1, useCache: true } });
  }, 60_000);
  afterAll(async () => {
    await ej?.stop();
    remove();
  }, 30_000);

  test("a used token logs in again from ejabberd's cache, and the program is never asked", async () => {
    const token = mintToken({ jid: `alice@${DOMAIN}`, key });
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    expect(await loginWithPassword(ej, "alice", token)).toBe(`online alice@${DOMAIN}/test`);
    const log = readFileSync(ej.extauthLog, "utf8");
    expect(log.match(/auth accepted for alice@/g)).toHaveLength(1);
    expect(log).not.toContain("replayed");
  });
});
