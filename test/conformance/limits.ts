import { describe, expect, it } from "vitest";
import { Reason } from "../../src/session/errors.js";
import { ResumeReasonText } from "../../src/session/resume.js";
import { SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { Store } from "../../src/store/store.js";
import { type ConformanceContext, createSession, expectReason, getFull, HOUR_MS, resume, statusUpdate, TENANT, updateOf } from "./helpers.js";

async function listIds(store: Store, tenant: string): Promise<string[]> {
  const { sessions } = await store.list(tenant, { pageSize: 100, after: "", statuses: [], bridgeType: "", view: SessionView.BASIC });
  return sessions.map((s) => s.conversationId);
}

export function limitTests(ctx: ConformanceContext): void {
  describe("max_sessions", () => {
    it("refuses a session beyond the cap and evicts none", async () => {
      const { store } = await ctx.open({ maxSessions: 3 });
      for (const id of ["a", "b", "c"]) await createSession(store, id);
      const error = await expectReason(createSession(store, "d"), Reason.MaxSessions);
      expect(error.message).not.toBe("");
      expect(await listIds(store, TENANT)).toEqual(["a", "b", "c"]);
      await expectReason(getFull(store, "d"), Reason.SessionNotFound);
    });

    it("does not count ended, deleted or expired sessions", async () => {
      const { store, clock } = await ctx.open({ maxSessions: 2 });
      await createSession(store, "a");
      await createSession(store, "b");
      await store.end(TENANT, { conversationId: "a", reason: "", ownerEpoch: 0n, etag: "" });
      await createSession(store, "c");
      await store.delete(TENANT, "b", "");
      await createSession(store, "d");
      await expectReason(createSession(store, "e"), Reason.MaxSessions);
      clock.advance(25 * HOUR_MS);
      await createSession(store, "e");
      await createSession(store, "f");
    });

    it("counts the live sessions of every tenant, because they share the store", async () => {
      const { store } = await ctx.open({ maxSessions: 2 });
      await createSession(store, "x", {}, "a");
      await createSession(store, "x", {}, "b");
      await expectReason(createSession(store, "y", {}, "c"), Reason.MaxSessions);
    });

    it("never evicts a live session to make room, whatever its state", async () => {
      const { store } = await ctx.open({ maxSessions: 2 });
      await createSession(store, "paused");
      await createSession(store, "error");
      await store.update(TENANT, statusUpdate("paused", SessionStatus.PAUSED));
      await store.update(TENANT, statusUpdate("error", SessionStatus.ERROR));
      await expectReason(createSession(store, "new"), Reason.MaxSessions);
      expect((await getFull(store, "paused")).status).toBe(SessionStatus.PAUSED);
      expect((await getFull(store, "error")).status).toBe(SessionStatus.ERROR);
    });
  });

  describe("max_sessions_per_tenant", () => {
    it("stops a tenant at its own cap while other tenants go on, and names only its own figures", async () => {
      const { store } = await ctx.open({ maxSessions: 100, maxSessionsPerTenant: 2 });
      await createSession(store, "b1", {}, "b");
      await createSession(store, "b2", {}, "b");
      const error = await expectReason(createSession(store, "b3", {}, "b"), Reason.MaxSessions);
      expect(error.metadata).toEqual({ limit: "max_sessions_per_tenant", max_sessions_per_tenant: "2", tenant_live_sessions: "2" });
      await createSession(store, "a1", {}, "a");
      await createSession(store, "a2", {}, "a");
      // A resume that creates counts like a create.
      await expectReason(store.resume("a", { conversationId: "a3", ownerId: "pod", createIfMissing: true, initial: undefined, view: SessionView.BASIC }), Reason.MaxSessions);
    });

    it("counts exactly: ended, deleted, cleaned-up and expired sessions free their place", async () => {
      const { store, clock } = await ctx.open({ maxSessions: 100, maxSessionsPerTenant: 2 });
      await createSession(store, "a", {}, "t");
      await createSession(store, "b", {}, "t");
      await store.end("t", { conversationId: "a", reason: "", ownerEpoch: 0n, etag: "" });
      await createSession(store, "c", {}, "t");
      await store.delete("t", "b", "");
      await createSession(store, "d", {}, "t");
      await expectReason(createSession(store, "e", {}, "t"), Reason.MaxSessions);
      clock.advance(2 * HOUR_MS);
      expect(await store.cleanup({ tenant: "t", cutoff: new Date(clock.now().getTime() - HOUR_MS), dryRun: false, batchSize: 10 })).toBe(3);
      await createSession(store, "e", {}, "t");
      clock.advance(25 * HOUR_MS);
      await createSession(store, "f", {}, "t");
      await createSession(store, "g", {}, "t");
      await expectReason(createSession(store, "h", {}, "t"), Reason.MaxSessions);
    });

    it("leaves the store-wide refusal without any count of other tenants", async () => {
      const { store } = await ctx.open({ maxSessions: 2, maxSessionsPerTenant: 5 });
      await createSession(store, "x", {}, "a");
      await createSession(store, "y", {}, "a");
      const error = await expectReason(createSession(store, "z", {}, "b"), Reason.MaxSessions);
      expect(error.metadata).toEqual({ limit: "max_sessions", max_sessions: "2" });
      expect(error.message).not.toMatch(/holds 2|2 live/);
    });
  });

  describe("tenancy", () => {
    it("keeps one tenant's sessions out of another's reach", async () => {
      const { store } = await ctx.open();
      const original = await createSession(store, "call-1", { conversationHistory: [{ itemId: "i1" }] }, "a");
      await expectReason(getFull(store, "call-1", "b"), Reason.SessionNotFound);
      expect(await listIds(store, "b")).toEqual([]);
      await expectReason(store.update("b", updateOf("call-1", { appendHistory: [{ itemId: "intruder" }] })), Reason.SessionNotFound);
      await expectReason(store.end("b", { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" }), Reason.SessionNotFound);
      await expectReason(store.delete("b", "call-1", ""), Reason.SessionNotFound);
      await expectReason(resume(store, "call-1", "bridge-b", "b"), Reason.SessionNotFound);
      expect((await store.validateResume("b", "call-1")).reason).toBe(ResumeReasonText.notFound);
      await store.cleanup({ tenant: "b", cutoff: new Date(8.64e15), dryRun: false, batchSize: 100 });
      expect(await getFull(store, "call-1", "a")).toEqual(original);
      expect((await store.stats("b")).totalSessions).toBe(0);
      expect((await store.stats("b")).failedResumes).toBe(1);
      expect((await store.stats("a")).failedResumes).toBe(0);
    });

    it("lets the same id live independently in two tenants", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { botName: "bot-a" }, "a");
      await createSession(store, "call-1", { botName: "bot-b" }, "b");
      await resume(store, "call-1", "bridge", "b");
      await store.delete("a", "call-1", "");
      const b = await getFull(store, "call-1", "b");
      expect(b).toMatchObject({ botName: "bot-b", resumedCount: 1 });
      await expectReason(getFull(store, "call-1", "a"), Reason.SessionNotFound);
      expect((await store.stats("b")).resumedSessions).toBe(1);
    });
  });

  describe("availability", () => {
    it("answers ping while open and refuses every call once closed", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await store.ping();
      await store.close();
      await store.close();
      await expectReason(store.ping(), Reason.StorageUnavailable);
      await expectReason(getFull(store, "call-1"), Reason.StorageUnavailable);
      await expectReason(createSession(store, "call-2"), Reason.StorageUnavailable);
      await expectReason(store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "x" }] })), Reason.StorageUnavailable);
      await expectReason(store.stats(TENANT), Reason.StorageUnavailable);
    });
  });
}
