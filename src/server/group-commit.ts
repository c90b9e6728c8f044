import type { SessionUpdate } from "../gen/sessionstore/v1/session_store_pb.js";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
import { overloaded, type SessionError } from "../session/errors.js";
import type { Store, UpdateResult } from "../store/store.js";
import { CommitPace } from "./commit-pace.js";

export interface GroupCommitLimits {
  /** Most updates committed in one group. */
  maxGroupUpdates: number;
  /** Most request bytes committed in one group (a larger single update still goes alone). */
  maxGroupBytes: number;
  /**
   * Updates waiting for a commit beyond which submitters are asked to stop
   * reading (see `full`), whatever the store's pace; with a queue timeout,
   * that pace sets a lower bound while it is slower.
   */
  maxQueuedUpdates: number;
  /** Bytes waiting for a commit beyond which submitters are asked to stop reading. */
  maxQueuedBytes: number;
  /**
   * Groups handed to the store before the earlier ones are durable. More than
   * one only for a store that commits groups in the order it was given them
   * and, once one fails, refuses the ones given to it before it said so
   * (Store.groupsInFlight).
   */
  maxGroupsInFlight: number;
  /**
   * How long an update may wait for its group before it is refused as
   * OVERLOADED instead (0: no limit). Past capacity this bounds every
   * accepted update's wait, and what cannot be committed in time is handed
   * back to the bridge to resend later rather than queued without end.
   */
  queueTimeoutMs: number;
}

/**
 * Groups grow only as far as the backlog does (see GroupCommitter), so the
 * caps matter under load: 1,024 updates or 4 MiB (about 1,300 of a bridge's
 * 100 ms audio appends) spread a commit's fixed cost — a Redis round trip, an
 * SQLite transaction — thinly, yet commit in tens of milliseconds. The queue
 * limits bound what all streams together may leave waiting, whatever their
 * number.
 */
export const defaultGroupCommitLimits: GroupCommitLimits = {
  maxGroupUpdates: 1024,
  maxGroupBytes: 4 * 1024 * 1024,
  maxQueuedUpdates: 16_384,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxGroupsInFlight: 1,
  queueTimeoutMs: 500,
};

/** How long a bridge is told to wait before it resends what was refused as OVERLOADED. */
const OVERLOAD_RETRY_MS = 200;

/**
 * Past capacity, the share of the queue timeout that the updates waiting may
 * take to commit, at the store's recent pace, before the streams stop
 * reading. The rest of the timeout is room for the pace to vary, for the
 * group being committed, and for what streams read after they were asked to
 * stop (a message already arrived). Measured at a quarter and at half: a
 * quarter shed less past capacity for the same goodput (docs/BENCHMARKS.md).
 */
const ADMITTED_SHARE_OF_TIMEOUT = 0.25;

/**
 * Shedding, or holding streams for a full queue, without a pause for this
 * long makes the sidecar overloaded for readiness (GroupCommitter.overloaded).
 */
const SUSTAINED_OVERLOAD_MS = 5_000;

/** One update handed to the committer, and where its outcome goes. */
export interface Submission {
  tenant: string;
  update: SessionUpdate;
  /** The update as it came on the wire, when known (TenantUpdate.encoded). */
  encoded?: Uint8Array | undefined;
  /** Its size on the wire, counted against the group and queue limits. */
  bytes: number;
  /** Called once the group is durable, with the update's result or the SessionError that refused it. */
  settle(result: UpdateResult | SessionError): void;
  /** Called when the store failed as a whole (nothing of the group was kept). */
  fail(err: unknown): void;
  /** When it was queued (performance.now()); set by submit. */
  queuedAt?: number;
}

