import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import type { ManualClock } from "../../src/runtime/clock.js";
import {
  ConversationItemSchema,
  FunctionCallSchema,
  SessionSchema,
  SessionView,
} from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import type { Store } from "../../src/store/store.js";
import { type ConformanceContext, createSession, expectReason, getFull, TENANT, updateOf } from "./helpers.js";

type ItemInit = MessageInitShape<typeof ConversationItemSchema>;
type CallInit = MessageInitShape<typeof FunctionCallSchema>;

// The documented measure: the protobuf encoding as stored, with the created_at the store sets.
function itemBytes(item: ItemInit, clock: ManualClock): number {
  return toBinary(ConversationItemSchema, create(ConversationItemSchema, { ...item, createdAt: timestampFromDate(clock.now()) })).length;
}

function callBytes(call: CallInit, clock: ManualClock): number {
  return toBinary(FunctionCallSchema, create(FunctionCallSchema, { ...call, createdAt: timestampFromDate(clock.now()) })).length;
}

async function headerBytes(store: Store, id: string): Promise<number> {
  return toBinary(SessionSchema, await store.get(TENANT, id, SessionView.BASIC)).length;
}

function textItem(itemId: string, length: number): ItemInit {
  return { itemId, role: "user", type: "message", text: "x".repeat(length) };
}

function limitOf(error: SessionError): Record<string, string> {
  return { limit: error.metadata.limit ?? "", value: error.metadata.value ?? "" };
}

/** Runs `refused` and checks that the session reads back exactly as before. */
async function expectUnchanged(store: Store, id: string, refused: () => Promise<SessionError>): Promise<SessionError> {
  const before = await getFull(store, id);
  const error = await refused();
  expect(await getFull(store, id)).toEqual(before);
  return error;
}

