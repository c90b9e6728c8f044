import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, SessionStatus } from "../../src/client/index.js";
import { realtimeSessionConfig } from "../../examples/model-session/src/model-call.js";
import type { MockRealtimeServer } from "../support/mock-realtime-server.js";
import type { Sidecar } from "../support/sidecar-process.js";
import { type BridgeProcess, startBridgeProcess } from "./support/bridge-process.js";
import { MockVaicCall } from "./support/mock-vaic.js";
import { MODEL_API_KEY, type ModelPods, startModelPods } from "./support/model-pods.js";
import { audioReceived, conversationOf, eventTypes, storedWhenComplete } from "./support/model-conversation.js";
import { hearAnswer, say } from "./support/vaic-speech.js";

// The AudioCodes bridge with a model behind it (--model-url): two pods, each a bridge with its own
// sidecar, both sidecars on one Redis, and one mock Realtime endpoint that records what each model
// session is given.
const CODEC = "audio/pcm" as const; // raw/lpcm16_24 is relayed as the Realtime API's audio/pcm (24 kHz)

describe("AudioCodes bridge with a Realtime model", () => {
  let pods: ModelPods;
  let model: MockRealtimeServer;
  let sidecars: Sidecar[];
  let bridges: BridgeProcess[];

  beforeAll(async () => {
    pods = await startModelPods(["pod-a", "pod-b"], { modelUrl: (url) => `${url}?model=gpt-realtime` });
    ({ model, sidecars, bridges } = pods);
  });
  afterAll(() => pods?.stop());

  /** Places a call on pod A, talks (a question, then an order lookup), and returns what was sent and stored. */
  async function talk(conversationId: string): Promise<{ call: MockVaicCall; frames: Buffer[]; stored: Session; modelIndex: number }> {
    const modelIndex = model.sessions.length;
    const call = new MockVaicCall({ conversationId, supportedMediaFormats: ["raw/lpcm16", "raw/lpcm16_24"] });
    expect(await call.initiate(bridges[0]!.url)).toBe("raw/lpcm16_24");
    await call.startStream();
    const frames = say(call, "hello there", CODEC);
    const first = await hearAnswer(call, CODEC);
    expect(first).toMatchObject({ text: 'Turn 1. You first said "hello there".', mediaFormat: "raw/lpcm16_24" });
    frames.push(...say(call, "where is order a-1001", CODEC));
    expect((await hearAnswer(call, CODEC)).text).toBe("Order A-1001 is shipped.");

    const first_ = model.sessions[modelIndex]!;
    expect(first_.authorization).toBe(`Bearer ${MODEL_API_KEY}`);
    expect(first_.model).toBe("gpt-realtime");
    expect(eventTypes(first_)[0]).toBe("session.update");
    expect(audioReceived(first_)).toEqual(Buffer.concat(frames)); // the caller's audio reached the model untouched
    const stored = await storedWhenComplete(sidecars[0]!.client(), conversationId, 5, (s) => s.functionCalls[0]?.result !== "" && s.activeResponseId === "" && s.currentTurn === 3);
    return { call, frames, stored, modelIndex };
  }

  it("records the conversation: transcripts edited in by item id, the function call with its result, the model's ids", async () => {
    const { call, frames, stored, modelIndex } = await talk("model-record-1");
    const m = model.sessions[modelIndex]!;
    expect(stored.conversationHistory.map((h) => [h.itemId, h.role, h.type, h.text])).toEqual([
      [m.conversation[0]!.id, "user", "message", "hello there"],
      [m.conversation[1]!.id, "assistant", "message", 'Turn 1. You first said "hello there".'],
      [m.conversation[2]!.id, "user", "message", "where is order a-1001"],
      [m.conversation[3]!.id, "assistant", "function_call", ""],
      [m.conversation[5]!.id, "assistant", "message", "Order A-1001 is shipped."],
    ]);
    expect(stored.functionCalls.map((f) => [f.callId, f.functionName, f.arguments, f.status, JSON.parse(f.result)])).toEqual([
      [m.conversation[3]!.call_id, "lookup_order", '{"order_id":"A-1001"}', "completed", { found: true, order_id: "A-1001", status: "shipped", carrier: "UPS" }],
    ]);
    expect(stored).toMatchObject({ openaiSessionId: m.id, openaiConversationId: `conv_${m.id}`, activeResponseId: "", currentTurn: 3, mediaFormat: "raw/lpcm16_24" });
    expect(stored.metadata?.["realtime_session"]).toEqual(m.received[0]!.session);
    expect(Buffer.concat(stored.audioBuffer.map((c) => Buffer.from(c.data)))).toEqual(Buffer.concat(frames));
    await call.end();
  });

  for (const where of ["the same bridge", "another bridge on another sidecar"]) {
    it(`resumes on ${where}: the new model session gets exactly the prior conversation, and the next answer follows from it`, async () => {
      const { call, stored, modelIndex } = await talk(`model-resume-${where.length}`);
      const before = model.sessions[modelIndex]!;
      const priorConversation = conversationOf(before);
      call.drop();
      const target = where === "the same bridge" ? bridges[0]! : bridges[1]!;
      expect((await call.resume(target.url)).type).toBe("session.accepted");

      const after = await model.session(modelIndex + 1);
      // Configuration first, then the conversation, before any audio: nothing more, nothing less.
      expect(eventTypes(after)).toEqual(["session.update", ...priorConversation.map(() => "conversation.item.create")]);
      expect(after.received[0]!.session).toEqual(before.received[0]!.session);
      expect(conversationOf(after)).toEqual(priorConversation);
      // The function call is followed by its own output, and the stored ids are kept.
      expect(after.conversation.map((i) => i.id).slice(0, 4)).toEqual(before.conversation.map((i) => i.id).slice(0, 4));

      await call.startStream();
      say(call, "and my order", CODEC);
      expect((await hearAnswer(call, CODEC)).text).toBe('Turn 3. You first said "hello there". Order A-1001 is shipped.');
      const resumed = await storedWhenComplete(sidecars[1]!.client(), call.conversationId, 7);
      expect(resumed).toMatchObject({ openaiSessionId: after.id, resumedCount: 1, ownerId: target.ownerId, currentTurn: stored.currentTurn + 1 });
      expect(resumed.conversationHistory.slice(-2).map((h) => [h.role, h.text])).toEqual([
        ["user", "and my order"],
        ["assistant", 'Turn 3. You first said "hello there". Order A-1001 is shipped.'],
      ]);
      await call.end();
    });
  }

  it("answers a resume with session.error when the model refuses the key, and the call stays resumable", async () => {
    const wrongKey = await startBridgeProcess({ sidecar: sidecars[0]!.address, ownerId: "pod-wrong-key", modelUrl: model.url, modelApiKey: "not-the-key" });
    bridges.push(wrongKey);
    const call = new MockVaicCall({ conversationId: "model-refused-1", supportedMediaFormats: ["raw/mulaw"] });
    await expect(call.initiate(wrongKey.url)).rejects.toMatchObject({ reason: "The speech model is unavailable" });
    expect((await call.resume(bridges[0]!.url)).type).toBe("session.accepted");
    await call.end();
  });

  it("on resume runs again a tool call whose result was never stored, gives the model its output, and the model answers it", async () => {
    // The bridge that placed this call died between the model's call and the tool's result.
    const store = sidecars[0]!.client();
    const conversationId = "model-unanswered-1";
    const { session } = await store.createSession({
      ownerId: "pod-dead",
      session: { conversationId, bridgeType: "audiocodes", mediaFormat: "raw/lpcm16_24", metadata: { realtime_session: realtimeSessionConfig({ type: "audio/pcm", rate: 24_000 }) } },
    });
    await store.updateSession({
      update: {
        conversationId,
        ownerEpoch: session!.ownerEpoch,
        appendHistory: [
          { itemId: "item_old_1", role: "user", type: "message", text: "where is order b-2001" },
          { itemId: "item_old_2", role: "assistant", type: "function_call", data: { call_id: "call_old_2" } },
        ],
        upsertFunctionCalls: [{ callId: "call_old_2", functionName: "lookup_order", arguments: '{"order_id":"B-2001"}', status: "in_progress" }],
        updateMask: { paths: ["status"] },
        session: { status: SessionStatus.PAUSED },
      },
    });
    const modelIndex = model.sessions.length;
    const call = new MockVaicCall({ conversationId });
    expect((await call.resume(bridges[0]!.url)).type).toBe("session.accepted");
    expect((await hearAnswer(call, CODEC)).text).toBe("Order B-2001 is delivered.");
    const m = model.sessions[modelIndex]!;
    expect(eventTypes(m)).toEqual(["session.update", "conversation.item.create", "conversation.item.create", "conversation.item.create", "response.create"]);
    expect(m.received[3]).toMatchObject({ item: { type: "function_call_output", call_id: "call_old_2" } });
    const stored = await storedWhenComplete(store, conversationId, 3);
    expect(stored.functionCalls[0]).toMatchObject({ callId: "call_old_2", status: "completed" });
    expect(JSON.parse(stored.functionCalls[0]!.result)).toMatchObject({ found: true, status: "delivered" });
    await call.end();
  });

  it("when the model's socket breaks mid-call, closes the platform socket (1011) and the platform's resume gets a new model session", async () => {
    const { call, modelIndex } = await talk("model-outage-1");
    const socket = call.socket!;
    model.sessions[modelIndex]!.drop();
    expect(await socket.closed).toEqual({ code: 1011, reason: "model session lost" });
    expect((await call.resume(bridges[1]!.url)).type).toBe("session.accepted");
    const fresh = await model.session(modelIndex + 1);
    expect(conversationOf(fresh)).toEqual(conversationOf(model.sessions[modelIndex]!));
    await call.startStream();
    say(call, "and my order", CODEC);
    expect((await hearAnswer(call, CODEC)).text).toBe('Turn 3. You first said "hello there". Order A-1001 is shipped.');
    await call.end();
  });
});
