import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { GrpcServerMetrics } from "./grpc-server-metrics.js";
import { TallyHistogram } from "./tally-histogram.js";
import { Reason, SessionError } from "../session/errors.js";
import type { UpdateResult } from "../store/store.js";

/**
 * Latency buckets, in seconds, for calls a live voice call waits on: a
 * healthy commit takes a few milliseconds, and anything past a second is an
 * outage as a caller hears it.
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Updates per committed group: one at low load, up to the group limit (1,024 by default) under load. */
const GROUP_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** How a ResumeSession call ended. */
export type ResumeOutcome = "resumed" | "created" | "refused";

/** The reasons that mean the storage itself failed, as opposed to a request the rules refused. */
const STORAGE_REASONS: ReadonlySet<string> = new Set([Reason.StorageUnavailable, Reason.StorageFull, Reason.DataCorrupted]);

/**
 * The sidecar's own metrics, in one prom-client registry with Node's
 * defaults, and the few calls the request paths make to feed them.
 *
 * Labels are closed sets: the gRPC method and code, an outcome, an error
 * Reason, a session status, and a tenant only from the configured bounded
 * list (see StoreGauges). A conversation id never becomes a label: one per
 * call would grow the series without end.
 *
 * The update path runs thousands of times a second, so what it records is
 * tallied per committed group in plain numbers, and its histograms are
 * TallyHistograms: prom-client's own work (hashing label sets) happens per
 * group at most, and for applied and duplicate counts only at scrape time.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  readonly grpc = new GrpcServerMetrics(this.registry);

  private readonly resumeSeconds = new Histogram({
    name: "sessionstore_resume_duration_seconds",
    help: "Time to answer ResumeSession, by outcome (resumed, created, refused).",
    labelNames: ["outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly resumes = new Counter({
    name: "sessionstore_resumes_total",
    help: "ResumeSession calls by outcome (resumed, created, refused) and, when refused, the ErrorInfo reason.",
    labelNames: ["outcome", "reason"] as const,
    registers: [this.registry],
  });

  // Observed once per update: a TallyHistogram, as cheap as a few additions.
  private readonly ackSeconds = new TallyHistogram(
    "sessionstore_update_ack_duration_seconds",
    "Time from reading an update off a StreamUpdates or StreamUpdateBatches stream to writing its ack.",
    LATENCY_BUCKETS,
    this.registry,
  );

  /** Applied and duplicate updates since the last scrape, added to `updates` when scraped. */
  private readonly pending = { applied: 0, duplicate: 0 };

  private readonly updates = new Counter({
    name: "sessionstore_updates_total",
    help: "Streamed updates by result: applied, duplicate (seq already applied) or refused, with the ErrorInfo reason when refused.",
    labelNames: ["result", "reason"] as const,
    registers: [this.registry],
    collect: () => {
      if (this.pending.applied > 0) this.updates.inc({ result: "applied", reason: "" }, this.pending.applied);
      if (this.pending.duplicate > 0) this.updates.inc({ result: "duplicate", reason: "" }, this.pending.duplicate);
      this.pending.applied = 0;
      this.pending.duplicate = 0;
    },
  });

  private readonly groupSize = new TallyHistogram(
    "sessionstore_commit_group_updates",
    "Updates committed together in one group commit.",
    GROUP_SIZE_BUCKETS,
    this.registry,
  );

  private readonly queueWait = new TallyHistogram(
    "sessionstore_update_queue_wait_seconds",
    "How long the oldest update of each group waited in the commit queue before its group was formed.",
    LATENCY_BUCKETS,
    this.registry,
  );

  private readonly shed = new Counter({
    name: "sessionstore_updates_shed_total",
    help: "Updates refused as OVERLOADED because they waited in the commit queue longer than --update-queue-timeout.",
    registers: [this.registry],
  });

  private readonly fenced = new Counter({
    name: "sessionstore_fenced_writes_total",
    help: "Writes refused as SESSION_FENCED (their owner_epoch is older than the session's: a newer owner resumed the call), by operation (update, end).",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });

  private readonly storageErrors = new Counter({
    name: "sessionstore_storage_errors_total",
    help: "Calls, update groups and sweeps that failed because of the storage, by ErrorInfo reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  private readonly storageUp = new Gauge({
    name: "sessionstore_storage_up",
    help: "1 when the last storage probe (once a second) succeeded, 0 when it failed.",
    registers: [this.registry],
  });

  private readonly sweptSessions = new Counter({
    name: "sessionstore_sweeper_deleted_sessions_total",
    help: "Expired sessions deleted by the background sweeper.",
    registers: [this.registry],
  });

  private readonly sweeps = new Counter({
    name: "sessionstore_sweeps_total",
    help: "Background sweeps by outcome (ok, failed).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which promtool's lint refuses; nodejs_active_handles and
    // nodejs_active_requests (by type) and nodejs_active_resources say the same.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) this.registry.removeSingleMetric(name);
    this.storageUp.set(1);
  }

  /** A ResumeSession call ended; `error` when it was refused or failed. */
  resume(seconds: number, result: { created: boolean } | SessionError): void {
    const outcome: ResumeOutcome = result instanceof SessionError ? "refused" : result.created ? "created" : "resumed";
    this.resumeSeconds.observe({ outcome }, seconds);
    this.resumes.inc({ outcome, reason: result instanceof SessionError ? result.reason : "" });
  }

  /** A unary call failed with `error`: fenced writes and storage failures are counted apart. */
  callFailed(grpcMethod: string, error: SessionError): void {
    if (error.reason === Reason.SessionFenced) this.fenced.inc({ operation: grpcMethod === "EndSession" ? "end" : "update" });
    this.storageFailed(error);
  }

  /** A group commit answered: its size, its oldest update's wait, and each update's result, added once per group. */
  groupCommitted(results: readonly (UpdateResult | SessionError)[], oldestWaitSeconds: number): void {
    this.groupSize.observe(results.length);
    this.queueWait.observe(oldestWaitSeconds);
    let applied = 0;
    let duplicate = 0;
    let refused: Map<string, number> | undefined;
    for (const result of results) {
      if (result instanceof SessionError) (refused ??= new Map()).set(result.reason, (refused.get(result.reason) ?? 0) + 1);
      else if (result.applied) applied += 1;
      else duplicate += 1;
    }
    this.pending.applied += applied;
    this.pending.duplicate += duplicate;
    if (refused) this.updatesRefused(refused);
  }

  /** A group commit failed as a whole: every update of it is refused for the storage's reason. */
  groupFailed(updates: number, err: unknown): void {
    const reason = err instanceof SessionError ? err.reason : Reason.Internal;
    this.updates.inc({ result: "refused", reason }, updates);
    if (err instanceof SessionError) this.storageFailed(err);
  }

  /** Reports the commit queue's depth, read when scraped. */
  watchQueue(depth: () => number): void {
    new Gauge({
      name: "sessionstore_update_queue_depth",
      help: "Updates waiting in the commit queue for their group.",
      registers: [this.registry],
      collect() {
        this.set(depth());
      },
    });
  }

  /** Updates refused before they reached a group (invalid, or behind a shed one), by reason. */
  updatesRefused(byReason: ReadonlyMap<string, number>): void {
    for (const [reason, count] of byReason) {
      this.updates.inc({ result: "refused", reason }, count);
      if (reason === Reason.SessionFenced) this.fenced.inc({ operation: "update" }, count);
    }
  }

  /** Updates refused as OVERLOADED by the committer. */
  updatesShed(count: number): void {
    this.shed.inc(count);
    this.updates.inc({ result: "refused", reason: Reason.Overloaded }, count);
  }

  /** An ack was written, `seconds` after its update was read. */
  acked(seconds: number): void {
    this.ackSeconds.observe(seconds);
  }

  /** The storage probe's latest answer. */
  storageProbed(up: boolean): void {
    this.storageUp.set(up ? 1 : 0);
  }

  /** A background sweep deleted `deleted` expired sessions. */
  swept(deleted: number): void {
    this.sweeps.inc({ outcome: "ok" });
    if (deleted > 0) this.sweptSessions.inc(deleted);
  }

  /** A background sweep failed. */
  sweepFailed(err: unknown): void {
    this.sweeps.inc({ outcome: "failed" });
    if (err instanceof SessionError) this.storageFailed(err);
  }

  private storageFailed(error: SessionError): void {
    if (STORAGE_REASONS.has(error.reason)) this.storageErrors.inc({ reason: error.reason });
  }
}
