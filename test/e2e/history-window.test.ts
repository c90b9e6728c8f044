import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStatus, SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import type { SessionStoreClient } from "../../src/client/session-store-client.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ itemId: `item-${i + 1}`, role: i % 2 ? "assistant" : "user", type: "message", text: `turn ${i + 1}` }));
const ids = (history: { itemId: string }[] | undefined) => (history ?? []).map((i) => i.itemId);

// Over gRPC against the built sidecar on SQLite, whose FULL reads go out as stored bytes
// (the encoded fast path): the window and history_truncated must come through it as they do
// through the decoded path the other backends take.
describe("history edits and windows over gRPC (SQLite)", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar();
    client = sidecar.client();
    await client.createSession({ session: { conversationId: "call-1", conversationHistory: items(6), functionCalls: [{ callId: "c1", functionName: "lookup_order" }] }, ownerId: "bridge-a" });
  });

  afterAll(async () => {
    await sidecar?.stop();
  });

  it("GetSession returns the newest N items and says older ones were left out", async () => {
    const newest = await client.getSession({ conversationId: "call-1", historyWindow: { lastItems: 2 } });
    expect(ids(newest.session?.conversationHistory)).toEqual(["item-5", "item-6"]);
    expect(newest.historyTruncated).toBe(true);
    expect(newest.session?.functionCalls.map((c) => c.callId)).toEqual(["c1"]);
    const whole = await client.getSession({ conversationId: "call-1", historyWindow: { lastItems: 100 } });
    expect({ n: whole.session?.conversationHistory.length, truncated: whole.historyTruncated }).toEqual({ n: 6, truncated: false });
    const after = await client.getSession({ conversationId: "call-1", historyWindow: { afterItemId: "item-4" } });
    expect({ ids: ids(after.session?.conversationHistory), truncated: after.historyTruncated }).toEqual({ ids: ["item-5", "item-6"], truncated: true });
  });

  it("edits an item by item_id, and the window shows the edit", async () => {
    const { applied } = await client.updateSession({ update: { conversationId: "call-1", seq: 1n, editHistory: [{ itemId: "item-6", updateMask: { paths: ["text"] }, text: "turn 6, cut at barge-in" }] } });
    expect(applied).toBe(true);
    const read = await client.getSession({ conversationId: "call-1", historyWindow: { lastItems: 1 } });
    expect(read.session?.conversationHistory[0]).toMatchObject({ itemId: "item-6", role: "assistant", text: "turn 6, cut at barge-in" });
  });

  it("refuses an unknown item_id with NOT_FOUND HISTORY_ITEM_NOT_FOUND naming it, in a read and in an update", async () => {
    const read = await expectRpcError(client.getSession({ conversationId: "call-1", historyWindow: { afterItemId: "nope" } }), status.NOT_FOUND, "HISTORY_ITEM_NOT_FOUND");
    expect(read.details.errorInfo?.metadata).toMatchObject({ item_id: "nope", field: "history_window.after_item_id", conversation_id: "call-1" });
    const write = await expectRpcError(
      client.updateSession({ update: { conversationId: "call-1", editHistory: [{ itemId: "nope", updateMask: { paths: ["text"] }, text: "x" }] } }),
      status.NOT_FOUND,
      "HISTORY_ITEM_NOT_FOUND",
    );
    expect(write.details.errorInfo?.metadata).toMatchObject({ item_id: "nope", field: "edit_history[0].item_id" });
  });

  it("refuses malformed edits and windows with INVALID_ARGUMENT naming the field", async () => {
    const edit = await expectRpcError(
      client.updateSession({ update: { conversationId: "call-1", editHistory: [{ itemId: "", updateMask: { paths: ["role"] } }] } }),
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
    expect(edit.details.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["update.edit_history[0].item_id", "update.edit_history[0].update_mask"]);
    const window = await expectRpcError(
      client.getSession({ conversationId: "call-1", view: SessionView.BASIC, historyWindow: { lastItems: -1 } }),
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
    );
    expect(window.details.badRequest?.fieldViolations.map((v) => v.field)).toEqual(["history_window", "history_window.last_items"]);
  });

  it("ResumeSession takes the call over and returns the window; an unknown after_item_id takes nothing over", async () => {
    await client.updateSession({ update: { conversationId: "call-1", updateMask: { paths: ["status"] }, session: { status: SessionStatus.PAUSED } } });
    await expectRpcError(client.resumeSession({ conversationId: "call-1", ownerId: "bridge-b", historyWindow: { afterItemId: "nope" } }), status.NOT_FOUND, "HISTORY_ITEM_NOT_FOUND");
    expect((await client.getSession({ conversationId: "call-1", view: SessionView.BASIC })).session).toMatchObject({ ownerEpoch: 1n, status: SessionStatus.PAUSED });
    const resumed = await client.resumeSession({ conversationId: "call-1", ownerId: "bridge-b", historyWindow: { lastItems: 3 } });
    expect({ ids: ids(resumed.session?.conversationHistory), truncated: resumed.historyTruncated, created: resumed.created }).toEqual({ ids: ["item-4", "item-5", "item-6"], truncated: true, created: false });
    expect(resumed.session).toMatchObject({ ownerEpoch: 2n, ownerId: "bridge-b", status: SessionStatus.ACTIVE });
  });
});
