import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
import type { SessionUpdate, UpdateAck } from "../gen/sessionstore/v1/session_store_pb.js";
import { ReadAhead } from "../grpc/read-ahead.js";
import type { UndecodableRequest } from "../grpc/request-decoding.js";
import { malformedRequest, Reason, SessionError, shuttingDown, throwIfInvalid } from "../session/errors.js";
import { updateViolations } from "../session/validate.js";
import type { UpdateResult } from "../store/store.js";
import { asSessionError, rpcStatusOf, toServiceError } from "./error-status.js";
import type { SessionActivity } from "./session-activity.js";
import { updateRefusal } from "./access.js";
import type { Caller } from "./auth.js";
import type { GroupCommitter, Submission } from "./group-commit.js";

/** What an update stream reads from one request message: its updates, and its size on the wire, measured while decoding. */
export interface ReceivedMessage {
  updates: SessionUpdate[];
  /** Each update's own bytes from the message, when the decoder kept them (a store may hand them on instead of copying the update). */
  encoded?: Uint8Array[];
  bytes: number;
  /** The message could not be decoded (then `updates` is empty): the stream ends with its error. */
  undecodable?: UndecodableRequest;
}

/**
 * How acks go back: StreamUpdates sends each in a message of its own,
 * StreamUpdateBatches all that are ready at once in one. Returns false when
 * the call's write buffer is full.
 */
export type AckWriter = (call: ServerDuplexStream<ReceivedMessage, unknown>, acks: UpdateAck[]) => boolean;

export interface StreamUpdatesLimits {
  /** Updates read but not yet acknowledged beyond which the stream stops reading. */
  maxUnackedUpdates: number;
  /** Request bytes read but not yet acknowledged beyond which the stream stops reading. */
  maxUnackedBytes: number;
}

/**
 * 1,024 updates is several seconds of writes for a hundred calls, and 8 MiB
 * holds a few seconds of their audio: a bridge is throttled only when the disk
 * really falls behind, while a sidecar's memory per stream stays small.
 */
export const defaultStreamUpdatesLimits: StreamUpdatesLimits = {
  maxUnackedUpdates: 1024,
  maxUnackedBytes: 8 * 1024 * 1024,
};

/**
 * What grpc-js may read and decode ahead of a stream (ReadAhead): the
 * default HTTP/2 receive window of a stream (--http2-receive-window), so a
 * held stream keeps about as much decoded as its client may have in flight.
 */
const READ_AHEAD_BYTES = 1024 * 1024;

/** One update read from the stream, until its ack is written; it is also the committer's submission. */
interface Slot extends Submission {
  ack?: UpdateAck;
  /** When it was read (performance.now()): the ack latency metric, and the latency of a refusal's log line. */
  receivedAt: number;
}

/** Why the stream is not reading; it reads again when none is left. */
type Hold = "unacked" | "writes" | "committer";

/** "ending": reads no more, and ends the call with `endError` once what it read is acked. */
type State = "open" | "half-closed" | "ending" | "closed";

/**
 * One StreamUpdates or StreamUpdateBatches call. Updates go to the group
 * committer; acks go back in the order the updates arrived, which keeps each
 * session's acks in its updates' order (the committer commits in submission
 * order, and a refused or invalid update's ack waits its turn too). An ack is
 * written only once its update is durable.
 *
 * Backpressure: the stream stops reading (grpc-js then stops reading the
 * HTTP/2 stream, and flow control holds the client) while too much is read
 * and unacknowledged, while the client is not reading its acks, or while the
 * committer is full; it reads again below half the limits. What grpc-js
 * decodes ahead of the stream meanwhile is bounded by READ_AHEAD_BYTES.
 *
 * Overload: once an update of a session has been refused as OVERLOADED, the
 * session's newer updates on this stream are refused the same way, without
 * reaching the committer, until the bridge resends the refused one (an
 * update with a seq no greater than it): applying a newer one first would
 * make the resend a duplicate, and lose it.
 */
export class StreamUpdatesCall {
  private readonly slots: Slot[] = [];
  /** Index of the oldest slot not yet acknowledged: the queue's head, without shifting the array on every ack. */
  private head = 0;
  private unackedBytes = 0;
  private readonly holds = new Set<Hold>();
  private state: State = "open";
  /** Sessions whose updates are refused after a seq, with the refusal, until the bridge resends from there. */
  private readonly shedFrom = new Map<string, { seq: bigint; error: SessionError }>();
  private readonly closed: Promise<void>;
  private markClosed!: () => void;
  /** Messages read so far: the index a malformed one is named by. */
  private frames = 0;
  /** The status the call ends with in state "ending". */
  private endError: SessionError | undefined;
  /** The tenant the stream was opened for: every update it carries is that tenant's. */
  private readonly tenant: string;
  private readonly readAhead: ReadAhead;

