/** The fair share of a shared queue (src/server/fair-queue.ts), without sockets: what it keeps, drops and hands out. */
import { describe, expect, test } from "@jest/globals";
import { FairQueue } from "../src/server/fair-queue.js";

const item = (name: string, bytes = 10) => ({ name, bytes });

describe("FairQueue", () => {
  test("one sender alone may fill it; past the bound its own next item is dropped", () => {
    const q = new FairQueue<{ name: string; bytes: number }>(100);
    for (let i = 0; i < 10; i++) expect(q.offer("m", item(`m${i}`)).accepted).toBe(true);
    expect(q.offer("m", item("m10"))).toEqual({ accepted: false, evicted: [] });
    expect(q.bytes).toBe(100);
  });

  test("a newcomer gets in at the expense of whoever holds the most: its newest items go first", () => {
    const q = new FairQueue<{ name: string; bytes: number }>(100);
    for (let i = 0; i < 10; i++) q.offer("m", item(`m${i}`));
    const { accepted, evicted } = q.offer("b", item("b0", 25));
    expect(accepted).toBe(true);
    // Room for it once under the bound (a queue under its bound takes one more item, whatever its size).
    expect(evicted.map((e) => e.name)).toEqual(["m9"]);
    expect(q.bytesOf("m")).toBe(90);
    // The newcomer may grow up to what the largest holds, never past it.
    for (let i = 1; i < 10; i++) q.offer("b", item(`b${i}`));
    expect(Math.abs(q.bytesOf("b") - q.bytesOf("m"))).toBeLessThanOrEqual(25);
    expect(q.bytes).toBeLessThanOrEqual(100 + 25);
  });

  test("what the owner holds elsewhere counts against the bound and is never given back", () => {
    const q = new FairQueue<{ name: string; bytes: number }>(100);
    expect(q.offer("m", item("m0"), 100).accepted).toBe(false);
    expect(q.offer("m", item("m0"), 90).accepted).toBe(true);
    expect(q.offer("b", item("b0"), 90)).toEqual({ accepted: false, evicted: [] }); // holding as much as m once in
  });

  test("items leave round-robin by sender, each sender's in order", () => {
    const q = new FairQueue<{ name: string; bytes: number }>(1000);
    for (let i = 0; i < 3; i++) q.offer("m", item(`m${i}`));
    q.offer("b", item("b0"));
    q.offer("c", item("c0"));
    const out: string[] = [];
    for (let next = q.take(); next; next = q.take()) out.push(next.name);
    expect(out).toEqual(["m0", "b0", "c0", "m1", "m2"]);
    expect(q.isEmpty).toBe(true);
  });
});
