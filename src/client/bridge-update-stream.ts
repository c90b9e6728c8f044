import { create, toBinary } from "@bufbuild/protobuf";
import { status as GrpcCode, type StatusObject } from "@grpc/grpc-js";
import { type Session, type SessionUpdate, SessionUpdateSchema, type StreamUpdateBatchesResponse, type UpdateAck } from "../gen/sessionstore/v1/session_store_pb.js";
import { Backoff } from "./backoff.js";
import type { BridgeUpdateStreamOptions, BridgeUpdateStreamStats, SessionStopInfo, UpdateParts, WriteOptions } from "./bridge-update-stream-options.js";
import { type Batching, UpdateBatcher } from "./update-batcher.js";
import type { SessionStoreClient, UpdateBatchStreamCall, UpdateStreamCall } from "./session-store-client.js";
import { SessionTracker, type TrackedSession } from "./session-tracker.js";
import { statusDetailsOf } from "./error-details.js";
import { OverloadHold } from "./overload-hold.js";
import { UpdateError } from "./update-error.js";

interface Entry {
  update: SessionUpdate;
  /** The update encoded, once, when it is first sent in a batch; a replay sends the same bytes. */
  encoded?: Uint8Array;
  session: TrackedSession<Entry>;
  resolve: (ack: UpdateAck) => void;
  reject: (err: UpdateError) => void;
  /** Dropped when its session stopped: its ack, if one comes, is ignored. */
  dropped: boolean;
}

/** The stream in use: a batch stream (the default) or, for batching: false or a sidecar without it, StreamUpdates. */
type Call = { kind: "batches"; call: UpdateBatchStreamCall; batcher: UpdateBatcher } | { kind: "single"; call: UpdateStreamCall };

/** Statuses a new stream can cure; any other fails the unacknowledged updates rather than resend them forever. */
const TRANSIENT = new Set([GrpcCode.OK, GrpcCode.UNAVAILABLE, GrpcCode.CANCELLED, GrpcCode.UNKNOWN, GrpcCode.INTERNAL, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.ABORTED]);

/**
 * One update stream for a bridge process, carrying the writes of all its
 * calls, with the bookkeeping that makes it safe to lose: each write gets its
 * session's next seq, stays in memory until the sidecar acknowledges it as
 * durable, and is replayed in order on a new stream when one breaks; a
 * session the sidecar refuses as fenced or ended stops (onFenced / onEnded);
 * writes are batched into StreamUpdateBatches unless `batching: false`; an
 * OVERLOADED refusal is held and resent (OverloadHold); write() waits while
 * maxUnacked updates are unacknowledged.
 *
 * The rules all three client libraries follow (seq numbering, duplicates,
 * replay, fencing and ending, batching, overload) are described once, in
 * docs/UPDATE-STREAM-PROTOCOL.md, and tested by the shared fixtures of
 * test/fixtures/update-stream-protocol.json.
 *
 * Every write's promise must be handled: a refused update rejects it.
 */
export class BridgeUpdateStream {
  private readonly sessions = new SessionTracker<Entry>();
  /** Unacknowledged updates in the order they were written: the replay order. */
  private readonly pending = new Set<Entry>();
  private readonly backoff: Backoff;
  private readonly maxUnacked: number;
  private call: Call | undefined;
  private batching: Required<Batching> | false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private opened = 0;
  private closing = false;
  /** Writers waiting for room, first come first served so that seqs follow call order. */
  private readonly roomWaiters: (() => void)[] = [];
  /** Slots handed to woken writers that have not yet added their update. */
  private reserved = 0;
  private readonly drainWaiters: (() => void)[] = [];
  private readonly counters: BridgeUpdateStreamStats = { acked: 0, duplicates: 0, refused: 0, reconnects: 0, replayed: 0, overloaded: 0 };
  /** Unsent updates of sessions held after an OVERLOADED ack: those refused, and writes made since. */
  private readonly parked = new Map<TrackedSession<Entry>, Entry[]>();
  private readonly overload = new OverloadHold<TrackedSession<Entry>>(() => this.releaseHeld());

