import type { Logger } from "pino";
import { statusName } from "../session/lifecycle.js";
import type { Store } from "../store/store.js";
import type { SessionActivity } from "./session-activity.js";

export interface ActivitySummaryOptions {
  /** Between two lines; 0 logs none. */
  intervalMs: number;
  activity: SessionActivity;
  store: Store;
  /** The tenants whose live sessions are counted: the configured ones, or "default" with auth off. */
  tenants: readonly string[];
  logger: Logger;
}

/**
 * Every intervalMs, one info line (module "summary") with what happened
 * since the last one: sessions created, resumed and refused a resume,
 * updates applied, duplicate and refused, fenced writes, ended, deleted and
 * expired sessions, failed calls; and the live sessions by status now, of
 * the store (all sidecars, with Redis), over the configured tenants. The
 * plan's metrics_interval_seconds: a heartbeat an operator reads in
 * `kubectl logs` without a metrics stack.
 */
export class ActivitySummary {
  private timer: NodeJS.Timeout | undefined;
  private last = performance.now();
  private readonly log: Logger;

  constructor(private readonly options: ActivitySummaryOptions) {
    this.log = options.logger.child({ module: "summary" });
  }

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => void this.logLine(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async logLine(): Promise<void> {
    const now = performance.now();
    const intervalS = Math.round((now - this.last) / 100) / 10;
    this.last = now;
    const counts = this.options.activity.takeCounts();
    let live: Record<string, number> | undefined;
    try {
      live = await this.liveByStatus();
    } catch (err) {
      this.log.warn({ err }, "cannot count live sessions for the summary");
    }
    this.log.info(
      {
        interval_s: intervalS,
        live_by_status: live,
        created: counts.created,
        resumed: counts.resumed,
        resumes_refused: counts.resumesRefused,
        updates_applied: counts.updatesApplied,
        updates_duplicate: counts.updatesDuplicate,
        updates_refused: counts.updatesRefused,
        fenced: counts.fenced,
        ended: counts.ended,
        deleted: counts.deleted,
        expired: counts.expired,
        calls_failed: counts.callsFailed,
      },
      "activity since the last summary",
    );
  }

  private async liveByStatus(): Promise<Record<string, number>> {
    const live: Record<string, number> = {};
    for (const tenant of this.options.tenants) {
      const stats = await this.options.store.stats(tenant);
      for (const [status, count] of stats.byStatus) live[statusName(status)] = (live[statusName(status)] ?? 0) + count;
    }
    return live;
  }
}
