import { describe, expect, it } from "vitest";
import { Reason } from "../../src/session/errors.js";
import { SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { Harness } from "./helpers.js";
import { type ConformanceContext, createSession, expectReason, getFull, HOUR_MS, TENANT, updateOf } from "./helpers.js";

const DAY_MS = 24 * HOUR_MS;

function cutoff(h: Harness, maxAgeMs: number): Date {
  return new Date(h.clock.now().getTime() - maxAgeMs);
}

async function visibleIds(h: Harness, tenant = TENANT): Promise<string[]> {
  const { sessions } = await h.store.list(tenant, { pageSize: 100, after: "", statuses: [], bridgeType: "", view: SessionView.BASIC });
  return sessions.map((s) => s.conversationId);
}

export function expiryTests(ctx: ConformanceContext): void {
  describe("cleanup", () => {
    it("removes a session idle past max_age and keeps a recent one", async () => {
      const h = await ctx.open();
      await createSession(h.store, "old");
      h.clock.advance(2 * HOUR_MS);
      await createSession(h.store, "recent");
      h.clock.advance(23 * HOUR_MS);
      expect(await h.store.cleanup({ tenant: TENANT, cutoff: cutoff(h, DAY_MS), dryRun: false, batchSize: 100 })).toBe(1);
      expect(await visibleIds(h)).toEqual(["recent"]);
      expect(await h.store.cleanup({ tenant: TENANT, cutoff: cutoff(h, DAY_MS), dryRun: false, batchSize: 100 })).toBe(0);
    });

    it("deletes by the cutoff it is given, even sessions not yet expired", async () => {
      const h = await ctx.open();
      await createSession(h.store, "a", { conversationHistory: [{ itemId: "i1" }] });
      h.clock.advance(2 * HOUR_MS);
      expect(await h.store.cleanup({ tenant: TENANT, cutoff: cutoff(h, HOUR_MS), dryRun: false, batchSize: 100 })).toBe(1);
      await expectReason(getFull(h.store, "a"), Reason.SessionNotFound);
      await createSession(h.store, "a");
      expect((await getFull(h.store, "a")).conversationHistory).toEqual([]);
    });

    it("only counts in a dry run", async () => {
      const h = await ctx.open();
      for (const id of ["a", "b", "c"]) await createSession(h.store, id);
      h.clock.advance(2 * HOUR_MS);
      expect(await h.store.cleanup({ tenant: TENANT, cutoff: cutoff(h, HOUR_MS), dryRun: true, batchSize: 100 })).toBe(3);
      expect(await visibleIds(h)).toEqual(["a", "b", "c"]);
      expect((await h.store.stats(TENANT)).cleanupCount).toBe(0);
    });

    it("deletes everything stale even when it exceeds one batch", async () => {
      const h = await ctx.open();
      for (let i = 0; i < 7; i++) await createSession(h.store, `stale-${i}`);
      h.clock.advance(2 * HOUR_MS);
      await createSession(h.store, "fresh");
      expect(await h.store.cleanup({ tenant: TENANT, cutoff: cutoff(h, HOUR_MS), dryRun: false, batchSize: 3 })).toBe(7);
      expect(await visibleIds(h)).toEqual(["fresh"]);
    });

    it("counts deletions per tenant and sweeps every tenant when none is named", async () => {
      const h = await ctx.open();
      await createSession(h.store, "x", {}, "a");
      await createSession(h.store, "y", {}, "a");
      await createSession(h.store, "x", {}, "b");
      h.clock.advance(2 * HOUR_MS);
      expect(await h.store.cleanup({ tenant: "a", cutoff: cutoff(h, HOUR_MS), dryRun: false, batchSize: 100 })).toBe(2);
      expect(await visibleIds(h, "b")).toEqual(["x"]);
      expect((await h.store.stats("a")).cleanupCount).toBe(2);
      expect((await h.store.stats("b")).cleanupCount).toBe(0);
      expect(await h.store.cleanup({ tenant: undefined, cutoff: cutoff(h, HOUR_MS), dryRun: false, batchSize: 100 })).toBe(1);
      expect((await h.store.stats("b")).cleanupCount).toBe(1);
      expect((await h.store.stats("a")).cleanupCount).toBe(2);
    });

    it("removes ended tombstones too", async () => {
      const h = await ctx.open();
      await createSession(h.store, "done");
      await h.store.end(TENANT, { conversationId: "done", reason: "", ownerEpoch: 0n, etag: "" });
      h.clock.advance(2 * HOUR_MS);
      expect(await h.store.cleanup({ tenant: TENANT, cutoff: cutoff(h, HOUR_MS), dryRun: false, batchSize: 100 })).toBe(1);
      await createSession(h.store, "done");
    });
  });

  describe("expiry", () => {
    it("hides a session idle past max_session_age from every read before any cleanup", async () => {
      const h = await ctx.open();
      await createSession(h.store, "old");
      h.clock.advance(DAY_MS);
      await createSession(h.store, "recent");
      expect(await visibleIds(h)).toEqual(["old", "recent"]);
      h.clock.advance(1);
      await expectReason(getFull(h.store, "old"), Reason.SessionNotFound);
      expect(await visibleIds(h)).toEqual(["recent"]);
      expect((await h.store.stats(TENANT)).totalSessions).toBe(1);
      await expectReason(h.store.update(TENANT, updateOf("old", { appendHistory: [{ itemId: "x" }] })), Reason.SessionNotFound);
      await expectReason(h.store.end(TENANT, { conversationId: "old", reason: "", ownerEpoch: 0n, etag: "" }), Reason.SessionNotFound);
      await expectReason(h.store.delete(TENANT, "old", ""), Reason.SessionNotFound);
    });

    it("lets a session be created over an expired one", async () => {
      const h = await ctx.open();
      await createSession(h.store, "call-1", { botName: "first", conversationHistory: [{ itemId: "i1" }] });
      h.clock.advance(DAY_MS + 1);
      const created = await createSession(h.store, "call-1", { botName: "second" });
      expect(created).toMatchObject({ botName: "second", resumedCount: 0, ownerEpoch: 1n });
      expect((await getFull(h.store, "call-1")).conversationHistory).toEqual([]);
    });

    it("keeps a session alive while it is written", async () => {
      const h = await ctx.open();
      await createSession(h.store, "call-1");
      h.clock.advance(20 * HOUR_MS);
      await h.store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "i1" }] }));
      h.clock.advance(20 * HOUR_MS);
      expect((await getFull(h.store, "call-1")).conversationHistory).toHaveLength(1);
    });
  });
}
