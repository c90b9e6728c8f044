import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStatus, SessionView, type SessionStoreClient } from "../../src/client/index.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { startSidecar, type Sidecar } from "../support/sidecar-process.js";

// The original plan's test cases, from a real client against a real sidecar
// process on a real SQLite file.
describe("plan cases over gRPC", () => {
  let sidecar: Sidecar;
  let client: SessionStoreClient;

  beforeAll(async () => {
    sidecar = await startSidecar({ args: ["--max-resume-attempts", "3", "--max-resume-age", "2s"] });
    client = sidecar.client();
  });
  afterAll(async () => {
    expect(await sidecar.stop()).toEqual({ code: 0, signal: null });
  });

  it("creates a session INITIATED with resumed_count 0", async () => {
    const { session } = await client.createSession({ session: { conversationId: "test-123", bridgeType: "audiocodes" }, ownerId: "pod-a" });
    expect(session?.status).toBe(SessionStatus.INITIATED);
    expect(session?.resumedCount).toBe(0);
    expect(session?.ownerEpoch).toBe(1n);
    expect(session?.etag).not.toBe("");
  });

  it("resumes: resumed_count 1, ACTIVE; again: 2, keeping an update made in between", async () => {
    const first = await client.resumeSession({ conversationId: "test-123", ownerId: "pod-b" });
    expect(first.session?.resumedCount).toBe(1);
    expect(first.session?.status).toBe(SessionStatus.ACTIVE);
    expect(first.session?.ownerId).toBe("pod-b");
    expect(first.created).toBe(false);

    await client.updateSession({
      update: {
        conversationId: "test-123",
        ownerEpoch: first.session!.ownerEpoch,
        updateMask: { paths: ["media_format", "status"] },
        session: { mediaFormat: "raw/mulaw", status: SessionStatus.PAUSED },
      },
    });
    const second = await client.resumeSession({ conversationId: "test-123", ownerId: "pod-c" });
    expect(second.session?.resumedCount).toBe(2);
    expect(second.session?.mediaFormat).toBe("raw/mulaw");
    expect(second.session?.ownerEpoch).toBe(first.session!.ownerEpoch + 1n);
  });

  it("keeps media_format and status PAUSED written by an update", async () => {
    await client.createSession({ session: { conversationId: "upd-1" } });
    const { session, applied } = await client.updateSession({
      update: { conversationId: "upd-1", updateMask: { paths: ["media_format", "status"] }, session: { mediaFormat: "raw/lpcm16_24", status: SessionStatus.PAUSED } },
    });
    expect(applied).toBe(true);
    const read = await client.getSession({ conversationId: "upd-1" });
    expect([session?.mediaFormat, read.session?.mediaFormat, read.session?.status]).toEqual(["raw/lpcm16_24", "raw/lpcm16_24", SessionStatus.PAUSED]);
  });

  it("rejects resuming a missing session", async () => {
    const { error } = await expectRpcError(client.resumeSession({ conversationId: "non-existent" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    expect(error.details).toBe("Session not found");
  });

  it("rejects resuming an ended session, and end sets ENDED with its reason", async () => {
    await client.createSession({ session: { conversationId: "ended-1" } });
    const { session } = await client.endSession({ conversationId: "ended-1", reason: "caller hung up" });
    expect([session?.status, session?.endReason]).toEqual([SessionStatus.ENDED, "caller hung up"]);
    const { error } = await expectRpcError(client.resumeSession({ conversationId: "ended-1" }), status.FAILED_PRECONDITION, "SESSION_ENDED");
    expect(error.details).toBe("Session already ended");
  });

  it("rejects resuming past max_resume_attempts", async () => {
    await client.createSession({ session: { conversationId: "many-1" } });
    for (let i = 0; i < 3; i++) await client.resumeSession({ conversationId: "many-1" });
    const { error, details } = await expectRpcError(client.resumeSession({ conversationId: "many-1" }), status.FAILED_PRECONDITION, "MAX_RESUMES_EXCEEDED");
    expect(error.details).toBe("Maximum resume attempts exceeded");
    expect(details.errorInfo?.metadata.resumed_count).toBe("3");
  });

  it("rejects resuming a session idle past max_resume_age", async () => {
    await client.createSession({ session: { conversationId: "old-1" } });
    await new Promise((r) => setTimeout(r, 2_300));
    const { error } = await expectRpcError(client.resumeSession({ conversationId: "old-1" }), status.FAILED_PRECONDITION, "RESUME_WINDOW_EXPIRED");
    expect(error.details).toBe("Session too old to resume");
  });

  it("ValidateResume answers with the plan's exact reasons and changes nothing", async () => {
    // Fresh fixtures: the sessions of earlier tests may have outlived the 2 s resume window.
    for (const id of ["val-1", "val-ended", "val-many"]) await client.createSession({ session: { conversationId: id } });
    await client.endSession({ conversationId: "val-ended" });
    for (let i = 0; i < 3; i++) await client.resumeSession({ conversationId: "val-many" });
    const before = await client.getSession({ conversationId: "val-1" });
    const ids = ["val-1", "non-existent", "val-ended", "old-1", "val-many"];
    const answers = await Promise.all(ids.map((id) => client.validateResume({ conversationId: id })));
    expect(answers.map((a) => [a.valid, a.reason, a.code])).toEqual([
      [true, "Valid resume request", ""],
      [false, "Session not found", "SESSION_NOT_FOUND"],
      [false, "Session already ended", "SESSION_ENDED"],
      [false, "Session too old to resume", "RESUME_WINDOW_EXPIRED"],
      [false, "Maximum resume attempts exceeded", "MAX_RESUMES_EXCEEDED"],
    ]);
    const after = await client.getSession({ conversationId: "val-1" });
    expect(after.session?.etag).toBe(before.session?.etag);
  });

  it("deletes a session", async () => {
    await client.createSession({ session: { conversationId: "del-1" } });
    await client.deleteSession({ conversationId: "del-1" });
    await expectRpcError(client.getSession({ conversationId: "del-1" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
    await expectRpcError(client.deleteSession({ conversationId: "del-1" }), status.NOT_FOUND, "SESSION_NOT_FOUND");
  });

  it("round-trips 2 history items, 1 function call and the audio bytes exactly", async () => {
    const audio = Uint8Array.from({ length: 3200 }, (_, i) => (i * 7 + 3) % 256);
    await client.createSession({ session: { conversationId: "rt-1", caller: "+15550100", botName: "voice-bot" } });
    await client.updateSession({
      update: {
        conversationId: "rt-1",
        appendHistory: [
          { itemId: "i1", role: "user", type: "message", text: "I'd like to check my balance", data: { lang: "en", confidence: 0.93 } },
          { itemId: "i2", role: "assistant", type: "message", text: "Sure, one moment." },
        ],
        upsertFunctionCalls: [{ callId: "c1", functionName: "get_balance", arguments: '{"account":"42"}', status: "completed", result: '{"balance":10}' }],
        appendAudio: [{ data: audio }],
      },
    });
    const { session } = await client.getSession({ conversationId: "rt-1", view: SessionView.FULL });
    expect(session?.conversationHistory.map((h) => [h.itemId, h.role, h.type, h.text])).toEqual([
      ["i1", "user", "message", "I'd like to check my balance"],
      ["i2", "assistant", "message", "Sure, one moment."],
    ]);
    expect(session?.conversationHistory[0]?.data).toEqual({ lang: "en", confidence: 0.93 });
    expect(session?.functionCalls.map((f) => [f.callId, f.functionName, f.arguments, f.status, f.result])).toEqual([
      ["c1", "get_balance", '{"account":"42"}', "completed", '{"balance":10}'],
    ]);
    expect(Buffer.from(session!.audioBuffer[0]!.data).equals(Buffer.from(audio))).toBe(true);
    const basic = await client.getSession({ conversationId: "rt-1", view: SessionView.BASIC });
    expect([basic.session?.conversationHistory.length, basic.session?.audioBuffer.length, basic.session?.caller]).toEqual([0, 0, "+15550100"]);
  });
});