export function sizeLimitTests(ctx: ConformanceContext): void {
  describe("max_history_bytes", () => {
    it("counts each item and call as stored, accepts up to the limit and refuses past it", async () => {
      const probe = await ctx.open();
      const size = itemBytes(textItem("i1", 100), probe.clock);
      const { store, clock } = await ctx.open({ maxHistoryBytes: 3 * size });
      await createSession(store, "call-1");
      const below = await store.update(TENANT, updateOf("call-1", { seq: 1n, appendHistory: [textItem("i1", 100), textItem("i2", 100)] }));
      expect(below.session.historyBytes).toBe(BigInt(2 * size));
      const at = await store.update(TENANT, updateOf("call-1", { seq: 2n, appendHistory: [textItem("i3", 100)] }));
      expect(at.session.historyBytes).toBe(BigInt(3 * size));

      const over = await expectUnchanged(store, "call-1", () =>
        expectReason(store.update(TENANT, updateOf("call-1", { seq: 3n, appendHistory: [{ itemId: "i4" }] })), Reason.LimitExceeded),
      );
      expect(limitOf(over)).toEqual({ limit: "max_history_bytes", value: String(3 * size) });
      expect(over.metadata.history_bytes).toBe(String(3 * size));
      const call = { callId: "c1", functionName: "lookup", arguments: "{}" };
      expect(callBytes(call, clock)).toBeGreaterThan(0);
      await expectUnchanged(store, "call-1", () => expectReason(store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [call] })), Reason.LimitExceeded));
      // Audio and header fields are not history: they still go through.
      await store.update(TENANT, updateOf("call-1", { seq: 3n, appendAudio: [{ data: new Uint8Array([1, 2]) }], paths: ["caller"], session: { caller: "bob" } }));
      const full = await getFull(store, "call-1");
      expect([full.conversationHistory.length, full.historyBytes, full.lastSeq, full.caller]).toEqual([3, BigInt(3 * size), 3n, "bob"]);
    });

    it("counts every upsert of a call in full, the replaced one included", async () => {
      const { store, clock } = await ctx.open();
      await createSession(store, "call-1");
      const pending = { callId: "c1", functionName: "lookup", arguments: "{}", status: "pending" };
      const done = { ...pending, status: "completed", result: '{"ok":true}' };
      await store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [pending] }));
      const { session } = await store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [done] }));
      expect(session.historyBytes).toBe(BigInt(callBytes(pending, clock) + callBytes(done, clock)));
      expect((await getFull(store, "call-1")).functionCalls).toHaveLength(1);
    });

    it("holds a create's initial history and calls to the limit", async () => {
      const probe = await ctx.open();
      const size = itemBytes(textItem("i1", 50), probe.clock);
      const { store } = await ctx.open({ maxHistoryBytes: 2 * size });
      const at = await createSession(store, "call-at", { conversationHistory: [textItem("i1", 50), textItem("i2", 50)] });
      expect(at.historyBytes).toBe(BigInt(2 * size));
      expect((await getFull(store, "call-at")).historyBytes).toBe(BigInt(2 * size));
      const over = await expectReason(
        createSession(store, "call-over", { conversationHistory: [textItem("i1", 50), textItem("i2", 50)], functionCalls: [{ callId: "c1" }] }),
        Reason.LimitExceeded,
      );
      expect(limitOf(over)).toEqual({ limit: "max_history_bytes", value: String(2 * size) });
      await expectReason(getFull(store, "call-over"), Reason.SessionNotFound);
    });

    it("decides a group's updates on the bytes its earlier updates added", async () => {
      const probe = await ctx.open();
      const size = itemBytes(textItem("i", 80), probe.clock);
      const { store } = await ctx.open({ maxHistoryBytes: 2 * size });
      await createSession(store, "call-1");
      const results = await store.updateMany(
        [1n, 2n, 3n].map((seq) => ({ tenant: TENANT, update: updateOf("call-1", { seq, appendHistory: [textItem("i", 80)] }) })),
      );
      expect(results.map((r) => (r instanceof SessionError ? r.reason : r.applied))).toEqual([true, true, Reason.LimitExceeded]);
      const full = await getFull(store, "call-1");
      expect([full.conversationHistory.length, full.historyBytes, full.lastSeq]).toEqual([2, BigInt(2 * size), 2n]);
      // A duplicate of an applied update is still acknowledged, not refused.
      expect((await store.update(TENANT, updateOf("call-1", { seq: 2n, appendHistory: [textItem("i", 80)] }))).applied).toBe(false);
    });
  });

  describe("max_items_per_update", () => {
    it("accepts up to the limit of items and calls together and refuses more as INVALID_ARGUMENT", async () => {
      const { store } = await ctx.open({ maxItemsPerUpdate: 3 });
      await createSession(store, "call-1");
      await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "a" }] }));
      await store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "b" }, { itemId: "c" }], upsertFunctionCalls: [{ callId: "c1" }] }));
      const over = await expectUnchanged(store, "call-1", () =>
        expectReason(
          store.update(TENANT, updateOf("call-1", { appendHistory: [{ itemId: "d" }, { itemId: "e" }], upsertFunctionCalls: [{ callId: "c2" }, { callId: "c3" }] })),
          Reason.InvalidArgument,
        ),
      );
      expect(limitOf(over)).toEqual({ limit: "max_items_per_update", value: "3" });
      expect(over.violations.map((v) => v.field)).toEqual(["append_history"]);
      const calls = await expectReason(
        store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [{ callId: "c2" }, { callId: "c3" }, { callId: "c4" }, { callId: "c5" }] })),
        Reason.InvalidArgument,
      );
      expect(calls.violations.map((v) => v.field)).toEqual(["upsert_function_calls"]);
      const create = await expectReason(createSession(store, "call-2", { conversationHistory: [{}, {}, {}, {}] }), Reason.InvalidArgument);
      expect(create.violations.map((v) => v.field)).toEqual(["conversation_history"]);
      await expectReason(getFull(store, "call-2"), Reason.SessionNotFound);
      expect((await getFull(store, "call-1")).conversationHistory.map((i) => i.itemId)).toEqual(["a", "b", "c"]);
    });
  });

  describe("max_item_bytes", () => {
    it("accepts an item or call of exactly the limit and refuses one byte more, naming it", async () => {
      const probe = await ctx.open();
      const limit = itemBytes(textItem("i", 200), probe.clock);
      const { store, clock } = await ctx.open({ maxItemBytes: limit });
      await createSession(store, "call-1");
      await store.update(TENANT, updateOf("call-1", { appendHistory: [textItem("i", 200)] }));
      const over = await expectUnchanged(store, "call-1", () =>
        expectReason(store.update(TENANT, updateOf("call-1", { appendHistory: [textItem("ok", 10), textItem("i", 201)] })), Reason.InvalidArgument),
      );
      expect(limitOf(over)).toEqual({ limit: "max_item_bytes", value: String(limit) });
      expect(over.violations).toEqual([{ field: "append_history[1]", description: `is ${limit + 1} bytes encoded; at most ${limit} are allowed` }]);

      let length = 0;
      while (callBytes({ callId: "c1", result: "r".repeat(length) }, clock) < limit) length += 1;
      const atCall = { callId: "c1", result: "r".repeat(length) };
      expect(callBytes(atCall, clock)).toBe(limit);
      await store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [atCall] }));
      const overCall = await expectReason(store.update(TENANT, updateOf("call-1", { upsertFunctionCalls: [{ ...atCall, result: `${atCall.result}r` }] })), Reason.InvalidArgument);
      expect(overCall.violations.map((v) => v.field)).toEqual(["upsert_function_calls[0]"]);

      const create = await expectReason(createSession(store, "call-2", { conversationHistory: [textItem("i", 201)] }), Reason.InvalidArgument);
      expect(create.violations.map((v) => v.field)).toEqual(["conversation_history[0]"]);
      await expectReason(getFull(store, "call-2"), Reason.SessionNotFound);
    });
  });

  describe("max_header_bytes", () => {
    it("accepts a header of exactly the limit, metadata included, and refuses a write that takes it over", async () => {
      const limit = 4096;
      const { store } = await ctx.open({ maxHeaderBytes: limit });
      await createSession(store, "call-1", { metadata: { pad: "m".repeat(1000) } });
      // Whatever else the header holds, this many more characters of metadata fill it exactly.
      const fill = 1000 + limit - (await headerBytes(store, "call-1"));
      await store.update(TENANT, updateOf("call-1", { paths: ["metadata"], session: { metadata: { pad: "m".repeat(fill) } } }));
      expect(await headerBytes(store, "call-1")).toBe(limit);

      const over = await expectUnchanged(store, "call-1", () =>
        expectReason(store.update(TENANT, updateOf("call-1", { paths: ["metadata"], session: { metadata: { pad: "m".repeat(fill + 1) } } })), Reason.LimitExceeded),
      );
      expect(limitOf(over)).toEqual({ limit: "max_header_bytes", value: String(limit) });
      await expectUnchanged(store, "call-1", () =>
        expectReason(store.update(TENANT, updateOf("call-1", { paths: ["audio_metadata"], session: { audioMetadata: { codec: "pcm16" } } })), Reason.LimitExceeded),
      );
      // Shrinking the metadata makes room again.
      await store.update(TENANT, updateOf("call-1", { paths: ["metadata", "audio_metadata"], session: { metadata: {}, audioMetadata: { codec: "pcm16" } } }));

      const create = await expectReason(createSession(store, "call-2", { audioMetadata: { pad: "a".repeat(limit) } }), Reason.LimitExceeded);
      expect(limitOf(create)).toEqual({ limit: "max_header_bytes", value: String(limit) });
      await expectReason(getFull(store, "call-2"), Reason.SessionNotFound);
    });
  });
}