  constructor(
    private readonly client: SessionStoreClient,
    private readonly options: BridgeUpdateStreamOptions = {},
  ) {
    this.maxUnacked = options.maxUnacked ?? 5_000;
    if (!Number.isInteger(this.maxUnacked) || this.maxUnacked < 1) throw new RangeError(`maxUnacked must be an integer ≥ 1, got ${this.maxUnacked}`);
    this.backoff = new Backoff(options.reconnect);
    this.batching = options.batching === false ? false : UpdateBatcher.resolve(options.batching);
  }

  /**
   * Starts (or restarts, after this bridge resumed the session again)
   * writing for a session, from the Session that CreateSession or
   * ResumeSession returned, or from its owner_epoch and last_seq.
   */
  track(session: Session): void;
  track(conversationId: string, position: { ownerEpoch: bigint; lastSeq: bigint }): void;
  track(sessionOrId: Session | string, position?: { ownerEpoch: bigint; lastSeq: bigint }): void {
    if (typeof sessionOrId === "string") this.sessions.track(sessionOrId, position!.ownerEpoch, position!.lastSeq);
    else this.sessions.track(sessionOrId.conversationId, sessionOrId.ownerEpoch, sessionOrId.lastSeq);
  }

  /** Stops tracking a session once its call is over; updates already written still get their acks. */
  untrack(conversationId: string): void {
    this.sessions.untrack(conversationId);
  }

