import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.js";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
import type { Session } from "../gen/sessionstore/v1/session_store_pb.js";
import { ABANDONED_REASON } from "../session/abandon-plan.js";
import type { Store } from "./store.js";

export interface SweeperOptions {
  /** Pause between the end of one sweep and the start of the next. */
  intervalMs: number;
  /** Sessions deleted per transaction, so a big sweep never blocks writers for long. */
  batchSize: number;
  /** Sessions idle for longer than this are deleted. */
  maxSessionAgeMs: number;
  clock: Clock;
  /** The parent logger; the sweeper logs as module "sweeper". */
  logger: Logger;
  /** Told each sweep's outcome, when metrics are on. */
  metrics?: Pick<SidecarMetrics, "swept" | "sweepFailed"> | undefined;
  /** Called after each committed batch with the ids it deleted, of one tenant per call: where EXPIRED events come from. */
  onExpired?: (tenant: string, conversationIds: string[]) => void;
  /** Called after each committed batch with the abandoned sessions it ended (BASIC), of one tenant per call: where their ENDED events come from. */
  onAbandoned?: (tenant: string, sessions: Session[]) => void;
}

/**
 * Deletes expired sessions from every tenant every intervalMs. Reads already
 * hide expired sessions, so sweeping only frees space: a late or failed sweep
 * changes no answer a client gets, which is why a failure is a warning and the
 * next sweep simply tries again. Then, when the pause grace is on, it ends the
 * abandoned calls (session/abandon-plan.ts): those it ends late stay PAUSED
 * and resumable a little longer, which is all a late sweep costs there too.
 */
export class Sweeper {
  private readonly options: SweeperOptions;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private started = false;

  constructor(
    private readonly store: Store,
    options: SweeperOptions,
  ) {
    this.options = options;
    this.log = options.logger.child({ module: "sweeper" });
  }

  /** Schedules sweeps, the first one intervalMs from now. Calling it again does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule();
  }

  /**
   * Cancels the next sweep and waits for a running one to finish, so the store
   * can be closed right after. Idempotent.
   */
  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Its outcome has already been logged by the timer path or returned to whoever called sweepOnce.
    await this.running?.catch(() => undefined);
  }

  /**
   * Runs one sweep now and resolves with how many sessions it deleted (those
   * it ended as abandoned are logged, not counted). While a
   * sweep is running, another call joins it instead of starting a second one:
   * two sweeps at once would only contend for the same rows.
   */
  sweepOnce(): Promise<number> {
    if (this.running === undefined) {
      this.running = this.sweep().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async sweep(): Promise<number> {
    const { batchSize, maxSessionAgeMs, clock } = this.options;
    const cutoff = new Date(clock.now().getTime() - maxSessionAgeMs);
    let deleted: number;
    try {
      deleted = await this.store.cleanup({ tenant: undefined, cutoff, dryRun: false, batchSize, onDeleted: this.options.onExpired });
    } catch (err) {
      this.options.metrics?.sweepFailed(err);
      throw err;
    }
    this.options.metrics?.swept(deleted);
    if (deleted > 0) this.log.info({ deleted, cutoff: cutoff.toISOString() }, "swept expired sessions");
    let abandoned: number;
    try {
      abandoned = await this.store.endAbandoned({ batchSize, onEnded: this.options.onAbandoned });
    } catch (err) {
      this.options.metrics?.sweepFailed(err);
      throw err;
    }
    if (abandoned > 0) this.log.info({ ended: abandoned, end_reason: ABANDONED_REASON }, "ended abandoned sessions (PAUSED past the pause grace)");
    return deleted;
  }

  // A timeout re-armed after each sweep rather than setInterval: a sweep that
  // outlasts the interval delays the next one instead of overlapping it.
  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweepOnce()
        .catch((err: unknown) => this.log.warn({ err }, "sweep failed; retrying at the next interval"))
        .finally(() => {
          // stop() then start() during this sweep has already armed the next one.
          if (this.started && this.timer === undefined) this.schedule();
        });
    }, this.options.intervalMs);
    // The sweeper alone must not keep the process alive; the server does that.
    this.timer.unref();
  }
}
