import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStatus } from "../../src/client/index.js";
import type { MockRealtimeServer } from "../support/mock-realtime-server.js";
import type { Sidecar } from "../support/sidecar-process.js";
import { type BridgeProcess, runMockTwilio, startBridgeProcess, startMockRealtimeProcess } from "./support/bridge-process.js";
import { audioReceived, conversationOf, eventTypes, storedWhenComplete } from "./support/model-conversation.js";
import { TwilioStream } from "./support/mock-twilio.js";
import { MODEL_API_KEY, type ModelPods, startModelPods } from "./support/model-pods.js";

// The Twilio Media Streams bridge on two pods (a bridge and a sidecar each, both sidecars on one
// Redis) and one mock Realtime endpoint recording what each model session is given.
describe("Twilio Media Streams bridge", () => {
  let pods: ModelPods;
  let model: MockRealtimeServer;
  let sidecars: Sidecar[];
  let bridges: BridgeProcess[];

  beforeAll(async () => {
    pods = await startModelPods(["twilio-a", "twilio-b"], { platform: "twilio" });
    ({ model, sidecars, bridges } = pods);
  });
  afterAll(() => pods?.stop());

  for (const where of ["the same bridge", "another bridge on another sidecar"]) {
    it(`keeps a call across a new stream on ${where}: the new model session gets exactly the prior conversation and goes on from it`, async () => {
      const callSid = `CA${where.length}0000000000000000000000000000000`;
      const modelIndex = model.sessions.length;
      const first = await TwilioStream.open(bridges[0]!.url, callSid, { caller: "+15550142", botName: "order-desk" });
      expect((await first.nextAnswer()).text).toBe("Hello, how can I help?");
      const frames = first.say("hello there");
      expect((await first.nextAnswer()).text).toBe('Turn 1. You first said "hello there".');
      frames.push(...first.say("where is order a-1001"));
      expect((await first.nextAnswer()).text).toBe("Order A-1001 is shipped.");
      first.dtmf("5");

      const before = model.sessions[modelIndex]!;
      expect(before.authorization).toBe(`Bearer ${MODEL_API_KEY}`);
      expect(audioReceived(before)).toEqual(Buffer.concat(frames)); // μ-law goes to the model as it came
      const stored = await storedWhenComplete(sidecars[0]!.client(), callSid, 6, (s) => s.conversationHistory.some((h) => h.type === "dtmf") && s.currentTurn === 4);
      expect(stored).toMatchObject({ conversationId: callSid, bridgeType: "twilio", caller: "+15550142", botName: "order-desk", mediaFormat: "audio/x-mulaw;rate=8000", sessionId: first.streamSid });
      expect(stored).toMatchObject({ openaiSessionId: before.id, openaiConversationId: `conv_${before.id}`, activeResponseId: "" });
      expect(stored.conversationHistory.map((h) => [h.role, h.type, h.text])).toEqual([
        ["assistant", "message", "Hello, how can I help?"],
        ["user", "message", "hello there"],
        ["assistant", "message", 'Turn 1. You first said "hello there".'],
        ["user", "message", "where is order a-1001"],
        ["assistant", "function_call", ""],
        ["assistant", "message", "Order A-1001 is shipped."],
        ["user", "dtmf", "5"],
      ]);
      expect(stored.functionCalls.map((f) => [f.functionName, f.arguments, f.status, JSON.parse(f.result).status])).toEqual([["lookup_order", '{"order_id":"A-1001"}', "completed", "shipped"]]);
      expect(Buffer.concat(stored.audioBuffer.map((c) => Buffer.from(c.data)))).toEqual(Buffer.concat(frames));
      const prior = conversationOf(before);
      first.drop(); // Twilio does not reconnect: the application starts a new stream on the same call
      const target = where === "the same bridge" ? bridges[0]! : bridges[1]!;
      const second = await TwilioStream.open(target.url, callSid, { caller: "+15550142", botName: "order-desk" });
      expect((await second.nextAnswer()).text).toBe('Sorry, we were cut off. You last said "where is order a-1001".');
      const after = model.sessions[modelIndex + 1]!;
      expect(eventTypes(after)).toEqual(["session.update", ...prior.map(() => "conversation.item.create"), "response.create"]);
      expect(after.received[0]!.session).toEqual(before.received[0]!.session);
      expect(conversationOf(after).slice(0, prior.length)).toEqual(prior);
      second.say("and my order");
      expect((await second.nextAnswer()).text).toBe('Turn 3. You first said "hello there". Order A-1001 is shipped.');
      const resumed = (await sidecars[1]!.client().getSession({ conversationId: callSid })).session!;
      expect(resumed).toMatchObject({ resumedCount: 1, ownerId: target.ownerId, ownerEpoch: 2n, openaiSessionId: after.id, status: SessionStatus.ACTIVE });
      await second.stop();
      const paused = await storedWhenComplete(sidecars[1]!.client(), callSid, 9, (s) => s.status === SessionStatus.PAUSED);
      expect(paused.conversationHistory.at(-1)).toMatchObject({ role: "assistant", text: 'Turn 3. You first said "hello there". Order A-1001 is shipped.' });
    });
  }

  it("on barge-in clears Twilio's playback, truncates the answer in the model, and stores the part the caller heard", async () => {
    const callSid = "CAbargein000000000000000000000001";
    const modelIndex = model.sessions.length;
    const stream = await TwilioStream.open(bridges[0]!.url, callSid);
    stream.echoMarks = false; // the greeting is still playing
    const greeting = await stream.nextAnswer();
    expect(greeting.text).toBe("Hello, how can I help?");
    stream.release(1); // the caller has heard the first chunk
    stream.say("stop");
    expect(await stream.nextAnswer()).toMatchObject({ cleared: true });
    expect((await stream.nextAnswer()).text).toBe('Turn 1. You first said "stop".');

    const m = model.sessions[modelIndex]!;
    const greetingId = m.conversation[0]!.id;
    const firstChunkMs = Math.floor(Math.ceil(greeting.audio.length / 3) / 8);
    expect(m.received.find((e) => e.type === "conversation.item.truncate")).toMatchObject({ item_id: greetingId, content_index: 0, audio_end_ms: firstChunkMs });
    const stored = await storedWhenComplete(sidecars[0]!.client(), callSid, 3, (s) => s.conversationHistory[0]?.data?.["truncated"] === true);
    const heard = stored.conversationHistory[0]!;
    expect(heard).toMatchObject({ itemId: greetingId, role: "assistant", data: { truncated: true, audio_end_ms: firstChunkMs } });
    expect("Hello, how can I help?".startsWith(heard.text)).toBe(true);
    expect(heard.text.length).toBeLessThan("Hello, how can I help?".length);
    await stream.stop();
  });

  it("closes a stream for a call that has ended, leaving it ended", async () => {
    const callSid = "CAended0000000000000000000000001";
    const stream = await TwilioStream.open(bridges[0]!.url, callSid);
    await stream.nextAnswer();
    await stream.stop();
    const client = sidecars[0]!.client();
    await client.endSession({ conversationId: callSid, reason: "call completed" });
    const late = await TwilioStream.open(bridges[1]!.url, callSid);
    expect(await late.closed).toEqual({ code: 1000, reason: "call cannot be resumed" });
    expect((await client.getSession({ conversationId: callSid })).session).toMatchObject({ status: SessionStatus.ENDED, endReason: "call completed" });
  });

  it("runs the README walkthrough: the mock Realtime CLI, two bridges on it, the mock Twilio CLI breaking and continuing a call", async () => {
    const cli = await startMockRealtimeProcess(["--port", "0", "--api-key", "walkthrough-key"]);
    try {
      const pods = await Promise.all(
        sidecars.map((s, i) => startBridgeProcess({ platform: "twilio", sidecar: s.address, ownerId: `walk-${i}`, modelUrl: cli.url, modelApiKey: "walkthrough-key" })),
      );
      bridges.push(...pods);
      const result = await runMockTwilio(["--url", pods[0]!.url, "--resume-url", pods[1]!.url, "--call-sid", "CAwalkthrough00000000000000000001"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('caller: "where is order a-1001" → bot: "Order A-1001 is shipped."');
      expect(result.stdout).toContain('caller: "and my order" → bot: "Turn 3. You first said "hello there". Order A-1001 is shipped."');
      expect(result.stdout.trim().endsWith("OK")).toBe(true);
      const session = (await sidecars[0]!.client().getSession({ conversationId: "CAwalkthrough00000000000000000001" })).session!;
      expect(session).toMatchObject({ bridgeType: "twilio", resumedCount: 1, ownerId: "walk-1" });
    } finally {
      await cli.stop();
    }
  });
});
