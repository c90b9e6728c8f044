import { Backoff } from "./backoff.js";

/**
 * The sessions BridgeUpdateStream holds back after an OVERLOADED ack, and
 * when each may be sent again.
 *
 * The sidecar refuses a session's later updates on the same stream too,
 * until it gets one of the session's updates with a seq no greater than the
 * refused one. So a held session's unsent updates (those refused, and the
 * writes made since, which would only be refused as well) wait, and go again
 * together in seq order, once both:
 *
 * - the resend delay has passed: the longer of the sidecar's RetryInfo delay
 *   and a backoff that doubles while the sidecar keeps refusing and starts
 *   over once an update is acknowledged; one delay covers every session held
 *   before it passes;
 * - every update of the session already sent on the stream has its ack.
 *   They will all be refused; resending before the last of those acks came
 *   would let a write made after the resend be applied ahead of that update,
 *   whose own resend would then be acknowledged as a duplicate, unapplied.
 */
export class OverloadHold<S> {
  /** Held sessions, each with whether its resend delay has passed. */
  private readonly due = new Map<S, boolean>();
  private readonly backoff = new Backoff({ initialDelayMs: 200, maxDelayMs: 5_000 });
  private timer: NodeJS.Timeout | undefined;

  /** `expired` is called when a resend delay has passed, to release what is ready (releaseReady). */
  constructor(private readonly expired: () => void) {}

  holds(session: S): boolean {
    return this.due.has(session);
  }

  /** Holds a session after an OVERLOADED ack that asked for `retryDelayMs`. */
  hold(session: S, retryDelayMs: number): void {
    if (!this.due.has(session)) this.due.set(session, false);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const held of this.due.keys()) this.due.set(held, true);
      this.expired();
    }, Math.max(retryDelayMs, this.backoff.next()));
  }

  /** Stops holding, and returns, the sessions whose delay has passed and that have nothing in flight. */
  releaseReady(inFlight: (session: S) => boolean): S[] {
    const ready = [...this.due].filter(([session, due]) => due && !inFlight(session)).map(([session]) => session);
    for (const session of ready) this.due.delete(session);
    return ready;
  }

  /** An update was acknowledged: the next hold waits the shortest backoff again. */
  acknowledged(): void {
    this.backoff.reset();
  }

  /** A new stream replays every unacknowledged update: nothing is held on it. */
  clear(): void {
    this.due.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
