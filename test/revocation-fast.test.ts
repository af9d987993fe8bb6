/**
 * Revocation and FAST (issue 20 items 3 and 4) with the real @xmpp/client 0.14: a client logged
 * in with its FAST token is thrown out by the revocation (stream error not-authorized), its FAST
 * token no longer logs in (not-authorized), an X-TOKEN minted before the revocation is refused,
 * and one minted from `acceptedFrom` logs in and gets a new FAST token that works.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { randomUUID } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { DOMAIN, startTestServer, type TestServer } from "./helpers/server.js";
import { fastLogin, TokenJar } from "./helpers/fast-client.js";
import { memoryStorage } from "../src/core/records/storage.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a revoked account's FAST session ends, its FAST token is refused, and a token minted after the revocation starts over", async () => {
  const port = t.server.ports.c2s!;
  const agent = randomUUID();
  const jar = new TokenJar();
  const first = await fastLogin({ port, username: "alice", userAgentId: agent, jar, xToken: t.mint("alice") });
  expect(first.outcome).toBe("online");
  expect(jar.token).not.toBeNull();

  // Online with FAST alone, and kept online.
  const online = await fastLogin({ port, username: "alice", userAgentId: agent, jar }, { keep: true });
  expect(online.outcome).toBe("online");
  expect(online.mechanisms).toEqual(["HT-SHA-256-NONE"]);
  const streamErrors: string[] = [];
  online.client.on("element", (el: Element) => {
    if (el.name === "stream:error") streamErrors.push(el.getChildElements()[0]?.name ?? "?");
  });
  const bob = await fastLogin({ port, username: "bob", userAgentId: randomUUID(), jar: new TokenJar(), xToken: t.mint("bob") }, { keep: true });
  expect(bob.outcome).toBe("online");

  const before = t.mint("alice"); // minted before the revocation, not used yet
  const report = await t.server.revokeAccount(`alice@${DOMAIN}`);
  expect(report).toMatchObject({ streamsEnded: 1, fastTokensRevoked: 1 });
  await until(() => streamErrors.length > 0, "the stream error");
  expect(streamErrors).toEqual(["not-authorized"]);
  await online.client.stop().catch(() => {});
  expect(bob.client.status).toBe("online");

  // The FAST token the client keeps no longer logs in.
  const fast = await fastLogin({ port, username: "alice", userAgentId: agent, jar });
  expect(fast.outcome).not.toBe("online");
  expect(fast.failures[0]).toBe("not-authorized");
  // Nor does an X-TOKEN minted before the revocation.
  const old = await fastLogin({ port, username: "alice", userAgentId: agent, jar: new TokenJar(), xToken: before });
  expect(old.outcome).not.toBe("online");
  expect(old.failures).toEqual(["not-authorized"]);
  expect(t.logLines).toContain(`warn authentication failed for alice@${DOMAIN} from 127.0.0.1: revoked`);

  // One minted from acceptedFrom (the next time step) logs in and gets a new FAST token, which works.
  // FAST tokens are dated to the second: one handed out before the not-before second has begun
  // counts as older than the revocation (docs/revocation.md), so the login waits for it.
  while (Date.now() / 1000 < report.notBefore) await new Promise((r) => setTimeout(r, 25));
  const fresh = new TokenJar();
  const again = await fastLogin({ port, username: "alice", userAgentId: agent, jar: fresh, xToken: t.mint("alice", { now: report.acceptedFrom }) });
  expect(again.outcome).toBe("online");
  expect(fresh.token).not.toBeNull();
  expect((await fastLogin({ port, username: "alice", userAgentId: agent, jar: fresh })).outcome).toBe("online");
  await bob.client.stop().catch(() => {});
});

test("a node that missed the revocation (its FAST tokens still stored) refuses a FAST token handed out before the recorded time", async () => {
  // As a node that was down or cut off from Redis when another node revoked: the revocation is in
  // the shared records, but this node's FAST tokens were never deleted.
  const storage = memoryStorage();
  const node = await startTestServer({ storage });
  try {
    const port = node.server.ports.c2s!;
    const agent = randomUUID();
    const jar = new TokenJar();
    expect((await fastLogin({ port, username: "carol", userAgentId: agent, jar, xToken: node.mint("carol") })).outcome).toBe("online");
    expect((await fastLogin({ port, username: "carol", userAgentId: agent, jar })).outcome).toBe("online");
    const bobJar = new TokenJar();
    expect((await fastLogin({ port, username: "bob", userAgentId: agent, jar: bobJar, xToken: node.mint("bob") })).outcome).toBe("online");

    await storage.revocations.revoke(`carol@${DOMAIN}`, Math.floor(Date.now() / 1000) + 1);
    const refused = await fastLogin({ port, username: "carol", userAgentId: agent, jar });
    expect(refused.outcome).not.toBe("online");
    expect(refused.failures[0]).toBe("not-authorized");
    expect(node.logLines).toContain(`warn authentication failed for carol@${DOMAIN} from 127.0.0.1: revoked`);
    // Another account's token is untouched.
    expect((await fastLogin({ port, username: "bob", userAgentId: agent, jar: bobJar })).outcome).toBe("online");
  } finally {
    await node.close();
  }
});