  constructor(
    private readonly call: ServerDuplexStream<ReceivedMessage, unknown>,
    /** Who the stream writes for, checked again after the tokens change (see Authenticator.liveCallerOf). */
    private readonly caller: () => Caller,
    private readonly committer: GroupCommitter,
    private readonly limits: StreamUpdatesLimits,
    private readonly writeAcks: AckWriter,
    private readonly log: Logger,
    /** The RPC's name, for log lines, and where refusals and failures are reported. */
    private readonly report: { method: string; activity: SessionActivity },
    private readonly metrics?: SidecarMetrics,
  ) {
    this.tenant = caller().tenant;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.readAhead = new ReadAhead(call, READ_AHEAD_BYTES);
    call.on("data", (received: ReceivedMessage) => this.receive(received));
    call.on("end", () => this.halfClosed());
    // A cancelled call can take no more acks; what it submitted still commits,
    // and the client resends it (a duplicate seq is acknowledged, not reapplied).
    call.on("cancelled", () => this.close());
    call.on("finish", () => this.close());
  }

  /** Resolves when the call is over: finished with a status, or cancelled. */
  get done(): Promise<void> {
    return this.closed;
  }

  /**
   * For shutdown: stops reading, lets what was read commit and be acked, then
   * ends the call with UNAVAILABLE so the client reconnects elsewhere and
   * resends what was not acked. A client that has already half-closed gets
   * its remaining acks and an OK instead.
   */
  drain(): Promise<void> {
    if (this.state === "open") this.endAfterAcks(shuttingDown());
    return this.closed;
  }

  /** Stops reading, lets what was read commit and be acked, then ends the call with `error`. */
  private endAfterAcks(error: SessionError): void {
    this.state = "ending";
    this.endError = error;
    this.call.pause();
    this.finishIfDone();
  }

  private receive({ updates, encoded, bytes, undecodable }: ReceivedMessage): void {
    // After a drain or a failure begins, updates are neither applied nor acked: the client resends them.
    if (this.state !== "open") return;
    this.readAhead.received(bytes);
    const frame = this.frames++;
    // Bytes that are no message cannot be acked (whose update would the ack be?); everything
    // before them still commits and is acked, then the status names the message.
    if (undecodable) {
      this.endAfterAcks(malformedRequest(undecodable.typeName, undecodable.problem, { frame, element: undecodable.element }));
      return;
    }
    // A token revoked, or moved to another tenant, while the stream was open ends it, like a malformed message.
    let caller: Caller;
    try {
      caller = this.caller();
      if (caller.tenant !== this.tenant) throw new SessionError(Reason.Unauthenticated, "the bearer token now belongs to another tenant; reconnect");
    } catch (err) {
      this.endAfterAcks(asSessionError(err, this.log));
      return;
    }
    // Without each update's bytes, a message's are shared out among its updates, for the limits that count bytes.
    const share = updates.length > 0 ? Math.floor(bytes / updates.length) : 0;
    const receivedAt = performance.now();
    updates.forEach((update, i) => {
      const slot: Slot = {
        receivedAt,
        tenant: caller.tenant,
        update,
        encoded: encoded?.[i],
        bytes: encoded?.[i]?.length ?? (i === updates.length - 1 ? bytes - share * i : share),
        settle: (result) => this.settle(slot, result),
        fail: (err) => this.fail(err),
      };
      this.slots.push(slot);
      this.unackedBytes += slot.bytes;
      try {
        throwIfInvalid(updateViolations(update, ""));
        const denied = updateRefusal(update, caller);
        if (denied) throw denied;
        const refused = this.refusedAfterShedding(update);
        if (refused) this.refuse(slot, refused);
        else this.committer.submit(slot);
      } catch (err) {
        this.refuse(slot, err instanceof SessionError ? err : asSessionError(err, this.log));
      }
    });
    if (this.unacked >= this.limits.maxUnackedUpdates || this.unackedBytes >= this.limits.maxUnackedBytes) this.hold("unacked");
    if (this.committer.full && !this.holds.has("committer")) {
      this.hold("committer");
      void this.committer.whenRoom(updates.length).then(() => this.release("committer"));
    }
  }

  private get unacked(): number {
    return this.slots.length - this.head;
  }

