/** The roster store's bounds, without a server: per roster, and all rosters together. */
import { describe, expect, test } from "@jest/globals";
import { RosterStore, type RosterItem } from "../src/server/roster/index.js";

const item = (jid: string, name?: string): RosterItem => ({ jid, ...(name ? { name } : {}), subscription: "none", ask: false, groups: [] });

describe("RosterStore", () => {
  test("a roster takes maxItems items; replacing one always works; removing frees a place", () => {
    const store = new RosterStore({ maxItems: 2, maxTotalItems: 100, maxNameBytes: 10, maxGroupsPerItem: 1 });
    expect(store.put("a@x", item("b@x"))).toBe(true);
    expect(store.put("a@x", item("c@x"))).toBe(true);
    expect(store.put("a@x", item("d@x"))).toBe(false);
    expect(store.put("a@x", item("c@x", "Cee"))).toBe(true);
    expect(store.get("a@x", "c@x")?.name).toBe("Cee");
    expect(store.remove("a@x", "b@x")).toBe(true);
    expect(store.remove("a@x", "b@x")).toBe(false);
    expect(store.put("a@x", item("d@x"))).toBe(true);
    expect(store.items("a@x").map((i) => i.jid)).toEqual(["c@x", "d@x"]);
  });

  test("all rosters together hold at most maxTotalItems; emptied rosters are dropped", () => {
    const store = new RosterStore({ maxItems: 10, maxTotalItems: 3, maxNameBytes: 10, maxGroupsPerItem: 1 });
    expect(store.put("a@x", item("1@x"))).toBe(true);
    expect(store.put("b@x", item("1@x"))).toBe(true);
    expect(store.put("c@x", item("1@x"))).toBe(true);
    expect(store.put("d@x", item("1@x"))).toBe(false);
    expect(store.totalItems).toBe(3);
    store.remove("a@x", "1@x");
    expect(store.items("a@x")).toEqual([]);
    expect(store.put("d@x", item("1@x"))).toBe(true);
    expect(store.totalItems).toBe(3);
  });
});
