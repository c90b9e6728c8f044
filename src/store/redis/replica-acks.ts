import type { RedisClient } from "./round.js";
import { formatDuration } from "../../config/duration.js";
import type { Logger } from "../../runtime/logger.js";
import { Reason, SessionError } from "../../session/errors.js";

/**
 * How many replicas must hold a write before the sidecar acknowledges it
 * (--redis-min-replicas), and for how long it waits for them.
 */
export interface ReplicaPolicy {
  /** 0: the primary's answer is the acknowledgement, as Redis's replication is asynchronous. */
  min: number;
  timeoutMs: number;
}

/**
 * Acknowledgements that survive a failover. Redis replicates asynchronously:
 * a write the primary answered can be missing from the replica Sentinel then
 * promotes. WAIT n t blocks until n replicas have received every write this
 * connection sent before it, or until t ms passed, and answers how many did.
 * The store runs it after each write's commit (a group commit's included), so
 * one WAIT covers every commit of the round, and an acknowledgement then
 * means "on the primary and on n replicas".
 *
 * A WAIT that answers fewer than n is an error for the caller, never a silent
 * acknowledgement: the write is on the primary (and on as many replicas as
 * WAIT counted) but may not survive a failover, so the caller learns
 * UNAVAILABLE with both figures and resends (an update with a seq is applied
 * once). WAITAOF (Redis 7.2) would also wait for the replicas' fsync; WAIT is
 * what every Redis since 3.0 has, and it is what the replicas received, in
 * memory: with appendfsync always on the replicas too, that is written to
 * their disks within their next event loop turn.
 */
export class ReplicaAcks {
  /** The WAIT sent and not yet answered, which later commits share (see confirm). */
  private pending: Promise<number> | undefined;
  /** Counts the connections made: a WAIT only counts the writes of its own connection. */
  private connections = 0;

  constructor(
    private readonly redis: RedisClient,
    readonly policy: ReplicaPolicy,
  ) {
    redis.on("connect", () => (this.connections += 1));
  }

  get enabled(): boolean {
    return this.policy.min > 0;
  }

  /** A mark to take before a write and hand to confirm() after it. */
  get connection(): number {
    return this.connections;
  }

  /**
   * Resolves once `min` replicas have every write sent so far; throws
   * STORAGE_UNAVAILABLE naming the figures when they do not within the
   * timeout.
   *
   * WAIT blocks the connection it is sent on, so each write sending its own
   * would queue every call behind a chain of WAITs. Instead a write shares
   * the WAIT already in flight, when there is one: replies come in the order
   * commands were sent on one connection, so a WAIT still unanswered when the
   * write's own reply has arrived was sent after the write, and counts it.
   * Only when none is in flight is a new one sent. And a WAIT counts only
   * what its own connection wrote: one sent after a reconnect (to a promoted
   * replica, say) would confirm a write made on the old connection at once,
   * so `since`, taken before the write, must still be the connection when
   * the answer comes.
   */
  async confirm(since: number): Promise<void> {
    if (!this.enabled) return;
    const { min, timeoutMs } = this.policy;
    const acknowledged = await (this.pending ?? this.send());
    if (this.connections !== since) {
      throw new SessionError(
        Reason.StorageUnavailable,
        "the connection to Redis was re-established before the replicas confirmed the write, so whether it survives a failover is unknown: retry it (an update with a seq is applied once)",
        { metadata: { replicas_required: String(min) } },
      );
    }
    if (acknowledged >= min) return;
    throw new SessionError(
      Reason.StorageUnavailable,
      `the write reached the Redis primary, but only ${acknowledged} of the ${min} replicas --redis-min-replicas asks for confirmed it within ${formatDuration(timeoutMs)}, so it might not survive a failover: retry it (an update with a seq is applied once)`,
      { metadata: { replicas_acknowledged: String(acknowledged), replicas_required: String(min), timeout: formatDuration(timeoutMs) } },
    );
  }

  /**
   * A group's results once confirmed: too few replicas is then each applied
   * update's own error (an error ack; the stream goes on), not the store
   * failing. Updates refused anyway keep their own error.
   */
  async confirmEach<T>(results: (T | SessionError)[], since: number): Promise<(T | SessionError)[]> {
    const unconfirmed = await this.confirm(since).then(() => undefined, (err: unknown) => err);
    if (unconfirmed === undefined) return results;
    if (!(unconfirmed instanceof SessionError)) throw unconfirmed;
    return results.map((result) => (result instanceof SessionError ? result : unconfirmed));
  }

  private send(): Promise<number> {
    const sent = this.redis.wait(this.policy.min, this.policy.timeoutMs).then(Number);
    this.pending = sent;
    // Cleared in the first reaction to the reply, before any write answered after it looks for a WAIT to share.
    const clear = () => {
      if (this.pending === sent) this.pending = undefined;
    };
    sent.then(clear, clear);
    return sent;
  }

  /** Says at start what an acknowledgement means here, and warns when the primary has fewer replicas than required right now. */
  async report(where: string, logger: Logger | undefined): Promise<void> {
    if (!this.enabled) {
      logger?.info({ redis: where }, "an acknowledged write is on the Redis primary; replication to replicas is asynchronous, so a failover can lose the last writes (--redis-min-replicas makes acknowledgements wait for replicas)");
      return;
    }
    const connected = await connectedReplicas(this.redis).catch(() => undefined);
    if (connected !== undefined && connected < this.policy.min) {
      logger?.warn({ redis: where, connectedReplicas: connected, minReplicas: this.policy.min }, `the Redis primary has ${connected} replicas connected, fewer than the ${this.policy.min} --redis-min-replicas requires: writes fail with UNAVAILABLE until enough are`);
      return;
    }
    logger?.info({ redis: where, minReplicas: this.policy.min }, `an acknowledged write is on the Redis primary and on at least ${this.policy.min} replicas`);
  }
}

/** connected_slaves from INFO replication. */
async function connectedReplicas(redis: RedisClient): Promise<number | undefined> {
  const info = await redis.info("replication");
  const match = /^connected_slaves:(\d+)/m.exec(info);
  return match ? Number(match[1]) : undefined;
}
