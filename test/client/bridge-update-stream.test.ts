import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  BridgeUpdateStream,
  type DisconnectInfo,
  errorDetailsOf,
  errorReasonOf,
  type SessionStopInfo,
  SessionStoreClient,
  SessionStatus,
  type UpdateAck,
  UpdateError,
} from "../../src/client/index.js";
import { type Sidecar, startSidecar } from "../support/sidecar-process.js";

// BridgeUpdateStream against real sidecar processes: multiplexing, replay across restarts, fencing.
describe("BridgeUpdateStream", () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function sidecar(options?: Parameters<typeof startSidecar>[0]): Promise<Sidecar> {
    const s = await startSidecar(options);
    cleanup.push(() => s.stop("SIGKILL"));
    return s;
  }

  function clientFor(address: string): SessionStoreClient {
    const client = new SessionStoreClient(address);
    cleanup.push(() => client.close());
    return client;
  }

  /** Resumes (creating) a session as a bridge would and starts tracking it on the stream. */
  async function startCall(client: SessionStoreClient, stream: BridgeUpdateStream, id: string, ownerId = "bridge-a"): Promise<void> {
    const { session } = await client.resumeSession({ conversationId: id, ownerId, createIfMissing: true });
    stream.track(session!);
  }

  it("carries many interleaved sessions on one stream (and two at once, batched and not): every ack, in order, state as sent", async () => {
    const server = await sidecar();
    const client = clientFor(server.address);
    // StreamUpdateBatches (the default) and StreamUpdates, side by side.
    const streams = [new BridgeUpdateStream(client), new BridgeUpdateStream(clientFor(server.address), { batching: false })];
    const ids = Array.from({ length: 40 }, (_, i) => `multi-${i}`);
    await Promise.all(ids.map((id, i) => startCall(client, streams[i % 2]!, id)));

    const ackOrder = new Map<string, bigint[]>(ids.map((id) => [id, []]));
    const writes: Promise<UpdateAck>[] = [];
    for (let round = 1; round <= 30; round++) {
      ids.forEach((id, i) => {
        const write = streams[i % 2]!.write(id, {
          appendHistory: [{ itemId: `${id}-h${round}`, role: round % 2 ? "user" : "assistant", text: `turn ${round}` }],
          appendAudio: [{ data: new Uint8Array(320).fill(round) }],
          updateMask: { paths: ["current_turn"] },
          session: { currentTurn: round },
        });
        writes.push(write.then((ack) => (ackOrder.get(id)!.push(ack.seq), ack)));
      });
    }
    const acks = await Promise.all(writes);
    expect(acks.every((a) => a.applied && a.error === undefined && a.etag !== "")).toBe(true);
    for (const stream of streams) expect(await stream.close()).toBe(0);

    const expectedSeqs = Array.from({ length: 30 }, (_, i) => BigInt(i + 1));
    for (const id of ids) {
      expect(ackOrder.get(id)).toEqual(expectedSeqs);
      const { session } = await client.getSession({ conversationId: id });
      expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(expectedSeqs.map((r) => `${id}-h${r}`));
      expect(session?.audioBuffer.map((a) => a.data[0])).toEqual(expectedSeqs.map(Number));
      expect({ turn: session?.currentTurn, lastSeq: session?.lastSeq }).toEqual({ turn: 30, lastSeq: 30n });
    }
  });

  it("keeps at most maxUnacked updates waiting, and write() waits for room", async () => {
    const server = await sidecar();
    const client = clientFor(server.address);
    const stream = new BridgeUpdateStream(client, { maxUnacked: 3 });
    await startCall(client, stream, "bp-1");
    const writes: Promise<UpdateAck>[] = [];
    let most = 0;
    for (let i = 0; i < 60; i++) {
      writes.push(stream.write("bp-1", { appendHistory: [{ itemId: `h${i}` }] }));
      most = Math.max(most, stream.unacked);
    }
    await Promise.all(writes);
    expect(most).toBe(3);
    const { session } = await client.getSession({ conversationId: "bp-1" });
    expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: 60 }, (_, i) => `h${i}`));
  });

  /**
   * Writers keep writing through a stop and a restart of the sidecar on the
   * same address and database, until the new process has acknowledged some
   * of their updates; then each session must hold every write exactly once.
   */
  async function writeThroughRestart(signal: "SIGTERM" | "SIGKILL", batching?: false) {
    const first = await sidecar();
    const client = clientFor(first.address);
    const disconnects: DisconnectInfo[] = [];
    const stream = new BridgeUpdateStream(client, { onDisconnect: (info) => disconnects.push(info), maxUnacked: 500, batching });
    const ids = Array.from({ length: 12 }, (_, i) => `restart-${signal}-${batching === false ? "single" : "batched"}-${i}`);
    await Promise.all(ids.map((id) => startCall(client, stream, id)));

    let writing = true;
    const written = new Map<string, number>(ids.map((id) => [id, 0]));
    const writers = ids.map(async (id) => {
      const acks: Promise<UpdateAck>[] = [];
      while (writing) {
        await stream.whenWritable();
        const n = written.get(id)! + 1;
        written.set(id, n);
        acks.push(stream.write(id, { appendHistory: [{ itemId: `${id}-${n}` }], appendAudio: [{ data: new Uint8Array(320).fill(n % 256) }] }));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return Promise.all(acks);
    });

    await vi.waitFor(() => expect(stream.stats.acked).toBeGreaterThan(300), { timeout: 30_000, interval: 20 });
    await first.stop(signal);
    const second = await sidecar({ dbPath: first.dbPath, args: ["--listen", first.address] });
    expect(second.address).toBe(first.address);
    const ackedBeforeRestart = stream.stats.acked;
    await vi.waitFor(() => expect(stream.stats.acked).toBeGreaterThan(ackedBeforeRestart + 300), { timeout: 30_000, interval: 20 });
    writing = false;
    const acks = (await Promise.all(writers)).flat();
    expect(await stream.close()).toBe(0);

    expect(acks.every((a) => a.error === undefined)).toBe(true);
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
    for (const id of ids) {
      const { session } = await client.getSession({ conversationId: id });
      const n = written.get(id)!;
      expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(Array.from({ length: n }, (_, i) => `${id}-${i + 1}`));
      expect(session?.lastSeq).toBe(BigInt(n));
    }
    return { disconnects, stats: stream.stats };
  }

  it("sees UNAVAILABLE when the sidecar is stopped with SIGTERM, reconnects to its restart, replays, and stores every write once", async () => {
    const { disconnects } = await writeThroughRestart("SIGTERM");
    expect(disconnects[0]?.status.code).toBe(status.UNAVAILABLE);
    expect(disconnects[0]?.reconnectInMs).toBeDefined();
  });

  it("after a SIGKILL under load, replays what was not acknowledged: duplicates are acked, nothing is stored twice or lost", async () => {
    const { disconnects } = await writeThroughRestart("SIGKILL");
    expect(disconnects[0]?.status.code).toBe(status.UNAVAILABLE);
  });

  it("does the same on StreamUpdates, one update a message (batching off)", async () => {
    const { disconnects } = await writeThroughRestart("SIGKILL", false);
    expect(disconnects[0]?.status.code).toBe(status.UNAVAILABLE);
  });

  it("reports a fence once another bridge resumes the call, drops its writes, and refuses later ones locally", async () => {
    const server = await sidecar();
    const client = clientFor(server.address);
    const fenced: [string, SessionStopInfo][] = [];
    const stream = new BridgeUpdateStream(client, { onFenced: (id, info) => fenced.push([id, info]) });
    await startCall(client, stream, "moving");
    await startCall(client, stream, "staying");
    await stream.write("moving", { appendHistory: [{ itemId: "before" }] });

    await clientFor(server.address).resumeSession({ conversationId: "moving", ownerId: "bridge-b" });
    const refused = await stream.write("moving", { appendHistory: [{ itemId: "after" }] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UpdateError);
    expect({ reason: errorReasonOf(refused), code: (refused as UpdateError).code, local: (refused as UpdateError).local }).toEqual({
      reason: "SESSION_FENCED",
      code: status.FAILED_PRECONDITION,
      local: undefined,
    });
    expect(fenced.map(([id, info]) => [id, info.reason])).toEqual([["moving", "SESSION_FENCED"]]);
    expect(errorDetailsOf(fenced[0]![1].error).errorInfo?.metadata.owner_id).toBe("bridge-b");

    const refusedBefore = stream.stats.refused;
    const local = (await stream.write("moving", { appendHistory: [{ itemId: "later" }] }).catch((err: unknown) => err)) as UpdateError;
    expect({ reason: local.reason, local: local.local }).toEqual({ reason: "SESSION_FENCED", local: "SESSION_STOPPED" });
    expect(stream.stats.refused).toBe(refusedBefore);

    const ok = await stream.write("staying", { appendHistory: [{ itemId: "still here" }] });
    expect(ok.applied).toBe(true);
    const { session } = await client.getSession({ conversationId: "moving" });
    expect(session?.conversationHistory.map((h) => h.itemId)).toEqual(["before"]);
    expect(session?.ownerId).toBe("bridge-b");
  });

  it("reports an ended session through onEnded; another refusal fails only its own write", async () => {
    const server = await sidecar();
    const client = clientFor(server.address);
    const ended: string[] = [];
    const stream = new BridgeUpdateStream(client, { onEnded: (id) => ended.push(id) });
    await startCall(client, stream, "ending");
    await startCall(client, stream, "bad-move");
    const badMove = stream.write("bad-move", { updateMask: { paths: ["status"] }, session: { status: SessionStatus.INITIATED } });
    expect(errorReasonOf(await badMove.catch((err: unknown) => err))).toBe("INVALID_TRANSITION");
    expect((await stream.write("bad-move", { appendHistory: [{ itemId: "fine" }] })).applied).toBe(true);

    await client.endSession({ conversationId: "ending", reason: "hangup" });
    expect(errorReasonOf(await stream.write("ending", { appendHistory: [{ itemId: "x" }] }).catch((err: unknown) => err))).toBe("SESSION_ENDED");
    expect(ended).toEqual(["ending"]);
    const local = (await stream.write("ending", { appendHistory: [{ itemId: "y" }] }).catch((err: unknown) => err)) as UpdateError;
    expect(local.local).toBe("SESSION_STOPPED");
  });
});
