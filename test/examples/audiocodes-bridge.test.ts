import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, type SessionStoreClient, SessionStatus } from "../../src/client/index.js";
import { MockVaicCall, SessionErrorReply } from "./support/mock-vaic.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { type BridgeProcess, runMockVaic, startBridgeProcess } from "./support/bridge-process.js";

const started: { stop(): Promise<unknown> }[] = [];
afterAll(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
});

async function sidecar(...args: string[]): Promise<Sidecar> {
  const s = await startSidecar({ args: ["--storage", "sqlite", ...args] });
  started.push(s);
  return s;
}

async function bridge(options: Parameters<typeof startBridgeProcess>[0]): Promise<BridgeProcess> {
  const b = await startBridgeProcess(options);
  started.push(b);
  return b;
}

async function stored(client: SessionStoreClient, conversationId: string): Promise<Session> {
  return (await client.getSession({ conversationId })).session!;
}

/** The call's history as (role, type, text) rows. */
function historyOf(session: Session): string[][] {
  return session.conversationHistory.map((h) => [h.role, h.type, h.text]);
}

function audioOf(session: Session): Buffer[] {
  return session.audioBuffer.map((c) => Buffer.from(c.data));
}

/** Resolves with the bridge's session.error for a resume, failing the test if the resume succeeded. */
async function refusedResume(call: MockVaicCall, url: string): Promise<SessionErrorReply> {
  const outcome = await call.resume(url).then(
    (answer) => new Error(`resume was accepted: ${JSON.stringify(answer)}`),
    (err: unknown) => err,
  );
  if (!(outcome instanceof SessionErrorReply)) throw outcome;
  return outcome;
}

