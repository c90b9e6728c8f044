import { describe, expect, it } from "vitest";
import { Reason } from "../../src/session/errors.js";
import { SessionStatus } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import {
  type ConformanceContext,
  createSession,
  expectReason,
  getFull,
  millisOf,
  resume,
  statusUpdate,
  TENANT,
  updateOf,
} from "./helpers.js";

export function updateTests(ctx: ConformanceContext): void {
  describe("update", () => {
    it("writes the masked fields only and returns the BASIC session", async () => {
      const { store, clock } = await ctx.open();
      const created = await createSession(store, "call-1", { metadata: { a: 1 }, conversationHistory: [{ itemId: "i0" }] });
      clock.advance(2000);
      const { session, applied } = await store.update(TENANT, updateOf("call-1", {
        paths: ["media_format", "status", "metadata", "error_count"],
        session: { mediaFormat: "audio/x-mulaw", status: SessionStatus.PAUSED, metadata: { b: "two" }, errorCount: 2, botName: "not masked" },
      }));
      expect(applied).toBe(true);
      expect(session).toMatchObject({ mediaFormat: "audio/x-mulaw", status: SessionStatus.PAUSED, errorCount: 2, botName: "bot" });
      expect(session.conversationHistory).toEqual([]);
      expect(session.etag).not.toBe(created.etag);
      expect(millisOf(session.lastActivity)).toBe(clock.now().getTime());
      const stored = await getFull(store, "call-1");
      expect(stored).toMatchObject({ mediaFormat: "audio/x-mulaw", status: SessionStatus.PAUSED, metadata: { b: "two" }, botName: "bot" });
      expect(millisOf(stored.createdAt)).toBe(millisOf(created.createdAt));
      expect(stored.conversationHistory).toHaveLength(1);
    });

    it("appends history in order, stamped when stored", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [{ itemId: "i1" }] });
      clock.advance(1000);
      await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "i2" }, { itemId: "i3" }] }));
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory.map((i) => i.itemId)).toEqual(["i1", "i2", "i3"]);
      expect(millisOf(stored.conversationHistory[2]?.createdAt)).toBe(clock.now().getTime());
      expect(millisOf(stored.conversationHistory[0]?.createdAt)).toBe(clock.now().getTime() - 1000);
    });

    it("refuses moves the lifecycle does not allow, changing nothing", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await resume(store, "call-1");
      const before = await getFull(store, "call-1");
      await expectReason(store.update(TENANT, statusUpdate("call-1", SessionStatus.INITIATED)), Reason.InvalidTransition);
      await expectReason(store.update(TENANT, statusUpdate("call-1", SessionStatus.ENDED)), Reason.InvalidTransition);
      expect(await getFull(store, "call-1")).toEqual(before);
    });

    it("follows the lifecycle through PAUSED and ERROR back to ACTIVE", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      for (const status of [SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ERROR, SessionStatus.ACTIVE]) {
        expect((await store.update(TENANT, statusUpdate("call-1", status))).session.status).toBe(status);
      }
    });

    it("fails with SESSION_NOT_FOUND for a missing session", async () => {
      const { store } = await ctx.open();
      await expectReason(store.update(TENANT, updateOf("nobody", { appendHistory: [{ itemId: "x" }] })), Reason.SessionNotFound);
    });

    it("changes the etag on every write", async () => {
      const { store } = await ctx.open();
      const etags = [(await createSession(store, "call-1")).etag];
      etags.push((await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "x" }] }))).session.etag);
      etags.push((await store.update(TENANT, updateOf("call-1", { paths: ["caller"], session: { caller: "+1555" } }))).session.etag);
      etags.push((await resume(store, "call-1")).session.etag);
      etags.push((await store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" })).etag);
      expect(new Set(etags).size).toBe(etags.length);
      expect(etags.every((e) => e !== "")).toBe(true);
    });
  });

  describe("fencing", () => {
    it("refuses writes from a replaced owner and changes nothing", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await resume(store, "call-1", "bridge-a");
      await resume(store, "call-1", "bridge-b");
      const before = await getFull(store, "call-1");
      const error = await expectReason(
        store.update(TENANT, updateOf("call-1", { ownerEpoch: 2n, paths: ["caller"], session: { caller: "x" }, appendHistory: [{ itemId: "stale" }] })),
        Reason.SessionFenced,
      );
      expect(error.metadata.owner_epoch).toBe("3");
      await expectReason(store.update(TENANT, updateOf("call-1", { ownerEpoch: 4n, appendHistory: [{ itemId: "future" }] })), Reason.SessionFenced);
      expect(await getFull(store, "call-1")).toEqual(before);
    });

    it("accepts the current epoch and the unfenced epoch 0", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await resume(store, "call-1");
      await store.update(TENANT, updateOf("call-1", { ownerEpoch: 2n, appendHistory: [{ itemId: "owner" }] }));
      await store.update(TENANT, updateOf("call-1", { ownerEpoch: 0n, appendHistory: [{ itemId: "admin" }] }));
      expect((await getFull(store, "call-1")).conversationHistory.map((i) => i.itemId)).toEqual(["owner", "admin"]);
    });
  });

  describe("seq idempotency", () => {
    it("applies a seq once and acknowledges a resend without applying it", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      const update = updateOf("call-1", { seq: 1n, appendHistory: [{ itemId: "i1" }], appendAudio: [{ data: new Uint8Array([1, 2]) }] });
      const first = await store.update(TENANT, update);
      const again = await store.update(TENANT, update);
      expect(first.applied).toBe(true);
      expect(again.applied).toBe(false);
      expect(again.session.etag).toBe(first.session.etag);
      const stored = await getFull(store, "call-1");
      expect(stored.lastSeq).toBe(1n);
      expect(stored.conversationHistory).toHaveLength(1);
      expect(stored.audioBuffer).toHaveLength(1);
    });

    it("treats a lower seq as a duplicate and seq 0 as always new", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await store.update(TENANT, updateOf("call-1", { seq: 5n, appendHistory: [{ itemId: "five" }] }));
      expect((await store.update(TENANT, updateOf("call-1", { seq: 3n, appendHistory: [{ itemId: "three" }] }))).applied).toBe(false);
      expect((await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "a" }] }))).applied).toBe(true);
      expect((await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "b" }] }))).applied).toBe(true);
      expect((await store.update(TENANT, updateOf("call-1", { seq: 6n, appendHistory: [{ itemId: "six" }] }))).applied).toBe(true);
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory.map((i) => i.itemId)).toEqual(["five", "a", "b", "six"]);
      expect(stored.lastSeq).toBe(6n);
    });
  });

  describe("etag precondition", () => {
    it("refuses a stale etag, changing nothing, and accepts the current one", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1");
      const { session: updated } = await store.update(TENANT, updateOf("call-1", { etag: created.etag, paths: ["caller"], session: { caller: "one" } }));
      const before = await getFull(store, "call-1");
      const error = await expectReason(
        store.update(TENANT, updateOf("call-1", { etag: created.etag, paths: ["caller"], session: { caller: "two" } })),
        Reason.EtagMismatch,
      );
      expect(error.metadata.etag).toBe(updated.etag);
      expect(await getFull(store, "call-1")).toEqual(before);
      await store.update(TENANT, updateOf("call-1", { etag: updated.etag, paths: ["caller"], session: { caller: "three" } }));
      expect((await getFull(store, "call-1")).caller).toBe("three");
    });
  });

  describe("function calls", () => {
    it("upserts by call_id, keeping the first created_at and position", async () => {
      const { store, clock } = await ctx.open();
      const t0 = clock.now().getTime();
      await createSession(store, "call-1", { functionCalls: [{ callId: "c1", functionName: "lookup", arguments: "{}", status: "pending" }] });
      clock.advance(1000);
      await store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [{ callId: "c2", functionName: "transfer", status: "pending" }] }));
      clock.advance(1000);
      await store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [{ callId: "c1", functionName: "lookup", status: "completed", result: '{"ok":true}' }] }));
      const calls = (await getFull(store, "call-1")).functionCalls;
      expect(calls.map((c) => [c.callId, c.status, c.result])).toEqual([
        ["c1", "completed", '{"ok":true}'],
        ["c2", "pending", ""],
      ]);
      expect(millisOf(calls[0]?.createdAt)).toBe(t0);
      expect(millisOf(calls[1]?.createdAt)).toBe(t0 + 1000);
    });

    it("keeps the last of several entries for one call_id in one update", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await store.update(TENANT, updateOf("call-1", {
        upsertFunctionCalls: [
          { callId: "c1", status: "pending" },
          { callId: "c2", status: "pending" },
          { callId: "c1", status: "failed" },
        ],
      }));
      const calls = (await getFull(store, "call-1")).functionCalls;
      expect(calls.map((c) => [c.callId, c.status])).toEqual([["c1", "failed"], ["c2", "pending"]]);
    });
  });
}
