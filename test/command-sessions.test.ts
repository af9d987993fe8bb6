/**
 * The open sessions of a multi-step ad-hoc command (src/core/forms/command-sessions.ts): only the
 * requester who opened one may submit it, once, before it expires, and the table stays bounded.
 */
import { expect, test } from "@jest/globals";
import { CommandSessions } from "../src/core/forms/command-sessions.js";

test("a session is its requester's, used once; another requester neither uses nor spends it", () => {
  const sessions = new CommandSessions();
  const id = sessions.begin("alice@example.test/phone");
  expect(id).toMatch(/^[0-9a-f]{32}$/);
  expect(sessions.begin("alice@example.test/phone")).not.toBe(id);
  expect(sessions.take(id, "alice@example.test/laptop")).toBe(false);
  expect(sessions.take(id, "mallory@example.test/x")).toBe(false);
  expect(sessions.take(id, "alice@example.test/phone")).toBe(true);
  expect(sessions.take(id, "alice@example.test/phone")).toBe(false);
  expect(sessions.take("not-a-session", "alice@example.test/phone")).toBe(false);
});

test("a session expires after its seconds, and an expired one is gone", () => {
  let now = 1000;
  const sessions = new CommandSessions({ seconds: 60, now: () => now });
  const kept = sessions.begin("a@x/r");
  const late = sessions.begin("a@x/r");
  now = 1059.9;
  expect(sessions.take(kept, "a@x/r")).toBe(true);
  now = 1060;
  expect(sessions.take(late, "a@x/r")).toBe(false);
  expect(sessions.size).toBe(0);
});

test("bounded: a requester opening forms without end keeps at most max; expired ones go first, then the oldest", () => {
  let now = 0;
  const sessions = new CommandSessions({ max: 3, seconds: 10, now: () => now });
  const first = sessions.begin("m@x/r");
  for (let i = 0; i < 10_000; i++) sessions.begin("m@x/r");
  expect(sessions.size).toBe(3);
  expect(sessions.take(first, "m@x/r")).toBe(false);

  const old = new CommandSessions({ max: 2, seconds: 10, now: () => now });
  now = 0;
  const expiring = old.begin("a@x/r");
  now = 5;
  const live = old.begin("b@x/r");
  now = 11; // the first has expired: it makes room, not the second
  old.begin("c@x/r");
  expect(old.size).toBe(2);
  expect(old.take(expiring, "a@x/r")).toBe(false);
  expect(old.take(live, "b@x/r")).toBe(true);
});
