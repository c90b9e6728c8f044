import { describe, expect, it } from "vitest";
import { type Session, SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason } from "../../src/session/errors.js";
import { type ConformanceContext, createSession, expectReason, HOUR_MS, statusUpdate, TENANT, updateOf } from "./helpers.js";

const GRACE_MS = 60_000;

/** Runs the store's abandoned-call step as the sweeper does, collecting what it reports ended. */
async function sweepAbandoned(store: Parameters<typeof createSession>[0], batchSize = 100) {
  const reported: [string, Session][] = [];
  const count = await store.endAbandoned({ batchSize, onEnded: (tenant, sessions) => sessions.forEach((s) => reported.push([tenant, s])) });
  return { count, reported: reported.map(([tenant, s]) => [tenant, s.conversationId, s.endReason]) };
}

async function paused(store: Parameters<typeof createSession>[0], id: string, tenant = TENANT) {
  await createSession(store, id, {}, tenant);
  await store.update(tenant, statusUpdate(id, SessionStatus.ACTIVE));
  await store.update(tenant, statusUpdate(id, SessionStatus.PAUSED));
}

export function abandonedTests(ctx: ConformanceContext): void {
  describe("abandoned calls (pause grace)", () => {
    it("ends a session PAUSED longer than the grace with end_reason abandoned, freeing its max_sessions place", async () => {
      const { store, clock } = await ctx.open({ pauseGraceMs: GRACE_MS, maxSessions: 2 });
      await paused(store, "call-1");
      await createSession(store, "call-2");
      await expectReason(createSession(store, "call-3"), Reason.MaxSessions);
      clock.advance(GRACE_MS);
      expect(await sweepAbandoned(store)).toEqual({ count: 0, reported: [] });
      clock.advance(1);
      expect(await sweepAbandoned(store)).toEqual({ count: 1, reported: [[TENANT, "call-1", "abandoned"]] });
      const ended = await store.get(TENANT, "call-1", SessionView.BASIC);
      expect(ended).toMatchObject({ status: SessionStatus.ENDED, endReason: "abandoned" });
      await createSession(store, "call-3");
      // Ended means ended: a late reconnect is refused, and a second sweep finds nothing.
      await expectReason(store.resume(TENANT, { conversationId: "call-1", ownerId: "b", createIfMissing: false, initial: undefined, view: SessionView.BASIC }), Reason.SessionEnded);
      expect((await sweepAbandoned(store)).count).toBe(0);
    });

    it("leaves sessions that are not PAUSED, or were active within the grace, or resumed", async () => {
      const { store, clock } = await ctx.open({ pauseGraceMs: GRACE_MS });
      await createSession(store, "initiated");
      await createSession(store, "active");
      await store.update(TENANT, statusUpdate("active", SessionStatus.ACTIVE));
      await createSession(store, "error");
      await store.update(TENANT, statusUpdate("error", SessionStatus.ERROR));
      await paused(store, "written-while-paused");
      await paused(store, "resumed");
      clock.advance(GRACE_MS - 1000);
      await store.update(TENANT, updateOf("written-while-paused", { appendHistory: [{ itemId: "late" }] }));
      await store.resume(TENANT, { conversationId: "resumed", ownerId: "b", createIfMissing: false, initial: undefined, view: SessionView.BASIC });
      clock.advance(2000);
      expect(await sweepAbandoned(store)).toEqual({ count: 0, reported: [] });
      clock.advance(GRACE_MS);
      expect(await sweepAbandoned(store)).toEqual({ count: 1, reported: [[TENANT, "written-while-paused", "abandoned"]] });
      for (const id of ["initiated", "active", "error", "resumed"]) expect((await store.get(TENANT, id, SessionView.BASIC)).status).not.toBe(SessionStatus.ENDED);
    });

    it("is off when the grace is 0 (the default)", async () => {
      const { store, clock } = await ctx.open();
      await paused(store, "call-1");
      clock.advance(20 * HOUR_MS);
      expect(await sweepAbandoned(store)).toEqual({ count: 0, reported: [] });
      expect((await store.get(TENANT, "call-1", SessionView.BASIC)).status).toBe(SessionStatus.PAUSED);
    });

    it("ends due sessions of every tenant, in batches, and leaves expired ones to the sweeper", async () => {
      const { store, clock } = await ctx.open({ pauseGraceMs: GRACE_MS, maxSessionAgeMs: 10 * GRACE_MS });
      for (const id of ["a", "b", "c"]) await paused(store, id);
      await paused(store, "x", "tenant-2");
      await paused(store, "old");
      clock.advance(9 * GRACE_MS);
      for (const id of ["a", "b", "c"]) await store.update(TENANT, updateOf(id, { appendHistory: [{ itemId: "keep-alive" }] }));
      await store.update("tenant-2", updateOf("x", { appendHistory: [{ itemId: "keep-alive" }] }));
      clock.advance(GRACE_MS + 1);
      const { count, reported } = await sweepAbandoned(store, 2);
      expect(count).toBe(4);
      expect(reported.map((r) => r.join("/")).sort()).toEqual(["default/a/abandoned", "default/b/abandoned", "default/c/abandoned", "tenant-2/x/abandoned"]);
      await expectReason(store.get(TENANT, "old", SessionView.BASIC), Reason.SessionNotFound);
    });
  });
}