/**
 * Gathers the updates of every stream and commits them with store.updateMany,
 * one group at a time.
 *
 * Grouping follows load rather than a timer: when the committer is idle, an
 * update is committed on the next turn of the event loop (with whatever else
 * arrived in the same turn), so a lone update waits for nothing; while a
 * commit runs, new updates queue up and become the next group. At low load
 * groups are small and fast; under load they grow to the limits and the
 * per-commit cost is shared. Groups are taken from the head of one FIFO and
 * the store commits them in the order it gets them, so updates of a session
 * are committed in the order they were submitted. Usually one group is in
 * flight at a time; a store that can take the next group while it commits
 * one (its updateMany runs off the event loop) gets two, so that the next
 * group is ready the moment the store is.
 *
 * A submission is settled with its slot of the group (its result, or the
 * SessionError that refused it) once the group is durable, and failed when
 * the store failed as a whole. A failed group also fails everything queued
 * behind it: a later update of the same session must not be applied when an
 * earlier one was not, or the client's replay of the earlier one would be
 * taken for a duplicate and lost.
 *
 * Overload: past capacity the committer holds no more than it can commit
 * within a quarter of the queue timeout at the store's recent pace
 * (CommitPace), and at least one full group: beyond that it reports itself
 * full, the streams stop reading, and HTTP/2 flow control makes the excess
 * wait in the bridges, at no cost to the sidecar. Reading updates only to
 * refuse them (a decode, a validation and an ack each, for nothing) would
 * take the CPU the commits need, and goodput would fall as load grew.
 *
 * An update that has still waited longer than queueTimeoutMs when its group
 * is formed (the store slowed down after it was read, or the streams read
 * more than the pace allowed before they stopped) is refused as OVERLOADED,
 * not applied — and so is every later update of the same session still
 * queued, for the same reason (its stream refuses the session's newer
 * updates until the bridge resends the refused one). Past capacity the
 * committer then commits what it can within the timeout, and hands the rest
 * back at the cost of an ack.
 */
