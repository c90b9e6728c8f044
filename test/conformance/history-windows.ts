import { describe, expect, it } from "vitest";
import { SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason } from "../../src/session/errors.js";
import type { HistoryWindow } from "../../src/session/history-window.js";
import type { Store } from "../../src/store/store.js";
import { type ConformanceContext, createSession, expectReason, getFull, sessionInput, statusUpdate, TENANT, updateOf } from "./helpers.js";

const items = (n: number, prefix = "i") => Array.from({ length: n }, (_, i) => ({ itemId: `${prefix}${i + 1}`, role: i % 2 ? "assistant" : "user", type: "message", text: `turn ${i + 1}` }));

function resumeWindow(store: Store, conversationId: string, window: HistoryWindow, createIfMissing = false) {
  return store.resume(TENANT, {
    conversationId, ownerId: "bridge-2", createIfMissing, initial: createIfMissing ? sessionInput(conversationId, { conversationHistory: items(5, "n") }) : undefined,
    view: SessionView.FULL, window,
  });
}

const ids = (s: { conversationHistory: { itemId: string }[] }) => s.conversationHistory.map((i) => i.itemId);

export function historyWindowTests(ctx: ConformanceContext): void {
  describe("history windows", () => {
    it("reads the newest N items, oldest first, and says older ones were left out", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: items(10), functionCalls: [{ callId: "c1", functionName: "lookup" }], audioBuffer: [{ data: new Uint8Array([1, 2]) }] });
      const read = await store.getWindow(TENANT, "call-1", { lastItems: 3, afterItemId: "" });
      expect(ids(read.session)).toEqual(["i8", "i9", "i10"]);
      expect(read.historyTruncated).toBe(true);
      // Function calls and audio come whole; the header is the session's.
      expect(read.session.functionCalls.map((c) => c.callId)).toEqual(["c1"]);
      expect(read.session.audioBuffer).toHaveLength(1);
      const full = await getFull(store, "call-1");
      expect({ ...read.session, conversationHistory: [] }).toEqual({ ...full, conversationHistory: [] });
      expect(read.session.conversationHistory).toEqual(full.conversationHistory.slice(7));
    });

    it("is not truncated when the window holds the whole history", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: items(3) });
      for (const lastItems of [3, 4, 0]) {
        const read = await store.getWindow(TENANT, "call-1", { lastItems, afterItemId: "" });
        expect({ lastItems, ids: ids(read.session), truncated: read.historyTruncated }).toEqual({ lastItems, ids: ["i1", "i2", "i3"], truncated: false });
      }
      await createSession(store, "empty");
      expect(await store.getWindow(TENANT, "empty", { lastItems: 5, afterItemId: "" })).toMatchObject({ historyTruncated: false, session: { conversationHistory: [] } });
    });

    it("reads the items after an item_id (the newest with it), optionally only the newest N of them", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: items(6) });
      await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "i2", text: "again" }, { itemId: "x1" }, { itemId: "x2" }] }));
      const after = await store.getWindow(TENANT, "call-1", { lastItems: 0, afterItemId: "i2" });
      expect(ids(after.session)).toEqual(["x1", "x2"]);
      expect(after.historyTruncated).toBe(true);
      const newest = await store.getWindow(TENANT, "call-1", { lastItems: 1, afterItemId: "i4" });
      expect(ids(newest.session)).toEqual(["x2"]);
      const last = await store.getWindow(TENANT, "call-1", { lastItems: 0, afterItemId: "x2" });
      expect(ids(last.session)).toEqual([]);
      expect(last.historyTruncated).toBe(true);
    });

    it("shows edits in the window", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: items(4) });
      await store.update(TENANT, updateOf("call-1", { editHistory: [{ itemId: "i4", updateMask: { paths: ["text"] }, text: "edited" }] }));
      expect((await store.getWindow(TENANT, "call-1", { lastItems: 1, afterItemId: "" })).session.conversationHistory[0]?.text).toBe("edited");
    });

    it("refuses an unknown after_item_id with HISTORY_ITEM_NOT_FOUND, and a missing session with SESSION_NOT_FOUND", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: items(2) });
      const error = await expectReason(store.getWindow(TENANT, "call-1", { lastItems: 0, afterItemId: "nope" }), Reason.HistoryItemNotFound);
      expect(error.metadata).toMatchObject({ conversation_id: "call-1", item_id: "nope", field: "history_window.after_item_id" });
      await expectReason(store.getWindow(TENANT, "missing", { lastItems: 1, afterItemId: "nope" }), Reason.SessionNotFound);
      await expectReason(store.getWindow("other-tenant", "call-1", { lastItems: 1, afterItemId: "" }), Reason.SessionNotFound);
    });

    it("resumes with a window: the takeover happens and the session carries the window", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: items(8) });
      await store.update(TENANT, statusUpdate("call-1", SessionStatus.PAUSED));
      const { session, created, historyTruncated } = await resumeWindow(store, "call-1", { lastItems: 2, afterItemId: "" });
      expect({ created, historyTruncated, ids: ids(session) }).toEqual({ created: false, historyTruncated: true, ids: ["i7", "i8"] });
      expect(session).toMatchObject({ status: SessionStatus.ACTIVE, ownerEpoch: 2n, resumedCount: 1, ownerId: "bridge-2" });
      expect(session.etag).toBe((await store.get(TENANT, "call-1", SessionView.BASIC)).etag);
    });

    it("refuses a resume whose after_item_id is unknown without taking the session over", async () => {
      const { store } = await ctx.open();
      const before = await createSession(store, "call-1", { conversationHistory: items(3) });
      await expectReason(resumeWindow(store, "call-1", { lastItems: 0, afterItemId: "nope" }), Reason.HistoryItemNotFound);
      expect(await store.get(TENANT, "call-1", SessionView.BASIC)).toMatchObject({ etag: before.etag, ownerEpoch: 1n, resumedCount: 0 });
      expect((await store.stats(TENANT)).failedResumes).toBe(0);
      // The failure released nothing it held: the next resume goes through.
      expect((await resumeWindow(store, "call-1", { lastItems: 0, afterItemId: "i1" })).session.conversationHistory.map((i) => i.itemId)).toEqual(["i2", "i3"]);
    });

    it("applies the window to a session that create_if_missing creates, and creates nothing for an unknown after_item_id", async () => {
      const { store } = await ctx.open();
      await expectReason(resumeWindow(store, "new-1", { lastItems: 0, afterItemId: "nope" }, true), Reason.HistoryItemNotFound);
      await expectReason(store.get(TENANT, "new-1", SessionView.BASIC), Reason.SessionNotFound);
      const { session, created, historyTruncated } = await resumeWindow(store, "new-1", { lastItems: 2, afterItemId: "" }, true);
      expect({ created, historyTruncated, ids: ids(session) }).toEqual({ created: true, historyTruncated: true, ids: ["n4", "n5"] });
      expect((await getFull(store, "new-1")).conversationHistory).toHaveLength(5);
    });
  });
}
