import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/session/errors.js";
import {
  AudioChunkSchema,
  ConversationItemSchema,
  FunctionCallSchema,
  SessionStatus,
  SessionView,
} from "../../src/gen/sessionstore/v1/session_store_pb.js";
import {
  bytes,
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

export function lifecycleTests(ctx: ConformanceContext): void {
  describe("create and get", () => {
    it("creates an INITIATED session at epoch 1 stamped with the clock", async () => {
      const { store, clock } = await ctx.open();
      const created = await createSession(store, "call-1", { sessionId: "s-1", metadata: { lang: "en" } });
      expect(created.status).toBe(SessionStatus.INITIATED);
      expect(created.resumedCount).toBe(0);
      expect(created.ownerEpoch).toBe(1n);
      expect(created.ownerId).toBe("bridge-1");
      expect(created.lastSeq).toBe(0n);
      expect(created.etag).not.toBe("");
      expect(millisOf(created.createdAt)).toBe(clock.now().getTime());
      expect(millisOf(created.lastActivity)).toBe(clock.now().getTime());
      expect(await getFull(store, "call-1")).toEqual(created);
      expect((await getFull(store, "call-1")).metadata).toEqual({ lang: "en" });
    });

    it("ignores server-set fields in the input", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1", {
        status: SessionStatus.ENDED,
        resumedCount: 7,
        ownerEpoch: 9n,
        lastSeq: 5n,
        endReason: "nope",
        etag: "forged",
      });
      expect(created).toMatchObject({ status: SessionStatus.INITIATED, resumedCount: 0, ownerEpoch: 1n, lastSeq: 0n, endReason: "" });
      expect(created.etag).not.toBe("forged");
    });

    it("refuses a duplicate id, also when the first has ended", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await expectReason(createSession(store, "call-1"), Reason.SessionExists);
      await store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" });
      await expectReason(createSession(store, "call-1"), Reason.SessionExists);
    });

    it("reports a missing session as SESSION_NOT_FOUND", async () => {
      const { store } = await ctx.open();
      await expectReason(getFull(store, "nobody"), Reason.SessionNotFound);
    });

    it("round-trips history, function calls and audio exactly", async () => {
      const { store } = await ctx.open();
      const audio = Uint8Array.from({ length: 3200 }, (_, i) => (i * 7) % 256);
      await createSession(store, "call-1", {
        conversationHistory: [
          { itemId: "i1", role: "user", type: "message", text: "hello", data: { confidence: 0.9 } },
          { itemId: "i2", role: "assistant", type: "message", text: "hi there" },
        ],
        functionCalls: [{ callId: "c1", functionName: "lookup", arguments: '{"q":1}', status: "pending" }],
        audioBuffer: [{ data: audio }],
      });
      const got = await getFull(store, "call-1");
      expect(got.conversationHistory.map((i) => [i.itemId, i.role, i.type, i.text])).toEqual([
        ["i1", "user", "message", "hello"],
        ["i2", "assistant", "message", "hi there"],
      ]);
      expect(got.conversationHistory[0]?.data).toEqual({ confidence: 0.9 });
      expect(got.conversationHistory.every((i) => i.createdAt !== undefined)).toBe(true);
      expect(got.functionCalls).toHaveLength(1);
      expect(got.functionCalls[0]).toMatchObject({ callId: "c1", functionName: "lookup", arguments: '{"q":1}', status: "pending" });
      expect(got.audioBuffer).toHaveLength(1);
      expect(got.audioBuffer[0]?.seq).toBe(1n);
      expect(Buffer.from(got.audioBuffer[0]!.data).equals(Buffer.from(audio))).toBe(true);
    });

    it("leaves the children out of the BASIC view", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", {
        conversationHistory: [{ itemId: "i1", role: "user", text: "hello" }],
        functionCalls: [{ callId: "c1", functionName: "f" }],
        audioBuffer: [{ data: bytes(10, 1) }],
      });
      const basic = await store.get(TENANT, "call-1", SessionView.BASIC);
      expect(basic.conversationHistory).toEqual([]);
      expect(basic.functionCalls).toEqual([]);
      expect(basic.audioBuffer).toEqual([]);
      const byDefault = await store.get(TENANT, "call-1", SessionView.UNSPECIFIED);
      expect(byDefault.conversationHistory).toHaveLength(1);
      expect(byDefault.functionCalls).toHaveLength(1);
      expect(byDefault.audioBuffer).toHaveLength(1);
    });

    it("hands out copies: changing a returned session changes nothing stored", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1", { conversationHistory: [{ itemId: "i1" }] });
      created.botName = "mutated";
      created.conversationHistory.push(create(ConversationItemSchema, { itemId: "x" }));
      const got = await getFull(store, "call-1");
      expect(got.botName).toBe("bot");
      expect(got.conversationHistory).toHaveLength(1);
    });
  });

  describe("end", () => {
    it("sets ENDED with the reason, \"normal\" by default", async () => {
      const { store } = await ctx.open();
      await createSession(store, "a");
      await createSession(store, "b");
      const a = await store.end(TENANT, { conversationId: "a", reason: "caller hung up", ownerEpoch: 1n, etag: "" });
      const b = await store.end(TENANT, { conversationId: "b", reason: "", ownerEpoch: 0n, etag: "" });
      expect(a).toMatchObject({ status: SessionStatus.ENDED, endReason: "caller hung up" });
      expect(b).toMatchObject({ status: SessionStatus.ENDED, endReason: "normal" });
      expect((await getFull(store, "a")).endReason).toBe("caller hung up");
    });

    it("returns an ended session unchanged when ended again", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1");
      const first = await store.end(TENANT, { conversationId: "call-1", reason: "done", ownerEpoch: 0n, etag: "" });
      clock.advance(1000);
      const again = await store.end(TENANT, { conversationId: "call-1", reason: "other", ownerEpoch: 0n, etag: "" });
      expect(again).toEqual(first);
      expect(await getFull(store, "call-1")).toMatchObject({ etag: first.etag, endReason: "done" });
    });

    it("refuses a stale epoch and a wrong etag, changing nothing", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await resume(store, "call-1");
      const before = await getFull(store, "call-1");
      await expectReason(store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 1n, etag: "" }), Reason.SessionFenced);
      await expectReason(store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 2n, etag: "stale" }), Reason.EtagMismatch);
      expect(await getFull(store, "call-1")).toEqual(before);
    });

    it("makes the session refuse writes with SESSION_ENDED", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1");
      await store.end(TENANT, { conversationId: "call-1", reason: "", ownerEpoch: 0n, etag: "" });
      await expectReason(store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "late" }] })), Reason.SessionEnded);
      await expectReason(store.update(TENANT, statusUpdate("call-1", SessionStatus.ACTIVE)), Reason.SessionEnded);
      expect((await getFull(store, "call-1")).conversationHistory).toEqual([]);
    });

    it("fails with SESSION_NOT_FOUND for a missing session", async () => {
      const { store } = await ctx.open();
      await expectReason(store.end(TENANT, { conversationId: "nobody", reason: "", ownerEpoch: 0n, etag: "" }), Reason.SessionNotFound);
    });
  });

  describe("delete", () => {
    it("removes the session and its children", async () => {
      const { store } = await ctx.open();
      await createSession(store, "call-1", {
        conversationHistory: [{ itemId: "i1" }],
        functionCalls: [create(FunctionCallSchema, { callId: "c1" })],
        audioBuffer: [create(AudioChunkSchema, { data: bytes(100, 1) })],
      });
      await store.delete(TENANT, "call-1", "");
      await expectReason(getFull(store, "call-1"), Reason.SessionNotFound);
      await createSession(store, "call-1");
      const again = await getFull(store, "call-1");
      expect(again.conversationHistory).toEqual([]);
      expect(again.functionCalls).toEqual([]);
      expect(again.audioBuffer).toEqual([]);
    });

    it("checks the etag precondition", async () => {
      const { store } = await ctx.open();
      const created = await createSession(store, "call-1");
      await expectReason(store.delete(TENANT, "call-1", "stale"), Reason.EtagMismatch);
      expect(await getFull(store, "call-1")).toEqual(created);
      await store.delete(TENANT, "call-1", created.etag);
      await expectReason(getFull(store, "call-1"), Reason.SessionNotFound);
    });

    it("fails with SESSION_NOT_FOUND for a missing session", async () => {
      const { store } = await ctx.open();
      await expectReason(store.delete(TENANT, "nobody", ""), Reason.SessionNotFound);
    });

    it("never repeats an etag when a session is re-created", async () => {
      const { store } = await ctx.open();
      const first = await createSession(store, "call-1");
      await store.delete(TENANT, "call-1", "");
      const second = await createSession(store, "call-1");
      expect(second.etag).not.toBe(first.etag);
    });
  });
}