describe("reference AudioCodes bridge", () => {
  let main: Sidecar;
  let store: SessionStoreClient;
  let bridgeA: BridgeProcess;

  beforeAll(async () => {
    main = await sidecar();
    store = main.client();
    bridgeA = await bridge({ sidecar: main.address, ownerId: "bridge-a" });
  });

  it("resumes a dropped call on the same bridge with its history, audio and bot state, then ends it", async () => {
    const call = new MockVaicCall({ conversationId: "same-bridge-1", caller: "+15550101", botName: "support-bot", supportedMediaFormats: ["raw/opus", "raw/lpcm16"] });
    expect(await call.initiate(bridgeA.url)).toBe("raw/lpcm16");
    expect(await call.validate()).toBe(true);
    await call.streamAudio(10);
    expect(await call.dtmf("5")).toEqual({ text: "Reply 1: you pressed 5", replyNumber: 1 });

    call.drop();
    expect(await call.resume(bridgeA.url)).toEqual({ type: "session.accepted", mediaFormat: "raw/lpcm16" });

    const resumed = await stored(store, call.conversationId);
    expect(resumed).toMatchObject({
      status: SessionStatus.ACTIVE,
      bridgeType: "audiocodes",
      caller: "+15550101",
      botName: "support-bot",
      mediaFormat: "raw/lpcm16",
      resumedCount: 1,
      ownerId: "bridge-a",
      ownerEpoch: 2n,
      currentTurn: 1,
    });
    expect(historyOf(resumed)).toEqual([
      ["user", "dtmf", "5"],
      ["assistant", "message", "Reply 1: you pressed 5"],
    ]);
    expect(audioOf(resumed)).toEqual(call.sentFrames);

    // The bot goes on counting from the restored history.
    expect(await call.dtmf("7")).toEqual({ text: "Reply 2: you pressed 7", replyNumber: 2 });
    await call.end("caller hung up");
    const ended = await stored(store, call.conversationId);
    expect(ended).toMatchObject({ status: SessionStatus.ENDED, endReason: "caller hung up", currentTurn: 2 });
    expect(historyOf(ended).map((h) => h[2])).toEqual(["5", "Reply 1: you pressed 5", "7", "Reply 2: you pressed 7"]);
  });

  it("ends the call on a hangup activity", async () => {
    const call = new MockVaicCall({ conversationId: "hangup-1" });
    await call.initiate(bridgeA.url);
    call.socket!.send({ type: "activities", conversationId: call.conversationId, activities: [{ type: "event", name: "hangup" }] });
    await call.socket!.closed;
    expect(await stored(store, call.conversationId)).toMatchObject({ status: SessionStatus.ENDED, endReason: "caller hung up" });
  });

  it("resumes, after the bridge process is SIGKILLed mid-call and restarted, everything it had acknowledged", async () => {
    const first = await startBridgeProcess({ sidecar: main.address, ownerId: "bridge-k" });
    const call = new MockVaicCall({ conversationId: "killed-bridge-1", toneHz: 300 });
    await call.initiate(first.url);
    await call.streamAudio(10); // userStream.stopped: all 10 frames are durable
    await call.dtmf("1"); // the reply came: the digit and the reply are durable
    await call.startStream();
    await call.sendFrames(5); // in flight when the bridge dies
    await first.stop("SIGKILL");
    await call.socket!.closed;

    const restarted = await bridge({ sidecar: main.address, ownerId: "bridge-k", listen: first.listen });
    expect((await call.resume(restarted.url)).type).toBe("session.accepted");
    const resumed = await stored(store, call.conversationId);
    expect(historyOf(resumed)).toEqual([
      ["user", "dtmf", "1"],
      ["assistant", "message", "Reply 1: you pressed 1"],
    ]);
    const audio = audioOf(resumed);
    expect(audio.length).toBeGreaterThanOrEqual(10);
    expect(audio).toEqual(call.sentFrames.slice(0, audio.length)); // the acknowledged ones, then perhaps some of the unacknowledged, in order
    expect(resumed.resumedCount).toBe(1);

    expect(await call.dtmf("2")).toEqual({ text: "Reply 2: you pressed 2", replyNumber: 2 });
    await call.end();
    expect((await stored(store, call.conversationId)).status).toBe(SessionStatus.ENDED);
  });

  it("moves a call to a second bridge on the same sidecar and fences the first, which closes its socket", async () => {
    const bridgeB = await bridge({ sidecar: main.address, ownerId: "bridge-b" });
    const call = new MockVaicCall({ conversationId: "takeover-1" });
    await call.initiate(bridgeA.url);
    await call.streamAudio(3);
    await call.dtmf("4");
    const stale = call.socket!; // bridge A still believes it has the call

    expect((await call.resume(bridgeB.url)).type).toBe("session.accepted");
    // The platform's stale socket to A carries one more digit: A's write is fenced and A hangs up that socket.
    stale.send({ type: "activities", conversationId: call.conversationId, activities: [{ type: "event", name: "DTMF", value: "9" }] });
    expect(await stale.closed).toEqual({ code: 1000, reason: "session resumed elsewhere" });

    expect(await call.dtmf("6")).toEqual({ text: "Reply 2: you pressed 6", replyNumber: 2 });
    const moved = await stored(store, call.conversationId);
    expect(moved).toMatchObject({ ownerId: "bridge-b", ownerEpoch: 2n, resumedCount: 1 });
    expect(historyOf(moved).map((h) => h[2])).toEqual(["4", "Reply 1: you pressed 4", "6", "Reply 2: you pressed 6"]);
    expect(audioOf(moved)).toEqual(call.sentFrames);
    await call.end();
  });

  it("runs 100 concurrent calls that each drop and resume once, none seeing another's state", async () => {
    const calls = Array.from(
      { length: 100 },
      (_, i) => new MockVaicCall({ conversationId: `crowd-${i}`, caller: `+1555${String(i).padStart(4, "0")}`, toneHz: 200 + i * 7 }),
    );
    const digits = (i: number) => [String(i % 10), String((i + 3) % 10)] as const;
    await Promise.all(
      calls.map(async (call, i) => {
        const [d1, d2] = digits(i);
        await call.initiate(bridgeA.url);
        await call.streamAudio(5);
        expect((await call.dtmf(d1)).replyNumber).toBe(1);
        call.drop();
        expect((await call.resume(bridgeA.url)).type).toBe("session.accepted");
        expect(await call.dtmf(d2)).toEqual({ text: `Reply 2: you pressed ${d2}`, replyNumber: 2 });
      }),
    );
    for (const [i, call] of calls.entries()) {
      const [d1, d2] = digits(i);
      const session = await stored(store, call.conversationId);
      expect(session).toMatchObject({ caller: `+1555${String(i).padStart(4, "0")}`, resumedCount: 1, status: SessionStatus.ACTIVE, currentTurn: 2 });
      expect(historyOf(session).map((h) => h[2])).toEqual([d1, `Reply 1: you pressed ${d1}`, d2, `Reply 2: you pressed ${d2}`]);
      expect(audioOf(session)).toEqual(call.sentFrames);
    }
    await Promise.all(calls.map((call) => call.end()));
    for (const call of calls) expect((await stored(store, call.conversationId)).status).toBe(SessionStatus.ENDED);
  });

  it("runs the mock platform's CLI scenario: call, drop, resume, the bot goes on, hang up", async () => {
    const result = await runMockVaic(["--url", bridgeA.url, "--conversation-id", "cli-1", "--seconds", "0.2", "--digits", "1234"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('DTMF 3 → bot: "Reply 3: you pressed 3"');
    expect(result.stdout.trim().endsWith("OK")).toBe(true);
    const session = await stored(store, "cli-1");
    expect(session).toMatchObject({ status: SessionStatus.ENDED, resumedCount: 1 });
    expect(session.conversationHistory).toHaveLength(8);
  });

  describe("refused resumes answer session.error with the plan's reason and RESUME_FAILED", () => {
    it("unknown and ended conversations; over the resume limit; session.resumed on request", async () => {
      const limited = await sidecar("--max-resume-attempts", "1");
      const b = await bridge({ sidecar: limited.address, ownerId: "bridge-limited", resumeReply: "resumed" });

      const unknown = await refusedResume(new MockVaicCall({ conversationId: "never-seen" }), b.url);
      expect({ reason: unknown.reason, errorCode: unknown.errorCode }).toEqual({ reason: "Session not found", errorCode: "RESUME_FAILED" });

      const ended = new MockVaicCall({ conversationId: "ended-1" });
      await ended.initiate(b.url);
      await ended.end();
      const afterEnd = await refusedResume(ended, b.url);
      expect({ reason: afterEnd.reason, errorCode: afterEnd.errorCode }).toEqual({ reason: "Session already ended", errorCode: "RESUME_FAILED" });

      const limit = new MockVaicCall({ conversationId: "limit-1" });
      await limit.initiate(b.url);
      limit.drop();
      expect(await limit.resume(b.url)).toEqual({ type: "session.resumed", mediaFormat: "raw/lpcm16" });
      limit.drop();
      const over = await refusedResume(limit, b.url);
      expect({ reason: over.reason, errorCode: over.errorCode }).toEqual({ reason: "Maximum resume attempts exceeded", errorCode: "RESUME_FAILED" });
      expect(await limit.socket!.closed).toMatchObject({ code: 1000 });
    });

    it("a conversation idle past --max-resume-age", async () => {
      const shortWindow = await sidecar("--max-resume-age", "2s");
      const b = await bridge({ sidecar: shortWindow.address, ownerId: "bridge-short" });
      const call = new MockVaicCall({ conversationId: "too-old-1" });
      await call.initiate(b.url);
      await call.dtmf("1");
      call.drop();
      // Wait (no assertion on time) until the sidecar itself says the window has passed.
      const client = shortWindow.client();
      while ((await client.validateResume({ conversationId: call.conversationId })).reason !== "Session too old to resume") await sleep(200);
      const old = await refusedResume(call, b.url);
      expect({ reason: old.reason, errorCode: old.errorCode }).toEqual({ reason: "Session too old to resume", errorCode: "RESUME_FAILED" });
    });
  });
});
