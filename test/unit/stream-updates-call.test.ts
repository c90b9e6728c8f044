import { EventEmitter } from "node:events";
import type { ServerDuplexStream, ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { UpdateAck } from "../../src/gen/sessionstore/v1/session_store_pb.js";
import { errorReasonOf } from "../../src/client/error-details.js";
import { Reason, SessionError } from "../../src/session/errors.js";
import { defaultGroupCommitLimits, GroupCommitter, type GroupCommitLimits } from "../../src/server/group-commit.js";
import { type ReceivedMessage, StreamUpdatesCall, type StreamUpdatesLimits } from "../../src/server/stream-updates-call.js";
import { ManualGroupStore, turn, upd } from "../support/manual-group-store.js";
import { ackReason } from "../support/update-stream-raw.js";
import { systemClock } from "../../src/runtime/clock.js";
import { SessionActivity } from "../../src/server/session-activity.js";
import { SessionEvents } from "../../src/server/session-events.js";

/** The parts of a grpc-js server duplex call StreamUpdatesCall uses, observable. */
class FakeCall extends EventEmitter {
  readonly written: UpdateAck[] = [];
  /** The acks of each message written, as the client receives them. */
  readonly messages: UpdateAck[][] = [];
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
  write(acks: UpdateAck[]): boolean {
    this.messages.push(acks);
    this.written.push(...acks);
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
    this.emit("data", { updates: [upd(conversationId, seq)], bytes } satisfies ReceivedMessage);
  }
  sendBatch(updates: [string, bigint][], bytes = 10): void {
    this.emit("data", { updates: updates.map(([id, seq]) => upd(id, seq)), bytes } satisfies ReceivedMessage);
  }
}

function open(limits: Partial<StreamUpdatesLimits> = {}, commitLimits: Partial<GroupCommitLimits> = {}) {
  const store = new ManualGroupStore();
  const call = new FakeCall();
  const committer = new GroupCommitter(store.asStore(), { ...defaultGroupCommitLimits, ...commitLimits });
  const stream = new StreamUpdatesCall(
    call as unknown as ServerDuplexStream<ReceivedMessage, unknown>,
    () => ({ tenant: "default", role: "admin" }),
    committer,
    { maxUnackedUpdates: 1024, maxUnackedBytes: 1 << 30, ...limits },
    // Every ack that is ready in one message, as StreamUpdateBatches sends them.
    (c, acks) => (c as unknown as FakeCall).write(acks),
    pino({ level: "silent" }),
    { method: "StreamUpdateBatches", activity: new SessionActivity(new SessionEvents(pino({ level: "silent" })), systemClock, pino({ level: "silent" })) },
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

  it("answers a batch with the acks that became durable together in one message, across requests, in order", async () => {
    const { store, call } = open();
    call.sendBatch([["a", 1n]]);
    await turn();
    call.sendBatch([["b", 1n], ["bad id", 0n], ["a", 2n]]);
    call.sendBatch([["c", 1n]]);
    await turn();
    store.commit(); // the first group: a/1 alone
    await turn();
    store.commit(); // the second: b/1, a/2 and c/1; the invalid one waits its turn between them
    await turn();
    expect(call.messages.map((m) => m.map((a) => [a.conversationId, ackReason(a) ?? a.applied]))).toEqual([
      [["a", true]],
      [["b", true], ["bad id", "INVALID_ARGUMENT"], ["a", true], ["c", true]],
    ]);
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

  it("after an OVERLOADED refusal, refuses the session's newer updates itself until the bridge resends the refused one", async () => {
    const { store, call } = open({}, { queueTimeoutMs: 5 });
    call.send("busy", 1n);
    await turn();
    call.send("a", 1n);
    call.send("a", 2n);
    await new Promise((resolve) => setTimeout(resolve, 20));
    store.commit(); // busy/1; a/1 has waited too long: it and a/2 are refused
    await turn();
    call.send("a", 3n); // newer than the refused a/1: refused here, never queued
    await turn();
    call.send("a", 1n); // the bridge resends from the refused one
    call.send("a", 2n);
    await turn();
    store.commit();
    await turn();
    expect(acked(call)).toEqual([
      ["busy", true],
      ["a", "OVERLOADED"],
      ["a", "OVERLOADED"],
      ["a", "OVERLOADED"],
      ["a", true],
      ["a", true],
    ]);
    expect(store.groups.map((g) => g.map((i) => `${i.update.conversationId}/${i.update.seq}`))).toEqual([["busy/1"], ["a/1", "a/2"]]);
  });
});
