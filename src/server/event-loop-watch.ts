import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import type { Logger } from "pino";

export interface EventLoopWatchOptions {
  /** A delay of the event loop longer than this makes it unresponsive. */
  maxDelayMs: number;
  /** How long after such a delay the loop still counts as unresponsive. */
  holdMs: number;
  /** How often the delay is read. */
  sampleMs: number;
  /** Told each change: true while the loop is responsive. */
  report: (responsive: boolean) => void;
  /** The parent logger; the watch logs as module "health". */
  logger: Logger;
}

/**
 * Whether the event loop, which answers every gRPC call, is responsive: the
 * sidecar's liveness. A loop that is stuck answers nothing, so a probe times
 * out by itself; what this adds is memory: a loop that was blocked for longer
 * than maxDelayMs at any moment of the last holdMs is reported unresponsive,
 * so a probe that happens to land between two long stalls still hears of
 * them. The delay is the longest one Node's event-loop delay histogram saw
 * since the last sample, or this watch's own timer running late, whichever
 * is longer (after a stall, either may fire first).
 */
export class EventLoopWatch {
  private readonly log: Logger;
  private readonly histogram: IntervalHistogram;
  private timer: NodeJS.Timeout | undefined;
  private lastSampleAt = 0;
  /** performance.now() until which the loop counts as unresponsive. */
  private unresponsiveUntil = 0;
  private responsive = true;

  constructor(private readonly options: EventLoopWatchOptions) {
    this.log = options.logger.child({ module: "health" });
    this.histogram = monitorEventLoopDelay({ resolution: 20 });
  }

  start(): void {
    if (this.timer) return;
    this.histogram.enable();
    this.lastSampleAt = performance.now();
    this.timer = setInterval(() => this.sample(), this.options.sampleMs);
    // Watching alone must not keep the process alive; the server does that.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram.disable();
  }

  private sample(): void {
    const now = performance.now();
    const lateMs = now - this.lastSampleAt - this.options.sampleMs;
    this.lastSampleAt = now;
    const delayMs = Math.max(this.histogram.max / 1e6, lateMs);
    this.histogram.reset();
    if (delayMs > this.options.maxDelayMs) {
      this.unresponsiveUntil = now + this.options.holdMs;
      if (this.responsive) {
        this.log.warn(
          { delayMs: Math.round(delayMs), maxDelayMs: this.options.maxDelayMs, holdMs: this.options.holdMs },
          "the event loop was blocked; liveness is NOT_SERVING until it has been responsive for a while",
        );
      }
    }
    const responsive = now >= this.unresponsiveUntil;
    if (responsive === this.responsive) return;
    this.responsive = responsive;
    if (responsive) this.log.info({ holdMs: this.options.holdMs }, "the event loop is responsive again; liveness is SERVING");
    this.options.report(responsive);
  }
}