export class GroupCommitter {
  private queue: Submission[] = [];
  private queuedBytes = 0;
  /** Groups handed to the store and not yet answered, and the updates in them. */
  private inFlight = 0;
  private inFlightUpdates = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];
  /** Submitters that stopped reading for a full queue, first come first served, with the updates each is likely to bring. */
  private roomWaiters: Array<{ wake: () => void; updates: number }> = [];
  /**
   * The current run of pressure — updates shed, or a submitter asked to
   * stop reading for a full queue: when it began and when it was last seen
   * (performance.now()). Past capacity the queue is mostly kept full rather
   * than shed, so readiness must count both.
   */
  private pressure = { since: 0, last: Number.NEGATIVE_INFINITY };
  private readonly pace = new CommitPace();
  /** Updates refused as OVERLOADED since the start. */
  shed = 0;

  constructor(
    private readonly store: Store,
    private readonly limits: GroupCommitLimits = defaultGroupCommitLimits,
    private readonly metrics?: SidecarMetrics,
    /** Told of each group once it is durable, before its submitters are: where its events are published. */
    private readonly onCommitted?: (group: readonly Submission[], results: readonly (UpdateResult | SessionError)[]) => void,
  ) {}

  /** Queues an update for the next group. */
  submit(submission: Submission): void {
    submission.queuedAt = performance.now();
    this.queue.push(submission);
    this.queuedBytes += submission.bytes;
    this.schedule();
  }

  /** Updates waiting for a group. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** True while more waits for a commit than the limits, or the store's pace, allow; submitters should then stop reading until whenRoom(). */
  get full(): boolean {
    return this.queue.length >= this.admitted() || this.queuedBytes >= this.limits.maxQueuedBytes;
  }

  /**
   * How many updates may wait: what the store commits in its share of the
   * queue timeout, less what it is committing now (a queued update waits for
   * that too); at least a group, at most maxQueuedUpdates. Before the store
   * has committed anything its pace is unknown, and a group may wait: a
   * burst at start-up (bridges replaying after a failover) would otherwise
   * queue thousands of updates behind a first commit of unknown length.
   */
  private admitted(): number {
    const { maxQueuedUpdates, maxGroupUpdates, queueTimeoutMs } = this.limits;
    if (queueTimeoutMs <= 0) return maxQueuedUpdates;
    const committable = this.pace.updatesIn(queueTimeoutMs * ADMITTED_SHARE_OF_TIMEOUT) - this.inFlightUpdates;
    return Math.min(maxQueuedUpdates, Number.isFinite(committable) ? Math.max(maxGroupUpdates, committable) : maxGroupUpdates);
  }

  /** True while updates have been shed, or streams held for a full queue, without a pause of a second, for SUSTAINED_OVERLOAD_MS or more. */
  get overloaded(): boolean {
    const now = performance.now();
    return now - this.pressure.last < 1_000 && this.pressure.last - this.pressure.since >= SUSTAINED_OVERLOAD_MS;
  }

  /**
   * Resolves once there is room again for about `updates` more (what the
   * submitter's last message held): see wakeRoomWaiters.
   */
  whenRoom(updates = 1): Promise<void> {
    if (!this.full) return Promise.resolve();
    this.pressed(performance.now());
    return new Promise((wake) => this.roomWaiters.push({ wake, updates }));
  }

  /** Resolves once everything submitted so far has been committed (or failed). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0 && !this.scheduled;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.limits.maxGroupsInFlight) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn, so the
    // messages grpc-js decoded from the same socket reads join this group.
    setImmediate(() => {
      this.scheduled = false;
      void this.commitNext();
    });
  }

  private async commitNext(): Promise<void> {
    const group = this.takeGroup();
    // Shedding shrinks the queue as taking a group does, and may empty it:
    // streams that stopped reading while it was full must be told either way.
    this.wakeRoomWaiters();
    if (group.length === 0) return this.settleIdle();
    const startedAt = performance.now();
    const oldestWaitMs = this.metrics ? startedAt - group[0]!.queuedAt! : 0;
    this.inFlight += 1;
    this.inFlightUpdates += group.length;
    // With room for another group in flight, the next one forms while this one commits.
    if (this.queue.length > 0) this.schedule();
    try {
      const results = await this.store.updateMany(group.map(({ tenant, update, encoded }) => ({ tenant, update, encoded })));
      this.pace.record(group.length, startedAt, performance.now());
      this.metrics?.groupCommitted(results, oldestWaitMs / 1000);
      this.onCommitted?.(group, results);
      group.forEach((pending, i) => pending.settle(results[i]!));
    } catch (err) {
      const behind = this.queue;
      this.metrics?.groupFailed(group.length + behind.length, err);
      this.queue = [];
      this.queuedBytes = 0;
      for (const pending of [...group, ...behind]) pending.fail(err);
      this.wakeRoomWaiters(true);
    } finally {
      this.inFlight -= 1;
      this.inFlightUpdates -= group.length;
    }
    if (this.queue.length > 0) this.schedule();
    else this.settleIdle();
  }

  /** The next group from the head of the queue, within the count and byte limits, after shedding what waited too long. */
  private takeGroup(): Submission[] {
    this.shedExpired();
    let count = 0;
    let bytes = 0;
    for (const pending of this.queue) {
      if (count === this.limits.maxGroupUpdates) break;
      if (count > 0 && bytes + pending.bytes > this.limits.maxGroupBytes) break;
      count += 1;
      bytes += pending.bytes;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, count);
  }

  /**
   * Refuses, as OVERLOADED, the updates at the head of the queue that have
   * waited longer than the timeout (the queue is in arrival order, so they
   * are a prefix of it), and every later queued update of their sessions.
   */
  private shedExpired(): void {
    const timeout = this.limits.queueTimeoutMs;
    const now = performance.now();
    if (timeout <= 0 || this.queue.length === 0 || now - this.queue[0]!.queuedAt! <= timeout) return;
    const sessions = new Set<string>();
    let expired = 0;
    while (expired < this.queue.length && now - this.queue[expired]!.queuedAt! > timeout) sessions.add(sessionKey(this.queue[expired++]!));
    const shed = this.queue.slice(0, expired);
    const kept: Submission[] = [];
    for (const submission of this.queue.slice(expired)) (sessions.has(sessionKey(submission)) ? shed : kept).push(submission);
    this.queue = kept;
    for (const submission of shed) this.queuedBytes -= submission.bytes;
    this.pressed(now);
    this.shed += shed.length;
    this.metrics?.updatesShed(shed.length);
    const error = overloaded(timeout, OVERLOAD_RETRY_MS);
    for (const submission of shed) submission.settle(error);
  }

  /** Counts a moment of pressure (see `pressure`): a pause of a second ends a run. */
  private pressed(now: number): void {
    if (now - this.pressure.last >= 1_000) this.pressure.since = now;
    this.pressure.last = now;
  }

  /**
   * Lets held submitters read again, in the order they stopped, as far as
   * the room goes: each one woken reads at least a message at once, so
   * waking every stream whenever a group leaves would let them all bring one
   * in together, past what commits in time. At least one is woken whenever
   * there is room. Those left wait for the next group to be taken, or for
   * the committer to be idle, when all are woken (`all`): nothing is then
   * left to take, and a stream woken with nothing to send must not keep the
   * rest waiting.
   */
  private wakeRoomWaiters(all = false): void {
    if (this.roomWaiters.length === 0 || (this.full && !all)) return;
    let room = all ? Number.POSITIVE_INFINITY : this.admitted() - this.queue.length;
    let woken = 0;
    while (woken < this.roomWaiters.length && (woken === 0 || room > 0)) room -= this.roomWaiters[woken++]!.updates;
    const waiters = this.roomWaiters.splice(0, woken);
    for (const { wake } of waiters) wake();
  }

  private settleIdle(): void {
    if (!this.isIdle()) return;
    this.wakeRoomWaiters(true);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

function sessionKey({ tenant, update }: Submission): string {
  return `${tenant}\u0000${update.conversationId}`;
}
