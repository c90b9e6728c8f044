import type { Redis } from "ioredis";
import { formatDuration } from "../../config/duration.js";
import type { Logger } from "../../logger.js";
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
  constructor(
    private readonly redis: Redis,
    readonly policy: ReplicaPolicy,
  ) {}

  get enabled(): boolean {
    return this.policy.min > 0;
  }

  /** Resolves once `min` replicas have every write sent so far; throws STORAGE_UNAVAILABLE naming the figures when they do not within the timeout. */
  async confirm(): Promise<void> {
    if (!this.enabled) return;
    const { min, timeoutMs } = this.policy;
    const acknowledged = Number(await this.redis.wait(min, timeoutMs));
    if (acknowledged >= min) return;
    throw new SessionError(
      Reason.StorageUnavailable,
      `the write reached the Redis primary, but only ${acknowledged} of the ${min} replicas --redis-min-replicas asks for confirmed it within ${formatDuration(timeoutMs)}, so it might not survive a failover: retry it (an update with a seq is applied once)`,
      { metadata: { replicas_acknowledged: String(acknowledged), replicas_required: String(min), timeout: formatDuration(timeoutMs) } },
    );
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
async function connectedReplicas(redis: Redis): Promise<number | undefined> {
  const info = await redis.info("replication");
  const match = /^connected_slaves:(\d+)/m.exec(info);
  return match ? Number(match[1]) : undefined;
}