  /**
   * Sends one update for a tracked session and resolves with its ack once
   * the sidecar has made it durable (`applied` false: it already had it).
   * Rejects with an UpdateError: the sidecar's refusal (errorReasonOf gives
   * SESSION_FENCED, ETAG_MISMATCH, …), or a local one when the session has
   * stopped or the stream is closing. Waits first while maxUnacked updates
   * are unacknowledged.
   */
  async write(conversationId: string, parts: UpdateParts, options: WriteOptions = {}): Promise<UpdateAck> {
    this.writable(conversationId);
    if (this.pending.size + this.reserved >= this.maxUnacked || this.roomWaiters.length > 0) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      this.reserved--;
    }
    let session: TrackedSession<Entry>;
    try {
      session = this.writable(conversationId);
    } catch (err) {
      this.admit(); // pass the slot this writer will not use on to the next one
      this.checkDrained();
      throw err;
    }
    const update = create(SessionUpdateSchema, {
      ...parts,
      conversationId,
      ownerEpoch: options.ownerEpoch ?? session.ownerEpoch,
      seq: this.sessions.nextSeq(session),
    });
    return new Promise<UpdateAck>((resolve, reject) => {
      const entry: Entry = { update, session, resolve, reject, dropped: false };
      this.pending.add(entry);
      session.pending++;
      if (this.overload.holds(session)) this.parkEntry(entry);
      else if (this.call) this.send(this.call, entry);
      else if (!this.reconnectTimer) this.open();
    });
  }

  /**
   * Resolves when a write would be sent without waiting for room: for a
   * producer that does not await each write's ack (it awaits this instead,
   * so backpressure still reaches it).
   */
  async whenWritable(): Promise<void> {
    if (this.pending.size + this.reserved < this.maxUnacked && this.roomWaiters.length === 0) return;
    await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    this.reserved--;
    this.admit();
    this.checkDrained();
  }

  /** Resolves once every update written so far has been acknowledged or refused. */
  flush(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Refuses new writes, waits up to timeoutMs for the pending ones to be
   * acknowledged, then ends the stream. Updates still unacknowledged are
   * rejected (local "CLOSED"); resolves with how many there were.
   */
  async close(timeoutMs = 10_000): Promise<number> {
    this.closing = true;
    // Waiting writers wake up to be refused.
    this.reserved += this.roomWaiters.length;
    this.roomWaiters.splice(0).forEach((wake) => wake());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.overload.clear();
    this.parked.clear();
    const abandoned = this.failAll({ code: GrpcCode.DEADLINE_EXCEEDED, details: `close() gave up after ${timeoutMs} ms without an ack` }, "CLOSED");
    const open = this.call;
    this.call = undefined;
    if (open?.kind === "batches") open.batcher.cancel();
    open?.call.end();
    return abandoned;
  }

  get unacked(): number {
    return this.pending.size;
  }

  get stats(): Readonly<BridgeUpdateStreamStats> {
    return { ...this.counters };
  }

  /** The session's state, or the reason a write for it is refused here. */
  private writable(conversationId: string): TrackedSession<Entry> {
    if (this.closing) throw UpdateError.abandoned(conversationId, 0n, { code: GrpcCode.CANCELLED, details: "the update stream is closing" }, "CLOSED");
    const session = this.sessions.get(conversationId);
    if (!session || session.untracked) throw new Error(`session "${conversationId}" is not tracked: call track() with the session that ResumeSession or CreateSession returned`);
    if (session.stopped) throw UpdateError.stopped(conversationId, 0n, session.stopped);
    return session;
  }

  private open(): void {
    let open: Call;
    if (this.batching) {
      const call = this.client.openUpdateBatchStream();
      open = { kind: "batches", call, batcher: new UpdateBatcher(this.batching, (bytes) => call.write(bytes)) };
      call.on("data", (response: StreamUpdateBatchesResponse) => {
        if (this.call === open) for (const ack of response.acks) this.onAck(ack);
      });
    } else {
      const call = this.client.openUpdateStream();
      open = { kind: "single", call };
      call.on("data", (ack: UpdateAck) => this.call === open && this.onAck(ack));
    }
    this.call = open;
    // A new stream carries every pending update, those waiting out an overload included.
    this.overload.clear();
    this.parked.clear();
    if (this.opened++ > 0) {
      this.counters.reconnects++;
      this.counters.replayed += this.pending.size;
    }
    // The final status comes with "status" too; "error" only needs a listener so that it is not thrown.
    open.call.on("error", () => undefined);
    open.call.on("status", (status: StatusObject) => this.call === open && this.onBreak(status));
    for (const entry of this.pending) this.send(open, entry);
  }

  private send(open: Call, entry: Entry): void {
    entry.session.inFlight.push(entry);
    if (open.kind === "single") {
      open.call.write(entry.update);
      return;
    }
    entry.encoded ??= toBinary(SessionUpdateSchema, entry.update);
    open.batcher.add(entry.encoded);
  }

  private onAck(ack: UpdateAck): void {
    const session = this.sessions.get(ack.conversationId);
    const entry = session && this.sessions.takeInFlight(session, ack.seq);
    if (!session || !entry) return;
    this.backoff.reset();
    if (entry.dropped) return;
    if (!ack.error) this.overload.acknowledged();
    else if (statusDetailsOf(ack.error).errorInfo?.reason === "OVERLOADED") {
      this.park(entry, ack);
      return;
    }
    this.settle(entry);
    // The last ack a held session was waiting for may be this one.
    if (this.overload.holds(session) && session.inFlight.length === 0) this.releaseHeld();
    if (!ack.error) {
      this.counters.acked++;
      if (!ack.applied) this.counters.duplicates++;
      entry.resolve(ack);
      return;
    }
    this.counters.refused++;
    const error = UpdateError.fromAck(ack as UpdateAck & { error: NonNullable<UpdateAck["error"]> });
    entry.reject(error);
    // A fence of a write made before this bridge resumed the session again says nothing about the new ownership.
    const stale = error.reason === "SESSION_FENCED" && entry.update.ownerEpoch !== session.ownerEpoch;
    if ((error.reason === "SESSION_FENCED" || error.reason === "SESSION_ENDED") && !stale) this.stop(session, error.reason, error);
  }

  /** Holds an update the sidecar could not commit in time, and its session, until the resend (see OverloadHold). */
  private park(entry: Entry, ack: UpdateAck): void {
    this.counters.overloaded++;
    this.parkEntry(entry);
    const asked = statusDetailsOf(ack.error!).retryInfo?.retryDelay;
    this.overload.hold(entry.session, asked ? Number(asked.seconds) * 1000 + asked.nanos / 1e6 : 0);
    // Its ack may have been the last one in flight, after the delay had already passed.
    if (entry.session.inFlight.length === 0) this.releaseHeld();
  }

  private parkEntry(entry: Entry): void {
    const entries = this.parked.get(entry.session);
    if (entries) entries.push(entry);
    else this.parked.set(entry.session, [entry]);
  }

  /** Sends again, in seq order, the updates of every held session that is ready. */
  private releaseHeld(): void {
    for (const session of this.overload.releaseReady((s) => s.inFlight.length > 0)) {
      const entries = (this.parked.get(session) ?? []).filter((entry) => !entry.dropped).sort((a, b) => (a.update.seq < b.update.seq ? -1 : 1));
      this.parked.delete(session);
      // Without a stream, the next one replays every pending update anyway.
      if (this.call) for (const entry of entries) this.send(this.call, entry);
    }
  }

  private stop(session: TrackedSession<Entry>, reason: SessionStopInfo["reason"], error: UpdateError): void {
    session.stopped = error;
    let dropped = 0;
    if (session.pending > 0) {
      for (const entry of this.pending) {
        if (entry.session !== session) continue;
        entry.dropped = true;
        this.settle(entry);
        entry.reject(UpdateError.stopped(session.conversationId, entry.update.seq, error));
        dropped++;
      }
    }
    const callback = reason === "SESSION_FENCED" ? this.options.onFenced : this.options.onEnded;
    callback?.(session.conversationId, { reason, error, dropped });
  }

  private onBreak(status: StatusObject): void {
    if (this.call?.kind === "batches") this.call.batcher.cancel();
    this.call = undefined;
    this.sessions.forgetInFlight();
    if (status.code === GrpcCode.UNIMPLEMENTED && this.batching) {
      // A sidecar older than StreamUpdateBatches: StreamUpdates carries the same updates, one to a message.
      this.batching = false;
      this.open();
      return;
    }
    const unacked = this.pending.size;
    let reconnectInMs: number | undefined;
    if (!TRANSIENT.has(status.code)) {
      this.failAll(status, "STREAM_FAILED");
    } else if (unacked > 0) {
      reconnectInMs = this.backoff.next();
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        if (!this.call) this.open();
      }, reconnectInMs);
    } else {
      this.backoff.reset(); // nothing was lost; the next write opens a stream at once
    }
    this.options.onDisconnect?.({ status, unacked, reconnectInMs });
  }

  /** Rejects every pending update with the given status; returns how many. */
  private failAll(status: Omit<StatusObject, "metadata"> & { metadata?: StatusObject["metadata"] }, local: "CLOSED" | "STREAM_FAILED"): number {
    const entries = [...this.pending];
    for (const entry of entries) {
      entry.dropped = true;
      this.settle(entry);
      entry.reject(UpdateError.abandoned(entry.update.conversationId, entry.update.seq, status, local));
    }
    return entries.length;
  }

  /** Removes an entry from the pending set, making room for a waiting writer. */
  private settle(entry: Entry): void {
    if (!this.pending.delete(entry)) return;
    this.sessions.settled(entry.session);
    this.admit();
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.idle()) this.drainWaiters.splice(0).forEach((resolve) => resolve());
  }

  /** Wakes waiting writers while there is room, reserving a slot for each. */
  private admit(): void {
    while (this.roomWaiters.length > 0 && this.pending.size + this.reserved < this.maxUnacked) {
      this.reserved++;
      this.roomWaiters.shift()!();
    }
  }

  private idle(): boolean {
    return this.pending.size === 0 && this.reserved === 0 && this.roomWaiters.length === 0;
  }
}
