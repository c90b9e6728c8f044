import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { SidecarMetrics } from "../metrics/sidecar-metrics.js";
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
}

/**
 * Deletes expired sessions from every tenant every intervalMs. Reads already
 * hide expired sessions, so sweeping only frees space: a late or failed sweep
 * changes no answer a client gets, which is why a failure is a warning and the
 * next sweep simply tries again.
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
   * Runs one sweep now and resolves with how many sessions it deleted. While a
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
