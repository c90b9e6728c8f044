import { create } from "@bufbuild/protobuf";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { type SessionUpdate, type UpdateAck, UpdateAckSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { SessionError, shuttingDown, throwIfInvalid } from "../session/errors.js";
import { updateViolations } from "../session/validate.js";
import type { UpdateResult } from "../store/store.js";
import { asSessionError, rpcStatusOf, toServiceError } from "./error-status.js";
import type { GroupCommitter } from "./group-commit.js";

/** What the StreamUpdates handler reads: the update and its size on the wire, measured while decoding. */
export interface ReceivedUpdate {
  update: SessionUpdate;
  bytes: number;
}

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

/** One update read from the stream, until its ack is written. */
interface Slot {
  update: SessionUpdate;
  bytes: number;
  ack?: UpdateAck;
}

/** Why the stream is not reading; it reads again when none is left. */
type Hold = "unacked" | "writes" | "committer";

type State = "open" | "half-closed" | "draining" | "closed";

/**
 * One StreamUpdates call. Updates go to the group committer; acks go back in
 * the order the updates arrived, which keeps each session's acks in its
 * updates' order (the committer commits in submission order, and a refused
 * or invalid update's ack waits its turn too). An ack is written only once
 * its update is durable.
 *
 * Backpressure: the stream stops reading (grpc-js then stops reading the
 * HTTP/2 stream, and flow control holds the client) while too much is read
 * and unacknowledged, while the client is not reading its acks, or while the
 * committer is full; it reads again below half the limits.
 */
export class StreamUpdatesCall {
  private readonly slots: Slot[] = [];
  private unackedBytes = 0;
  private readonly holds = new Set<Hold>();
  private state: State = "open";
  private readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(
    private readonly call: ServerDuplexStream<ReceivedUpdate, UpdateAck>,
    private readonly tenant: string,
    private readonly committer: GroupCommitter,
    private readonly limits: StreamUpdatesLimits,
    private readonly log: Logger,
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    call.on("data", (received: ReceivedUpdate) => this.receive(received));
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
    if (this.state === "open") {
      this.state = "draining";
      this.call.pause();
      this.finishIfDone();
    }
    return this.closed;
  }

  private receive({ update, bytes }: ReceivedUpdate): void {
    // After a drain or a failure begins, updates are neither applied nor acked: the client resends them.
    if (this.state !== "open") return;
    const slot: Slot = { update, bytes };
    this.slots.push(slot);
    this.unackedBytes += bytes;
    try {
      throwIfInvalid(updateViolations(update, ""));
      this.committer.submit(this.tenant, update, bytes).then(
        (result) => this.settle(slot, result),
        (err: unknown) => this.fail(err),
      );
    } catch (err) {
      this.settle(slot, err instanceof SessionError ? err : asSessionError(err, this.log));
    }
    if (this.slots.length >= this.limits.maxUnackedUpdates || this.unackedBytes >= this.limits.maxUnackedBytes) this.hold("unacked");
    if (this.committer.full && !this.holds.has("committer")) {
      this.hold("committer");
      void this.committer.whenRoom().then(() => this.release("committer"));
    }
  }

  private settle(slot: Slot, result: UpdateResult | SessionError): void {
    const { conversationId, seq } = slot.update;
    slot.ack =
      result instanceof SessionError
        ? create(UpdateAckSchema, { conversationId, seq, error: rpcStatusOf(asSessionError(result, this.log)), applied: false })
        : create(UpdateAckSchema, { conversationId, seq, etag: result.session.etag, applied: result.applied });
    this.flush();
  }

  /** Writes the acks at the head of the queue that are ready, in arrival order. */
  private flush(): void {
    while (this.slots[0]?.ack !== undefined) {
      const slot = this.slots.shift()!;
      this.unackedBytes -= slot.bytes;
      if (this.state === "closed") continue;
      if (!this.call.write(slot.ack!)) {
        // Acks are small, but a client that never reads them must not make us buffer them without end.
        if (!this.holds.has("writes")) {
          this.hold("writes");
          this.call.once("drain", () => this.release("writes"));
        }
      }
    }
    if (this.slots.length <= this.limits.maxUnackedUpdates / 2 && this.unackedBytes <= this.limits.maxUnackedBytes / 2) this.release("unacked");
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
    if (this.slots.length > 0) return;
    if (this.state === "half-closed") {
      this.state = "closed";
      this.call.end();
    } else if (this.state === "draining") {
      this.endWith(shuttingDown());
    }
  }

  /** Ends the call with an error status, after the acks already written. */
  private endWith(err: unknown): void {
    this.state = "closed";
    this.slots.length = 0;
    const error = toServiceError(err, this.log);
    this.log.debug({ code: error.code, message: error.details }, "update stream ended");
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

  private close(): void {
    this.state = "closed";
    this.slots.length = 0;
    this.unackedBytes = 0;
    this.markClosed();
  }
}
