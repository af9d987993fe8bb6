/** Failed-login log lines are bounded per address, with a summary line (issue 7 #2). */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { FailureLog } from "../src/server/failure-log.js";
import { RawClient, saslAuth, startTestServer, streamHeader, type TestServer } from "./helpers/server.js";

describe("FailureLog", () => {
  function setup(options: { linesPerMinute?: number; maxAddresses?: number } = {}) {
    let now = 1_000_000;
    const lines: string[] = [];
    const log = new FailureLog({ warn: (m) => lines.push(m) }, { ...options, now: () => now });
    return { log, lines, advance: (ms: number) => (now += ms) };
  }

  test("N lines per address per minute, then one summary when the minute is over", () => {
    const { log, lines, advance } = setup({ linesPerMinute: 3 });
    for (let i = 0; i < 12345 + 3; i++) log.failure("192.0.2.7", `failed ${i} from 192.0.2.7`);
    for (let i = 0; i < 2; i++) log.failure("198.51.100.1", `failed ${i} from 198.51.100.1`);
    expect(lines).toEqual(["failed 0 from 192.0.2.7", "failed 1 from 192.0.2.7", "failed 2 from 192.0.2.7", "failed 0 from 198.51.100.1", "failed 1 from 198.51.100.1"]);
    advance(59_999);
    log.sweep();
    expect(lines).toHaveLength(5);
    advance(1);
    log.sweep();
    expect(lines.slice(5)).toEqual(["… and 12345 more failures from 192.0.2.7 in the last minute"]);
    // A new minute: lines again.
    log.failure("192.0.2.7", "again");
    expect(lines.at(-1)).toBe("again");
  });

  test("the next failure after a minute closes the old window itself", () => {
    const { log, lines, advance } = setup({ linesPerMinute: 1 });
    log.failure("a", "1");
    log.failure("a", "2");
    advance(60_000);
    log.failure("a", "3");
    expect(lines).toEqual(["1", "… and 1 more failure from a in the last minute", "3"]);
    log.flush();
    expect(lines).toHaveLength(3);
  });

  test("at most maxAddresses followed; more addresses are summed up together", () => {
    const { log, lines, advance } = setup({ linesPerMinute: 1, maxAddresses: 2 });
    for (const ip of ["a", "b", "c", "d", "c"]) log.failure(ip, `from ${ip}`);
    expect(lines).toEqual(["from a", "from b"]);
    advance(60_000);
    log.sweep();
    expect(lines.slice(2)).toEqual(["… and 3 more failures from 2 more addresses in the last minute (too many addresses to log each)"]);
  });
});

describe("on the server", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ requireTls: false, limits: { maxFailureLinesPerIpPerMinute: 3, maxAuthFailuresPerConnection: 100 } });
  });
  afterAll(async () => {
    await t.close();
  });

  test("a client failing 10 times gets 3 lines, and the rest is summed up (here at shutdown)", async () => {
    const client = await RawClient.connect(t.server.ports.c2s!);
    try {
      client.write(streamHeader());
      await client.waitFor("</stream:features>");
      for (let i = 0; i < 10; i++) {
        client.write(saslAuth("eve", t.mint("someone-else")));
        await client.waitFor(() => (client.received.match(/<not-authorized\/>/g) ?? []).length === i + 1);
      }
    } finally {
      client.destroy();
    }
    const failed = t.logLines.filter((l) => l.startsWith("warn authentication failed for eve@example.test from 127.0.0.1"));
    expect(failed).toHaveLength(3);
    await t.close();
    expect(t.logLines).toContain("warn … and 7 more failures from 127.0.0.1 in the last minute");
  });
});
