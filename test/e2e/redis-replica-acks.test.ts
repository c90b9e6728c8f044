import { status as GrpcCode } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";
import { ackReason, streamedUpdate } from "../support/update-stream-raw.js";

// --redis-min-replicas: a write no replica confirmed is an error for the
// bridge, never an acknowledgement; once a replica is there, the same write
// resent is acknowledged, and applied once.
describe("acknowledgements that wait for replicas", () => {
  const servers: RedisServer[] = [];
  let sidecar: Sidecar | undefined;

  afterAll(async () => {
    // The sidecar first (it closes its Redis connections), the servers next, whatever its exit says.
    const exit = await sidecar?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    expect(exit?.code).toBe(0);
  });

  it("answers UNAVAILABLE naming the replica figures while too few replicas confirm, and acknowledges the resent write once one does", async () => {
    const primary = await startRedisServer();
    servers.push(primary);
    // 2s, not less: the replica's confirmation of the last write has to arrive within it on a
    // machine busy with the rest of the suite (300ms was once missed there).
    sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", primary.url, "--redis-min-replicas", "1", "--redis-min-replicas-timeout", "2s"] });
    expect(sidecar.logs.some((l) => l.level === 40 && l.msg.includes("has 0 replicas connected, fewer than the 1 --redis-min-replicas requires"))).toBe(true);
    const client = sidecar.client({ retry: false, timeoutMs: 4000 });

    const { details } = await expectRpcError(client.createSession({ ownerId: "pod-a", session: { conversationId: "replicated-call" } }), GrpcCode.UNAVAILABLE, "STORAGE_UNAVAILABLE");
    expect(details.errorInfo?.metadata).toEqual({ replicas_acknowledged: "0", replicas_required: "1", timeout: "2s" });
    // The stream path (group commit) refuses the same way, per update.
    const ack = await streamedUpdate(client, { conversationId: "replicated-call", seq: 1n, appendHistory: [{ itemId: "first" }] });
    expect(ack.error?.code).toBe(GrpcCode.UNAVAILABLE);
    expect(ack.error?.message).toContain("only 0 of the 1 replicas --redis-min-replicas asks for confirmed it within 2s");
    expect(ackReason(ack)).toBe("STORAGE_UNAVAILABLE");

    const replica = await startRedisServer({ extraArgs: ["--replicaof", "127.0.0.1", String(primary.port)] });
    servers.push(replica);
    await untilReplicaOnline(primary);

    // The refused writes did reach the primary, as the message says: resending them is safe.
    const resent = await client.updateSession({ update: { conversationId: "replicated-call", seq: 1n, appendHistory: [{ itemId: "first" }] } });
    expect(resent.applied).toBe(false);
    const { session } = await client.getSession({ conversationId: "replicated-call", view: SessionView.FULL });
    expect(session?.conversationHistory.map((i) => i.itemId)).toEqual(["first"]);
    const next = await client.updateSession({ update: { conversationId: "replicated-call", seq: 2n, appendHistory: [{ itemId: "second" }] } });
    expect(next.applied).toBe(true);
  });
});

async function untilReplicaOnline(primary: RedisServer): Promise<void> {
  const redis = new Redis(primary.url);
  try {
    while (!/^slave0:.*state=online/m.test(await redis.info("replication"))) await sleep(50);
  } finally {
    redis.disconnect();
  }
}
