import { readFileSync } from "node:fs";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { realtimeRestore, type RestoreBudget, SessionSchema, type SessionStoreClient } from "../../src/client/index.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

interface Case {
  name: string;
  session: JsonObject;
  budget?: RestoreBudget;
  expected: { events: unknown[]; unansweredCallIds: string[]; droppedItems: number };
}

/** The fixtures the Python and Go clients' tests read too. */
const { cases } = JSON.parse(readFileSync(new URL("../fixtures/realtime-restore.json", import.meta.url), "utf8")) as { cases: Case[] };

describe("realtimeRestore: the shared fixtures", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const restore = realtimeRestore(fromJson(SessionSchema, c.session), c.budget);
    // Through JSON, as a bridge sends them: what the fixture holds is the wire form.
    expect(JSON.parse(JSON.stringify(restore.events))).toEqual(c.expected.events);
    expect(restore.unansweredCalls.map((call) => call.callId)).toEqual(c.expected.unansweredCallIds);
    expect(restore.droppedItems).toBe(c.expected.droppedItems);
  });
});

describe("realtimeRestore: a session as a sidecar returns it", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;
  beforeAll(async () => {
    sidecar = await startSidecar();
    client = sidecar.client();
  });
  afterAll(async () => {
    client.close();
    await sidecar.stop();
  });

  it("replays what a bridge recorded, in the order it recorded it, after a resume", async () => {
    const conversationId = "restore-1";
    const realtime = { type: "realtime", instructions: "You are the bank's assistant." };
    await client.createSession({ session: { conversationId, bridgeType: "audiocodes", metadata: { realtime_session: realtime } } });
    const write = (update: Parameters<SessionStoreClient["updateSession"]>[0]["update"]) => client.updateSession({ update: { conversationId, ...update } });
    await write({ appendHistory: [{ itemId: "item_u1", role: "user", type: "message", text: "What is my balance?" }] });
    // The model's call: a marker in the history, then the call itself, then (later) its result.
    await write({
      appendHistory: [{ itemId: "item_fc1", role: "assistant", type: "function_call", data: { call_id: "call_1" } }],
      upsertFunctionCalls: [{ callId: "call_1", functionName: "get_balance", arguments: "{}", status: "pending" }],
    });
    await write({ upsertFunctionCalls: [{ callId: "call_1", functionName: "get_balance", arguments: "{}", status: "completed", result: '{"balance":10.5}' }] });
    await write({ appendHistory: [{ itemId: "item_a1", role: "assistant", type: "message", text: "You have 10.50 euros." }] });
    await write({ upsertFunctionCalls: [{ callId: "call_2", functionName: "send_sms", arguments: '{"to":"+15550100"}', status: "pending" }] });

    const { session } = await client.resumeSession({ conversationId, ownerId: "bridge-b" });
    const restore = realtimeRestore(session!);

    expect(restore.events).toEqual([
      { type: "session.update", session: realtime },
      { type: "conversation.item.create", item: { id: "item_u1", type: "message", role: "user", content: [{ type: "input_text", text: "What is my balance?" }] } },
      { type: "conversation.item.create", item: { id: "item_fc1", type: "function_call", call_id: "call_1", name: "get_balance", arguments: "{}" } },
      { type: "conversation.item.create", item: { type: "function_call_output", call_id: "call_1", output: '{"balance":10.5}' } },
      { type: "conversation.item.create", item: { id: "item_a1", type: "message", role: "assistant", content: [{ type: "output_text", text: "You have 10.50 euros." }] } },
      { type: "conversation.item.create", item: { type: "function_call", call_id: "call_2", name: "send_sms", arguments: '{"to":"+15550100"}' } },
    ]);
    expect(restore.unansweredCalls.map((call) => [call.callId, call.status])).toEqual([["call_2", "pending"]]);
    expect(restore.droppedItems).toBe(0);
  });
});