  /** The OVERLOADED error for an update newer than one of its session already refused; undefined when it may go on. */
  private refusedAfterShedding(update: SessionUpdate): SessionError | undefined {
    const shed = this.shedFrom.get(update.conversationId);
    if (shed === undefined) return undefined;
    if (update.seq > shed.seq) return shed.error;
    this.shedFrom.delete(update.conversationId); // the bridge is resending from the refused one
    return undefined;
  }

  /** An update refused here, before it reached the committer (which counts the ones it settles). */
  private refuse(slot: Slot, error: SessionError): void {
    this.metrics?.updatesRefused(new Map([[error.reason, 1]]));
    this.settle(slot, error);
  }

  private settle(slot: Slot, result: UpdateResult | SessionError): void {
    const { conversationId, seq } = slot.update;
    if (result instanceof SessionError && result.reason === Reason.Overloaded && seq > 0n) {
      const shed = this.shedFrom.get(conversationId);
      if (shed === undefined || seq < shed.seq) this.shedFrom.set(conversationId, { seq, error: result });
    }
    if (result instanceof SessionError) {
      const error = asSessionError(result, this.log);
      this.report.activity.updateRefused(this.report.method, this.tenant, conversationId, error, performance.now() - slot.receivedAt);
      slot.ack = ackOf(conversationId, seq, "", false, rpcStatusOf(error));
    } else {
      slot.ack = ackOf(conversationId, seq, result.session.etag, result.applied, undefined);
    }
    // Acks of a group settle one after another in the same turn; one flush writes them together.
    if (slot === this.slots[this.head]) queueMicrotask(() => this.flush());
  }

  /** Writes the acks at the head of the queue that are ready, in arrival order. */
  private flush(): void {
    const ready: UpdateAck[] = [];
    const now = this.metrics ? performance.now() : 0;
    while (this.head < this.slots.length && this.slots[this.head]!.ack !== undefined) {
      const slot = this.slots[this.head++]!;
      this.unackedBytes -= slot.bytes;
      ready.push(slot.ack!);
      this.metrics?.acked((now - slot.receivedAt) / 1000);
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
    // Acks are small, but a client that never reads them must not make us buffer them without end.
    if (ready.length > 0 && this.state !== "closed" && !this.writeAcks(this.call, ready) && !this.holds.has("writes")) {
      this.hold("writes");
      this.call.once("drain", () => this.release("writes"));
    }
    if (this.unacked <= this.limits.maxUnackedUpdates / 2 && this.unackedBytes <= this.limits.maxUnackedBytes / 2) this.release("unacked");
    this.finishIfDone();
  }

  /**
   * The store failed as a whole: nothing after this point can be committed in
   * order, so the call ends with the store's status (UNAVAILABLE) after the
   * acks already due, and the client resends the rest.
   */
  private fail(err: unknown): void {
    if (this.state === "closed") return;
    this.endWith(err);
  }

  private halfClosed(): void {
    if (this.state === "open") this.state = "half-closed";
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (this.unacked > 0) return;
    if (this.state === "half-closed") {
      this.state = "closed";
      this.call.end();
    } else if (this.state === "ending") {
      this.endWith(this.endError);
    }
  }

  /** Ends the call with an error status, after the acks already written. */
  private endWith(err: unknown): void {
    this.state = "closed";
    this.clearSlots();
    const failure = asSessionError(err, this.log);
    // A drain is the sidecar's doing, and the drain itself is logged once for all streams.
    if (failure.reason !== Reason.ShuttingDown) this.report.activity.callFailed(this.report.method, this.tenant, undefined, failure);
    const error = toServiceError(failure, this.log);
    // grpc-js turns an 'error' event into the call's status, sent after the pending writes.
    this.call.emit("error", error);
  }

  private hold(reason: Hold): void {
    if (this.holds.size === 0 && this.state === "open") this.call.pause();
    this.holds.add(reason);
  }

  private release(reason: Hold): void {
    if (!this.holds.delete(reason)) return;
    if (this.holds.size === 0 && this.state === "open") this.call.resume();
  }

  private clearSlots(): void {
    this.slots.length = 0;
    this.head = 0;
    this.unackedBytes = 0;
  }

  private close(): void {
    this.state = "closed";
    this.clearSlots();
    this.markClosed();
  }
}

/**
 * An UpdateAck as a literal: protobuf-es messages are plain objects, and
 * with every field given this skips create()'s reflection, which was a
 * measurable share of a stream's cost at thousands of acks a second.
 */
function ackOf(conversationId: string, seq: bigint, etag: string, applied: boolean, error: UpdateAck["error"]): UpdateAck {
  return { $typeName: "sessionstore.v1.UpdateAck", conversationId, seq, etag, applied, error };
}
