import { status as GrpcCode } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, SessionStatus } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// Two bridge pods, each with its own sidecar, both on one Redis: the
// platform reconnects a dropped call to whichever pod it likes.
describe("two sidecars on one Redis", () => {
  let redis: RedisServer;
  const sidecars: Sidecar[] = [];

  const pod = async (...args: string[]): Promise<Sidecar> => {
    const sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url, ...args] });
    sidecars.push(sidecar);
    return sidecar;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await redis?.stop();
  });

  it("resumes on pod B a call written through pod A, whole, and fences A from then on", async () => {
    const a = (await pod()).client({ retry: false });
    const b = (await pod()).client({ retry: false });
    const audio = [Uint8Array.from({ length: 3200 }, (_, i) => i % 251), Uint8Array.from({ length: 1600 }, (_, i) => 255 - (i % 256))];

    await a.createSession({
      ownerId: "pod-a",
      session: {
        conversationId: "moving-call",
        sessionId: "bridge-session-1",
        bridgeType: "audiocodes",
        botName: "support-bot",
        caller: "+15550100",
        mediaFormat: "raw/lpcm16",
        metadata: { plan: "gold", retries: 2 },
        audioMetadata: { sampleRate: 16000 },
        conversationHistory: [{ itemId: "h1", role: "system", type: "message", text: "You are helpful." }],
      },
    });
    await a.updateSession({
      update: {
        conversationId: "moving-call",
        ownerEpoch: 1n,
        seq: 1n,
        updateMask: { paths: ["status", "openai_session_id", "openai_conversation_id", "current_turn"] },
        session: { status: SessionStatus.ACTIVE, openaiSessionId: "sess_123", openaiConversationId: "conv_456", currentTurn: 2 },
        appendHistory: [{ itemId: "h2", role: "user", type: "message", text: "Where is my order?", data: { confidence: 0.93 } }],
        upsertFunctionCalls: [{ callId: "call-1", functionName: "lookup_order", arguments: '{"id":42}', status: "pending" }],
        appendAudio: [{ data: audio[0] }],
      },
    });
    await a.updateSession({
      update: {
        conversationId: "moving-call",
        ownerEpoch: 1n,
        seq: 2n,
        updateMask: { paths: ["active_response_id", "last_error", "error_count"] },
        session: { activeResponseId: "resp_9", lastError: "tts timeout", errorCount: 1 },
        appendHistory: [{ itemId: "h3", role: "assistant", type: "message", text: "It ships today." }],
        upsertFunctionCalls: [{ callId: "call-1", functionName: "lookup_order", arguments: '{"id":42}', status: "completed", result: '{"eta":"today"}' }],
        appendAudio: [{ data: audio[1] }],
      },
    });
    const before = (await a.getSession({ conversationId: "moving-call" })).session!;

    // The platform's reconnect lands on pod B.
    const resumed = await b.resumeSession({ conversationId: "moving-call", ownerId: "pod-b" });
    expect(resumed.created).toBe(false);
    const after = resumed.session!;
    expect(after).toEqual<Session>({
      ...before,
      resumedCount: 1,
      ownerEpoch: 2n,
      ownerId: "pod-b",
      status: SessionStatus.ACTIVE,
      etag: after.etag,
      lastActivity: after.lastActivity,
    });
    expect(after.etag).not.toBe(before.etag);
    expect(after.conversationHistory.map((h) => h.itemId)).toEqual(["h1", "h2", "h3"]);
    expect(after.functionCalls).toMatchObject([{ callId: "call-1", status: "completed", result: '{"eta":"today"}' }]);
    expect(after.audioBuffer.map((c) => [c.seq, Buffer.from(c.data).equals(Buffer.from(audio[Number(c.seq) - 1]!))])).toEqual([
      [1n, true],
      [2n, true],
    ]);

    // Pod A, half dead, still believes it owns the call.
    const fenced = await expectRpcError(
      a.updateSession({ update: { conversationId: "moving-call", ownerEpoch: 1n, seq: 3n, appendHistory: [{ itemId: "stale" }] } }),
      GrpcCode.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    expect(fenced.details.errorInfo?.metadata).toMatchObject({ owner_epoch: "2", owner_id: "pod-b" });
    await b.updateSession({ update: { conversationId: "moving-call", ownerEpoch: 2n, seq: 3n, appendHistory: [{ itemId: "h4" }] } });
    const final = (await a.getSession({ conversationId: "moving-call" })).session!;
    expect(final.conversationHistory.map((h) => h.itemId)).toEqual(["h1", "h2", "h3", "h4"]);
    expect(final).toEqual((await b.getSession({ conversationId: "moving-call" })).session);
  });

  it("makes exactly one of two simultaneous resumes the owner, and counts both", async () => {
    const a = (await pod()).client({ retry: false });
    const b = (await pod()).client({ retry: false });
    await a.createSession({ ownerId: "pod-a", session: { conversationId: "race-call" } });

    const [fromA, fromB] = await Promise.all([
      a.resumeSession({ conversationId: "race-call", ownerId: "pod-a" }),
      b.resumeSession({ conversationId: "race-call", ownerId: "pod-b" }),
    ]);
    const epochs = [fromA.session!.ownerEpoch, fromB.session!.ownerEpoch].sort();
    expect(epochs).toEqual([2n, 3n]);
    const stored = (await b.getSession({ conversationId: "race-call" })).session!;
    expect(stored.resumedCount).toBe(2);
    expect(stored.ownerEpoch).toBe(3n);
    const [winner, loser] = fromA.session!.ownerEpoch === 3n ? [a, b] : [b, a];
    expect(stored.ownerId).toBe(winner === a ? "pod-a" : "pod-b");

    await expectRpcError(
      loser.updateSession({ update: { conversationId: "race-call", ownerEpoch: 2n, appendHistory: [{ itemId: "loser" }] } }),
      GrpcCode.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    await winner.updateSession({ update: { conversationId: "race-call", ownerEpoch: 3n, appendHistory: [{ itemId: "winner" }] } });
    expect((await loser.getSession({ conversationId: "race-call" })).session!.conversationHistory.map((h) => h.itemId)).toEqual(["winner"]);
  });

  it("holds max_sessions across both sidecars when they create at once", async () => {
    const args = ["--redis-key-prefix", "capped:", "--max-sessions", "5"];
    const a = (await pod(...args)).client({ retry: false });
    const b = (await pod(...args)).client({ retry: false });
    const creates = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).createSession({ session: { conversationId: `cap-${i}` } }));
    const outcomes = await Promise.allSettled(creates);
    const created = outcomes.filter((o) => o.status === "fulfilled");
    expect(created).toHaveLength(5);
    for (const o of outcomes) if (o.status === "rejected") expect((o.reason as { code: number }).code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect((await a.getStats()).activeSessions).toBe(5n);
  });
});
