import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStatus } from "../../src/client/index.js";
import { MockVaicCall } from "./support/mock-vaic.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { type BridgeProcess, startBridgeProcess } from "./support/bridge-process.js";

// Two pods, each a bridge with its own sidecar, both sidecars on one Redis:
// the platform reconnects a call to whichever pod it likes.
describe("reference AudioCodes bridge on two pods sharing Redis", () => {
  let redis: RedisServer;
  const sidecars: Sidecar[] = [];
  const bridges: BridgeProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    for (const pod of ["pod-a", "pod-b"]) {
      const sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] });
      sidecars.push(sidecar);
      bridges.push(await startBridgeProcess({ sidecar: sidecar.address, ownerId: pod }));
    }
  });
  afterAll(async () => {
    await Promise.all(bridges.map((b) => b.stop()));
    await Promise.all(sidecars.map((s) => s.stop()));
    await redis?.stop();
  });

  it("resumes on pod B a call placed on pod A, whole, and pod A, fenced, closes its socket", async () => {
    const [a, b] = bridges as [BridgeProcess, BridgeProcess];
    const call = new MockVaicCall({ conversationId: "two-pods-1", caller: "+15550199", toneHz: 523 });
    await call.initiate(a.url);
    await call.streamAudio(8);
    expect((await call.dtmf("3")).replyNumber).toBe(1);
    const stale = call.socket!;

    expect((await call.resume(b.url)).type).toBe("session.accepted");
    const onB = (await sidecars[1]!.client().getSession({ conversationId: call.conversationId })).session!;
    expect(onB).toMatchObject({ ownerId: "pod-b", ownerEpoch: 2n, resumedCount: 1, caller: "+15550199", status: SessionStatus.ACTIVE });
    expect(onB.conversationHistory.map((h) => h.text)).toEqual(["3", "Reply 1: you pressed 3"]);
    expect(onB.audioBuffer.map((c) => Buffer.from(c.data))).toEqual(call.sentFrames);

    stale.send({ type: "userStream.start", conversationId: call.conversationId });
    stale.send({ type: "userStream.chunk", conversationId: call.conversationId, audioChunk: Buffer.alloc(640, 1).toString("base64") });
    expect(await stale.closed).toEqual({ code: 1000, reason: "session resumed elsewhere" });

    expect(await call.dtmf("8")).toEqual({ text: "Reply 2: you pressed 8", replyNumber: 2 });
    await call.end();
    const final = (await sidecars[0]!.client().getSession({ conversationId: call.conversationId })).session!;
    expect(final).toMatchObject({ status: SessionStatus.ENDED, ownerId: "pod-b" });
    expect(final.conversationHistory.map((h) => h.text)).toEqual(["3", "Reply 1: you pressed 3", "8", "Reply 2: you pressed 8"]);
    expect(final.audioBuffer.map((c) => Buffer.from(c.data))).toEqual(call.sentFrames); // pod A's fenced chunk is not there
  });
});
