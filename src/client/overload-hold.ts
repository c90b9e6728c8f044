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
 * - the session's own resend time has come: drawn when it is held, uniformly
 *   from [delay, 2·delay) after the refusal, where the delay is the longer
 *   of the sidecar's RetryInfo delay and a backoff that doubles while the
 *   sidecar keeps refusing and starts over once an update is acknowledged.
 *   One delay holds for every session refused before it passes; the draw is
 *   per session because a group the sidecar sheds refuses hundreds of
 *   sessions at once, and resending them all at one instant would be a
 *   burst that waits past the queue timeout and is shed again;
 * - every update of the session already sent on the stream has its ack.
 *   They will all be refused; resending before the last of those acks came
 *   would let a write made after the resend be applied ahead of that update,
 *   whose own resend would then be acknowledged as a duplicate, unapplied.
 */
export class OverloadHold<S> {
  /** Held sessions, each with its resend time (performance.now()). */
  private readonly dueAt = new Map<S, number>();
  private readonly backoff = new Backoff({ initialDelayMs: 200, maxDelayMs: 5_000 });
  /** The delay of the sessions held until `endsAt`, when the next refusal draws the backoff again. */
  private round = { delayMs: 0, endsAt: Number.NEGATIVE_INFINITY };
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  /**
   * `expired` is called when a held session's resend time has come, to
   * release what is ready (releaseReady); `random` draws each session's
   * place in its spread (tests pass their own).
   */
  constructor(
    private readonly expired: () => void,
    private readonly random: () => number = Math.random,
  ) {}

  holds(session: S): boolean {
    return this.dueAt.has(session);
  }

  /** Holds a session after an OVERLOADED ack that asked for `retryDelayMs`; a session already held keeps its time. */
  hold(session: S, retryDelayMs: number): void {
    if (this.dueAt.has(session)) return;
    const now = performance.now();
    if (now >= this.round.endsAt) {
      const delayMs = this.backoff.next();
      this.round = { delayMs, endsAt: now + delayMs };
    }
    const delayMs = Math.max(retryDelayMs, this.round.delayMs);
    const at = now + delayMs * (1 + this.random());
    this.dueAt.set(session, at);
    if (at < this.timerAt) this.wakeAt(at, now);
  }

  /** Stops holding, and returns, the sessions whose resend time has come and that have nothing in flight. */
  releaseReady(inFlight: (session: S) => boolean): S[] {
    const now = performance.now();
    const ready: S[] = [];
    for (const [session, at] of this.dueAt) if (at <= now && !inFlight(session)) ready.push(session);
    for (const session of ready) this.dueAt.delete(session);
    return ready;
  }

  /** An update was acknowledged: the next hold waits the shortest backoff again. */
  acknowledged(): void {
    this.backoff.reset();
  }

  /** A new stream replays every unacknowledged update: nothing is held on it. */
  clear(): void {
    this.dueAt.clear();
    this.round = { delayMs: 0, endsAt: Number.NEGATIVE_INFINITY };
    this.stopTimer();
  }

  /** One timer, for the earliest resend time still to come: a stream holds hundreds of sessions at once. */
  private wakeAt(at: number, now: number): void {
    this.stopTimer();
    this.timerAt = at;
    // Timers count whole milliseconds from the loop's clock: rounding up never wakes before `at`.
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(at - now)));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.expired();
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const at of this.dueAt.values()) if (at > now && at < next) next = at;
    if (next !== Number.POSITIVE_INFINITY) this.wakeAt(next, now);
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
