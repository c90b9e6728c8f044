import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { type HistoryEdit, HistoryEditSchema, SessionStatus } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import { LimitName } from "../../src/session/limits.js";
import { type ConformanceContext, createSession, expectReason, getFull, millisOf, statusUpdate, TENANT, updateOf } from "./helpers.js";

/** An edit of `itemId` replacing the fields named in `paths` with those given. */
function edit(itemId: string, paths: string[], init: { text?: string; data?: Record<string, string | number> } = {}): HistoryEdit {
  return create(HistoryEditSchema, { itemId, updateMask: create(FieldMaskSchema, { paths }), ...init });
}

const turn = (itemId: string, text: string, role = "user") => ({ itemId, role, type: "message", text, data: { source: "asr" } });

export function historyEditTests(ctx: ConformanceContext): void {
  describe("history edits", () => {
    it("replaces the text only, keeping the item's data, id, role, type, place and created_at", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [turn("u1", ""), turn("a1", "Hello, how can I help?", "assistant")] });
      const before = await getFull(store, "call-1");
      clock.advance(1500);
      const { applied, session } = await store.update(TENANT, updateOf("call-1", { seq: 1n, editHistory: [edit("u1", ["text"], { text: "I'd like to check an order" })] }));
      expect(applied).toBe(true);
      expect(session.lastSeq).toBe(1n);
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory.map((i) => [i.itemId, i.text])).toEqual([["u1", "I'd like to check an order"], ["a1", "Hello, how can I help?"]]);
      expect(stored.conversationHistory[0]).toMatchObject({ role: "user", type: "message", data: { source: "asr" } });
      expect(millisOf(stored.conversationHistory[0]?.createdAt)).toBe(millisOf(before.conversationHistory[0]?.createdAt));
      expect(millisOf(stored.lastActivity)).toBe(clock.now().getTime());
    });

    it("replaces the data only, or both; data left unset clears it", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [turn("a1", "Your order ships tomorrow and", "assistant"), turn("a2", "x", "assistant")] });
      await store.update(TENANT, updateOf("call-1", { editHistory: [edit("a1", ["data"], { data: { truncated_at_ms: 1800 } })] }));
      await store.update(TENANT, updateOf("call-1", { editHistory: [edit("a2", ["text", "data"], { text: "y" })] }));
      const [a1, a2] = (await getFull(store, "call-1")).conversationHistory;
      expect(a1).toMatchObject({ text: "Your order ships tomorrow and", data: { truncated_at_ms: 1800 } });
      expect(a2?.text).toBe("y");
      expect(a2?.data).toBeUndefined();
    });

    it("edits the newest item when several share an item_id, and an item appended in the same update", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [turn("dup", "old"), turn("dup", "newer")] });
      await store.update(TENANT, updateOf("call-1", { appendHistory: [turn("u2", "partial")], editHistory: [edit("dup", ["text"], { text: "edited" }), edit("u2", ["text"], { text: "complete" })] }));
      expect((await getFull(store, "call-1")).conversationHistory.map((i) => i.text)).toEqual(["old", "edited", "complete"]);
    });

    it("finds items and function calls by ids outside ASCII, stored and edited byte for byte", async () => {
      const { store } = await ctx.open();
      const itemId = "tour-é-漢字-🙂";
      const callId = "appel-ß-呼出";
      await createSession(store, "call-1", {
        conversationHistory: [turn(itemId, "Grüße")],
        functionCalls: [{ callId, functionName: "lookup", arguments: '{"ville":"Zürich"}', status: "pending" }],
      });
      await store.update(TENANT, updateOf("call-1", {
        appendHistory: [turn("ascii", "next")],
        editHistory: [edit(itemId, ["text"], { text: "Grüße aus 東京" })],
        upsertFunctionCalls: [{ callId, functionName: "lookup", status: "completed", result: '{"temp":"21°"}' }],
      }));
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory.map((i) => [i.itemId, i.text])).toEqual([[itemId, "Grüße aus 東京"], ["ascii", "next"]]);
      expect(stored.functionCalls.map((c) => [c.callId, c.status, c.result])).toEqual([[callId, "completed", '{"temp":"21°"}']]);
    });

    it("refuses an unknown item_id with HISTORY_ITEM_NOT_FOUND naming it, applying nothing of the update", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1", { conversationHistory: [turn("u1", "hi")] });
      const error = await expectReason(
        store.update(TENANT, updateOf("call-1", { seq: 5n, appendHistory: [turn("u2", "more")], editHistory: [edit("u1", ["text"], { text: "changed" }), edit("nope", ["text"], { text: "x" })] })),
        Reason.HistoryItemNotFound,
      );
      expect(error.metadata).toMatchObject({ conversation_id: "call-1", item_id: "nope", field: "edit_history[1].item_id" });
      const stored = await getFull(store, "call-1");
      expect(stored.conversationHistory.map((i) => i.text)).toEqual(["hi"]);
      expect(stored).toMatchObject({ etag: created.etag, lastSeq: 0n, historyBytes: created.historyBytes });
    });

    it("counts each edited item in history_bytes and holds it to max_item_bytes and max_history_bytes", async () => {
      const { store } = await ctx.open({ maxItemBytes: 300, maxHistoryBytes: 1000 });
      const created = await createSession(store, "call-1", { conversationHistory: [turn("u1", "short")] });
      const { session } = await store.update(TENANT, updateOf("call-1", { editHistory: [edit("u1", ["text"], { text: "a".repeat(100) })] }));
      expect(session.historyBytes).toBeGreaterThan(created.historyBytes + 100n);

      const tooBig = await expectReason(store.update(TENANT, updateOf("call-1", { editHistory: [edit("u1", ["text"], { text: "b".repeat(400) })] })), Reason.InvalidArgument);
      expect(tooBig.metadata).toMatchObject({ limit: LimitName.itemBytes });
      expect(tooBig.violations.map((v) => v.field)).toEqual(["edit_history[0]"]);

      // Every edit counts in full, so repeating a 150-byte edit fills a 1000-byte budget within a few writes.
      let accepted = "";
      let refusal: unknown;
      for (let i = 0; i < 10 && refusal === undefined; i++) {
        const text = String(i).repeat(150);
        try {
          await store.update(TENANT, updateOf("call-1", { editHistory: [edit("u1", ["text"], { text })] }));
          accepted = text;
        } catch (err) {
          refusal = err;
        }
      }
      expect(refusal).toBeInstanceOf(SessionError);
      expect((refusal as SessionError).reason).toBe(Reason.LimitExceeded);
      expect((refusal as SessionError).metadata).toMatchObject({ limit: LimitName.historyBytes });
      expect((await getFull(store, "call-1")).conversationHistory[0]?.text).toBe(accepted);
    });

    it("keeps seq, fencing and ended semantics: a duplicate is not applied again, a fenced or ended write edits nothing", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [turn("u1", "one")] });
      await store.update(TENANT, updateOf("call-1", { seq: 1n, editHistory: [edit("u1", ["text"], { text: "two" })] }));
      const duplicate = await store.update(TENANT, updateOf("call-1", { seq: 1n, editHistory: [edit("u1", ["text"], { text: "three" })] }));
      expect(duplicate.applied).toBe(false);
      await expectReason(store.update(TENANT, updateOf("call-1", { ownerEpoch: 7n, seq: 2n, editHistory: [edit("u1", ["text"], { text: "fenced" })] })), Reason.SessionFenced);
      await store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" });
      await expectReason(store.update(TENANT, updateOf("call-1", { seq: 3n, editHistory: [edit("u1", ["text"], { text: "late" })] })), Reason.SessionEnded);
      expect((await getFull(store, "call-1")).conversationHistory[0]?.text).toBe("two");
    });

    it("in a group commit, sees earlier updates of the session and refuses only the update that names an unknown item", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [turn("u1", "a")] });
      await createSession(store, "call-2", { conversationHistory: [turn("u1", "other call")] });
      const results = await store.updateMany([
        { tenant: TENANT, update: updateOf("call-1", { seq: 1n, appendHistory: [turn("a1", "partial", "assistant")] }) },
        { tenant: TENANT, update: updateOf("call-2", { seq: 1n, editHistory: [edit("u1", ["text"], { text: "call 2 edited" })] }) },
        { tenant: TENANT, update: updateOf("call-1", { seq: 2n, editHistory: [edit("a1", ["text"], { text: "truncated" }), edit("u1", ["data"], { data: { n: 1 } })] }) },
        { tenant: TENANT, update: updateOf("call-1", { seq: 3n, editHistory: [edit("missing", ["text"], { text: "x" })] }) },
        { tenant: TENANT, update: updateOf("call-1", { seq: 4n, editHistory: [edit("u1", ["text"], { text: "b" })], paths: ["status"], session: { status: SessionStatus.ACTIVE } }) },
      ]);
      expect(results.map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual([true, true, true, Reason.HistoryItemNotFound, true]);
      const one = await getFull(store, "call-1");
      expect(one.conversationHistory.map((i) => [i.itemId, i.text, i.data])).toEqual([["u1", "b", { n: 1 }], ["a1", "truncated", { source: "asr" }]]);
      expect(one).toMatchObject({ lastSeq: 4n, status: SessionStatus.ACTIVE });
      expect((await getFull(store, "call-2")).conversationHistory[0]?.text).toBe("call 2 edited");
    });

    it("finds items after the session has been resumed and paused, and items of another tenant never", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", { conversationHistory: [turn("u1", "a")] });
      await store.update(TENANT, statusUpdate("call-1", SessionStatus.ACTIVE));
      await store.update(TENANT, statusUpdate("call-1", SessionStatus.PAUSED));
      await store.update(TENANT, updateOf("call-1", { editHistory: [edit("u1", ["text"], { text: "while paused" })] }));
      expect((await getFull(store, "call-1")).conversationHistory[0]?.text).toBe("while paused");
      await store.create("other", { ...(await getFull(store, "call-1")), conversationHistory: [] }, "bridge-9");
      await expectReason(store.update("other", updateOf("call-1", { editHistory: [edit("u1", ["text"], { text: "x" })] })), Reason.HistoryItemNotFound);
    });
  });
}
