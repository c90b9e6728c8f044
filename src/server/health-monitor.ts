import type { Logger } from "pino";

export interface HealthMonitorOptions {
  /** Asks whether the storage can serve: resolves when it can, rejects when it cannot. */
  probe: () => Promise<void>;
  /** Told the new answer each time it changes (readiness: SERVING / NOT_SERVING). */
  report: (serving: boolean) => void;
  /** Pause between the end of one probe and the start of the next. */
  intervalMs: number;
  /** The parent logger; the monitor logs as module "health". */
  logger: Logger;
}

/**
 * Keeps readiness (the gRPC health status of the whole server and of
 * SessionStoreService) in step with the storage behind it. A
 * sidecar whose store is unreachable (Redis down) cannot serve a single call,
 * so Kubernetes probes and load balancers should hear NOT_SERVING and stop
 * sending it calls; when the store answers again, SERVING comes back by
 * itself. It works for every backend: each store's ping() says whether it can
 * serve.
 *
 * The server starts SERVING, so the monitor reports only changes, and the
 * first probe runs at once. Probes never overlap: the next one is scheduled
 * when the last has answered, so a store that hangs delays the answer rather
 * than piling up probes.
 */
export class HealthMonitor {
  private readonly log: Logger;
  private serving = true;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly options: HealthMonitorOptions) {
    this.log = options.logger.child({ module: "health" });
  }

  /** Starts probing. Calling it again while running does nothing. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /**
   * Stops probing and waits for a probe in flight, after which nothing is
   * reported any more: a shutdown sets NOT_SERVING itself and must not be
   * overruled by a late probe. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.probeOnce().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    // Probing alone must not keep the process alive; the server does that.
    this.timer.unref();
  }

  private async probeOnce(): Promise<void> {
    let error: unknown;
    const serving = await this.options.probe().then(
      () => true,
      (err: unknown) => {
        error = err;
        return false;
      },
    );
    if (this.stopped || serving === this.serving) return;
    this.serving = serving;
    if (serving) this.log.info("storage answers again; readiness is SERVING");
    // The message says why; the stack of a failed ping would say nothing more, every time.
    else this.log.warn({ reason: error instanceof Error ? error.message : String(error) }, "storage cannot serve; readiness is NOT_SERVING until it answers again (liveness stays SERVING)");
    this.options.report(serving);
  }
}
