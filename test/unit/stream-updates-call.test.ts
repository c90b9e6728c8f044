import { EventEmitter } from "node:events";
import type { ServerDuplexStream, ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { UpdateAck } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { errorReasonOf } from "../../src/client/error-details.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import { defaultGroupCommitLimits, GroupCommitter } from "../../src/server/group-commit.js";
import { type ReceivedUpdate, StreamUpdatesCall, type StreamUpdatesLimits } from "../../src/server/stream-updates-call.js";
import { ManualGroupStore, turn, upd } from "../support/manual-group-store.js";
import { ackReason } from "../support/update-stream-raw.js";

/** The parts of a grpc-js server duplex call StreamUpdatesCall uses, observable. */
class FakeCall extends EventEmitter {
  readonly written: UpdateAck[] = [];
  paused = false;
  writable = true;
  ended = false;
  status: Partial<ServiceError> | undefined;

  constructor() {
    super();
    // As grpc-js does: an 'error' event becomes the call's status.
    this.on("error", (err: Partial<ServiceError>) => {
      this.status = err;
      this.end();
    });
  }
  write(ack: UpdateAck): boolean {
    this.written.push(ack);
    return this.writable;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  end(): void {
    this.ended = true;
    this.emit("finish");
  }
  send(conversationId: string, seq = 0n, bytes = 10): void {
    this.emit("data", { update: upd(conversationId, seq), bytes } satisfies ReceivedUpdate);
  }
}

function open(limits: Partial<StreamUpdatesLimits> = {}) {
  const store = new ManualGroupStore();
  const call = new FakeCall();
  const committer = new GroupCommitter(store.asStore(), defaultGroupCommitLimits);
  const stream = new StreamUpdatesCall(
    call as unknown as ServerDuplexStream<ReceivedUpdate, UpdateAck>,
    "default",
    committer,
    { maxUnackedUpdates: 1024, maxUnackedBytes: 1 << 30, ...limits },
    pino({ level: "silent" }),
  );
  return { store, call, stream };
}

const acked = (call: FakeCall) => call.written.map((a) => [a.conversationId, ackReason(a) ?? a.applied]);

describe("StreamUpdatesCall", () => {
  it("writes acks in arrival order, each after its commit; an invalid update's ack waits its turn", async () => {
    const { store, call } = open();
    call.send("a", 1n);
    call.send("bad id");
    call.send("refuse-me");
    await turn();
    expect(call.written).toEqual([]);
    call.send("b", 1n);
    store.commit();
    await turn();
    expect(acked(call)).toEqual([
      ["a", true],
      ["bad id", "INVALID_ARGUMENT"],
      ["refuse-me", Reason.SessionEnded],
    ]);
    expect(call.written[0]?.etag).toBe("etag-1");
    store.commit();
    await turn();
    expect(acked(call).at(-1)).toEqual(["b", true]);
  });

  it("stops reading at the unacked limit and reads again below half of it", async () => {
    const { store, call } = open({ maxUnackedUpdates: 4 });
    call.send("a", 1n);
    await turn();
    ["b", "c", "d"].forEach((id) => call.send(id));
    expect(call.paused).toBe(true);
    store.commit(); // acks "a": three still unacked, above half the limit
    await turn();
    expect(call.paused).toBe(true);
    store.commit();
    await turn();
    expect([call.paused, call.written.length]).toEqual([false, 4]);
  });

  it("stops reading at the unacked byte limit", async () => {
    const { store, call } = open({ maxUnackedBytes: 1000 });
    call.send("a", 1n, 600);
    expect(call.paused).toBe(false);
    call.send("b", 1n, 600);
    expect(call.paused).toBe(true);
    await turn();
    store.commit();
    await turn();
    expect(call.paused).toBe(false);
  });

  it("stops reading while the client does not take its acks", async () => {
    const { store, call } = open();
    call.writable = false;
    call.send("a", 1n);
    await turn();
    store.commit();
    await turn();
    expect(call.paused).toBe(true);
    call.writable = true;
    call.emit("drain");
    expect(call.paused).toBe(false);
  });

  it("ends with OK after the last ack once the client half-closes", async () => {
    const { store, call } = open();
    call.send("a", 1n);
    call.emit("end");
    await turn();
    expect(call.ended).toBe(false);
    store.commit();
    await turn();
    expect([call.written.length, call.ended, call.status]).toEqual([1, true, undefined]);
  });

  it("drains for shutdown: acks what it read, ignores what comes after, ends with UNAVAILABLE", async () => {
    const { store, call, stream } = open();
    call.send("a", 1n);
    await turn();
    let done = false;
    void stream.drain().then(() => (done = true));
    expect(call.paused).toBe(true);
    call.send("late", 2n);
    store.commit();
    await turn();
    expect(acked(call)).toEqual([["a", true]]);
    expect({ code: call.status?.code, reason: errorReasonOf(call.status) }).toEqual({ code: status.UNAVAILABLE, reason: Reason.ShuttingDown });
    expect(done).toBe(true);
    expect(store.groups).toHaveLength(1);
  });

  it("ends with the store's status when a group fails, without acking anything after it", async () => {
    const { store, call } = open();
    call.send("a", 1n);
    await turn();
    call.send("a", 2n);
    store.commit();
    await turn();
    store.fail(new SessionError(Reason.StorageUnavailable, "disk gone"));
    await turn();
    call.send("a", 3n);
    await turn();
    expect(acked(call)).toEqual([["a", true]]);
    expect({ code: call.status?.code, reason: errorReasonOf(call.status) }).toEqual({ code: status.UNAVAILABLE, reason: Reason.StorageUnavailable });
    expect(store.groups).toHaveLength(2);
  });

  it("writes nothing more once the client cancels", async () => {
    const { store, call, stream } = open();
    call.send("a", 1n);
    await turn();
    call.emit("cancelled");
    store.commit();
    await turn();
    expect(call.written).toEqual([]);
    await stream.done;
  });
});
