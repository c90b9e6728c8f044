import { status as GrpcCode } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { expectRpcError } from "../support/grpc-expect.js";
import { type HealthWatch, ServingStatus, watchHealth } from "../support/health-watch.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// Redis dies in the middle of a call and comes back on the same port and data.
describe("a Redis outage", () => {
  let redis: RedisServer | undefined;
  let sidecar: Sidecar | undefined;
  let health: HealthWatch | undefined;
  let service: HealthWatch | undefined;
  let liveness: HealthWatch | undefined;

  afterAll(async () => {
    health?.close();
    service?.close();
    liveness?.close();
    await sidecar?.stop();
    await redis?.stop();
  });

  it("fails calls fast and clearly, turns readiness (not liveness) NOT_SERVING, then recovers with every acknowledged write", async () => {
    redis = await startRedisServer();
    sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] });
    health = watchHealth(sidecar.address);
    service = watchHealth(sidecar.address, "sessionstore.v1.SessionStoreService");
    liveness = watchHealth(sidecar.address, "liveness");
    await health.until(ServingStatus.SERVING);
    // Shorter than the sidecar's Redis timeout (5 s): a call that waited for Redis
    // instead of failing at once would end DEADLINE_EXCEEDED, not UNAVAILABLE.
    const client = sidecar.client({ retry: false, timeoutMs: 2000 });
    await client.createSession({ ownerId: "pod-a", session: { conversationId: "outage-call" } });

    // A bridge writing as fast as it can while Redis is killed under it: every
    // write it saw acknowledged must be there afterwards.
    const acked: bigint[] = [];
    let failure: unknown;
    let killed: Promise<void> | undefined;
    for (let seq = 1n; failure === undefined; seq++) {
      if (seq === 40n) killed = redis.kill();
      try {
        await client.updateSession({
          update: { conversationId: "outage-call", seq, appendHistory: [{ itemId: `h${seq}` }], appendAudio: [{ data: new Uint8Array(320).fill(Number(seq % 256n)) }] },
        });
        acked.push(seq);
      } catch (err) {
        failure = err;
      }
    }
    await killed;
    expect(acked.length).toBeGreaterThanOrEqual(39);
    await expectRpcError(Promise.reject(failure), GrpcCode.UNAVAILABLE, "STORAGE_UNAVAILABLE");

    // While Redis is down: every kind of call fails at once with the same clear reason.
    const next = BigInt(acked.length + 100);
    const down = await expectRpcError(
      client.updateSession({ update: { conversationId: "outage-call", seq: next, appendHistory: [{ itemId: "while-down" }] } }),
      GrpcCode.UNAVAILABLE,
      "STORAGE_UNAVAILABLE",
    );
    expect(down.error.details).toMatch(/Redis.*retry/);
    await expectRpcError(client.getSession({ conversationId: "outage-call" }), GrpcCode.UNAVAILABLE, "STORAGE_UNAVAILABLE");
    await expectRpcError(client.createSession({ session: { conversationId: "new-call" } }), GrpcCode.UNAVAILABLE, "STORAGE_UNAVAILABLE");
    await health.until(ServingStatus.NOT_SERVING);
    await service.until(ServingStatus.NOT_SERVING);
    expect(sidecar.logs.some((l) => l.msg.startsWith("lost the connection to Redis"))).toBe(true);
    // Unready, but alive: a kubelet must not restart a sidecar whose Redis is down.
    expect(liveness.seen).toEqual([ServingStatus.SERVING]);

    await redis.restart();
    await health.until(ServingStatus.SERVING);
    await service.until(ServingStatus.SERVING);
    expect(health.seen.slice(-2)).toEqual([ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    expect(liveness.seen).toEqual([ServingStatus.SERVING]);

    const { session } = await client.getSession({ conversationId: "outage-call" });
    const stored = new Set(session!.conversationHistory.map((h) => h.itemId));
    expect(acked.filter((seq) => !stored.has(`h${seq}`))).toEqual([]);
    expect(stored.has("while-down")).toBe(false);
    expect(session!.lastSeq).toBeGreaterThanOrEqual(acked.at(-1)!);

    // Service as usual: the bridge resends from its last acknowledged seq on.
    const resend = await client.updateSession({ update: { conversationId: "outage-call", seq: next, appendHistory: [{ itemId: "after" }] } });
    expect(resend.applied).toBe(true);
    await client.createSession({ session: { conversationId: "new-call" } });
    expect((await client.getSession({ conversationId: "outage-call" })).session!.conversationHistory.at(-1)?.itemId).toBe("after");
  });
});
