import { status as GrpcCode } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionView } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { runFailoverLoad } from "../support/failover-load.js";
import { expectRpcError } from "../support/grpc-expect.js";
import { type RedisCluster, startRedisCluster } from "../support/redis-cluster.js";
import { summary, watch } from "../support/session-watch.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// Sidecars on a 3-primary Redis Cluster: slots moving under traffic, a node
// dying and coming back, and a call moving between two sidecars.
describe("sidecars on a Redis Cluster", () => {
  let cluster: RedisCluster;
  const sidecars: Sidecar[] = [];

  const pod = async (): Promise<Sidecar> => {
    const sidecar = await startSidecar({ args: cluster.sidecarArgs });
    sidecars.push(sidecar);
    return sidecar;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster?.stop();
  });

  it("loses no acknowledged update while slots move between nodes under streaming load", async () => {
    const sidecar = await pod();
    const run = await runFailoverLoad({
      address: sidecar.address,
      client: sidecar.client({ timeoutMs: 10_000 }),
      sessions: 16,
      prefix: "reshard",
      failAt: 20,
      roundsAfter: 20,
      fail: async () => undefined,
      // A third of node 0's slots, with their keys, to node 1, while the load runs.
      during: () => cluster.reshard(0, 1, 1800),
    });
    console.log(`resharding 1800 slots under load: ${run.ackedCount} updates acknowledged, ${run.lost} lost; ${run.errors.length} error acks`);
    expect(run.lost).toBe(0);
    for (const error of run.errors) expect(error).toMatchObject({ code: GrpcCode.UNAVAILABLE, reason: "STORAGE_UNAVAILABLE" });
  });

  it("resumes on sidecar B a call written through sidecar A, fences A from then on, and shows A's watchers B's events", async () => {
    const a = (await pod()).client({ retry: false });
    const b = (await pod()).client({ retry: false });
    // Pub/sub on a Cluster: PUBLISH reaches every node, so A's subscriber hears B wherever it listens.
    const watchA = await watch(a, { conversationId: "moving-call" });
    await a.createSession({ ownerId: "pod-a", session: { conversationId: "moving-call", bridgeType: "audiocodes", conversationHistory: [{ itemId: "h1", text: "hello" }] } });
    await a.updateSession({ update: { conversationId: "moving-call", ownerEpoch: 1n, seq: 1n, appendHistory: [{ itemId: "h2" }], appendAudio: [{ data: new Uint8Array(320).fill(7) }] } });

    const { session } = await b.resumeSession({ conversationId: "moving-call", ownerId: "pod-b", view: SessionView.FULL });
    expect(session).toMatchObject({ ownerId: "pod-b", ownerEpoch: 2n, resumedCount: 1, lastSeq: 1n });
    expect(session?.conversationHistory.map((i) => i.itemId)).toEqual(["h1", "h2"]);
    expect(session?.audioBuffer.map((c) => c.data.length)).toEqual([320]);
    // B's RESUMED comes to A over the Cluster bus, A's FENCED from A itself: wait for the one
    // before causing the other, or their order is a race between the bus and a local refusal.
    await watchA.waitFor(3);

    const { details } = await expectRpcError(
      a.updateSession({ update: { conversationId: "moving-call", ownerEpoch: 1n, seq: 2n, appendHistory: [{ itemId: "late-from-a" }] } }),
      GrpcCode.FAILED_PRECONDITION,
      "SESSION_FENCED",
    );
    expect(details.errorInfo?.metadata).toMatchObject({ owner_epoch: "2", owner_id: "pod-b" });
    await b.updateSession({ update: { conversationId: "moving-call", ownerEpoch: 2n, seq: 2n, appendHistory: [{ itemId: "h3" }] } });
    // RESUMED and the last UPDATED came from B, over the Cluster's pub/sub; FENCED is A's own refusal.
    const events = await watchA.waitFor(5);
    expect(summary(events).map(([type]) => type)).toEqual(["CREATED", "UPDATED", "RESUMED", "FENCED", "UPDATED"]);
    const listed = await a.listSessions({});
    expect(listed.sessions.map((s) => s.conversationId)).toContain("moving-call");
    expect((await a.getStats({})).activeSessions).toBeGreaterThanOrEqual(1);
  });

  it("fails calls fast with UNAVAILABLE while a node is down, and recovers by itself when it returns", async () => {
    const sidecar = await pod();
    const node = cluster.nodes[2]!;
    let restarted: Promise<void> | undefined;
    const run = await runFailoverLoad({
      address: sidecar.address,
      client: sidecar.client({ timeoutMs: 10_000 }),
      sessions: 16,
      prefix: "node-down",
      failAt: 20,
      roundsAfter: 20,
      fail: () => node.kill(),
      // Down for 3 s, past the cluster's node timeout (1 s): the cluster itself goes CLUSTERDOWN meanwhile.
      during: () => (restarted = sleep(3000).then(() => node.restart()).then(() => cluster.healthy())),
    });
    await restarted;
    console.log(`a node down for 3 s: recovered ${Math.round(run.recoveryMs)} ms after the kill (first ack on any slot); ${run.ackedCount} updates acknowledged, ${run.lost} lost; ${run.errors.length} error acks`);
    expect(run.errors.length).toBeGreaterThan(0);
    // While the client retries a redirection to the dead node, updates can wait past --update-queue-timeout and be shed as
    // OVERLOADED: UNAVAILABLE too, resent the same way.
    for (const error of run.errors) expect(error.code).toBe(GrpcCode.UNAVAILABLE);
    expect(new Set(run.errors.map((e) => e.reason)).has("STORAGE_UNAVAILABLE")).toBe(true);
    expect([...new Set(run.errors.map((e) => e.reason))].filter((r) => r !== "STORAGE_UNAVAILABLE" && r !== "OVERLOADED")).toEqual([]);
    expect(run.lost).toBe(0);
    // A unary call on a client deadline shorter than the sidecar's Redis timeout (5 s) works again.
    await sidecar.client({ retry: false, timeoutMs: 2000 }).getSession({ conversationId: "node-down-0" });
  });
});
