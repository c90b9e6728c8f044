/**
 * How fast the store has been committing updates while it had work: the
 * committer's estimate of what it can take, so that it reads no more than it
 * can commit before the queue timeout (GroupCommitter.full).
 *
 * Each group counts the store's time on it alone: from when it was handed
 * over, or from when the group before it was answered if that was later (two
 * groups in flight wait on each other). Recent groups weigh most, and a
 * group's weight is its share of the time, so a run of small groups at low
 * load (where each pays a commit's fixed cost for few updates) does not
 * outweigh the large ones that load forms.
 */
export class CommitPace {
  /** Decayed sums of the updates committed and of the store's milliseconds on them. */
  private updates = 0;
  private ms = 0;
  /** When the store last answered a group (performance.now()). */
  private lastAnswered = Number.NEGATIVE_INFINITY;

  /** Each group keeps this share of the weight of those before it. */
  private static readonly DECAY = 0.9;

  /** Records a group of `count` updates handed to the store at `startedAt` and answered at `answeredAt`. */
  record(count: number, startedAt: number, answeredAt: number): void {
    const serviceMs = answeredAt - Math.max(startedAt, this.lastAnswered);
    this.lastAnswered = answeredAt;
    if (serviceMs <= 0) return;
    this.updates = this.updates * CommitPace.DECAY + count;
    this.ms = this.ms * CommitPace.DECAY + serviceMs;
  }

  /** Updates the store commits in `ms` milliseconds at its recent pace; Infinity before it has committed anything. */
  updatesIn(ms: number): number {
    return this.ms === 0 ? Number.POSITIVE_INFINITY : (this.updates / this.ms) * ms;
  }
}
