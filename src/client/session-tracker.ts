import type { UpdateError } from "./update-error.js";

/** What BridgeUpdateStream knows of one session it writes for. */
export interface TrackedSession<E extends InFlight = InFlight> {
  readonly conversationId: string;
  /** The epoch this bridge owns the session at, from the latest track(). */
  ownerEpoch: bigint;
  /** The last seq handed out (or the session's last_seq before any). */
  lastSeq: bigint;
  /** Updates written and neither acknowledged nor refused. */
  pending: number;
  /**
   * Updates sent on the current stream, in send order, awaiting their ack —
   * including dropped ones, whose acks must still be consumed so that they
   * are not taken for a later update with the same seq.
   */
  inFlight: E[];
  /** Set once the sidecar refused a write as fenced or ended: later writes are refused locally. */
  stopped: UpdateError | undefined;
  /** untrack() was called; the entry lives on only until its updates are answered. */
  untracked: boolean;
}

export interface InFlight {
  update: { seq: bigint };
}

/**
 * The per-session bookkeeping of BridgeUpdateStream: seq assignment, and
 * matching acks to updates. The sidecar acknowledges one session's updates
 * in the order they were sent, so an ack is matched to the oldest in-flight
 * update of its session with its seq.
 */
export class SessionTracker<E extends InFlight> {
  private readonly sessions = new Map<string, TrackedSession<E>>();

  /**
   * Starts writing for a session at an epoch. Tracking again (after this
   * bridge resumed the session once more) moves to the new epoch, lifts a
   * stop, and never hands out a seq twice.
   */
  track(conversationId: string, ownerEpoch: bigint, lastSeq: bigint): void {
    const known = this.sessions.get(conversationId);
    if (!known) {
      this.sessions.set(conversationId, { conversationId, ownerEpoch, lastSeq, pending: 0, inFlight: [], stopped: undefined, untracked: false });
      return;
    }
    known.ownerEpoch = ownerEpoch;
    known.lastSeq = known.lastSeq > lastSeq ? known.lastSeq : lastSeq;
    known.stopped = undefined;
    known.untracked = false;
  }

  untrack(conversationId: string): void {
    const session = this.sessions.get(conversationId);
    if (!session) return;
    session.untracked = true;
    this.forgetIfDone(session);
  }

  /** The session, untracked ones that still await acks included. */
  get(conversationId: string): TrackedSession<E> | undefined {
    return this.sessions.get(conversationId);
  }

  nextSeq(session: TrackedSession<E>): bigint {
    session.lastSeq += 1n;
    return session.lastSeq;
  }

  /** Takes the in-flight update an ack answers: the oldest sent with that seq. */
  takeInFlight(session: TrackedSession<E>, seq: bigint): E | undefined {
    const index = session.inFlight[0]?.update.seq === seq ? 0 : session.inFlight.findIndex((e) => e.update.seq === seq);
    if (index < 0) return undefined;
    const [entry] = session.inFlight.splice(index, 1);
    this.forgetIfDone(session);
    return entry;
  }

  /** One of the session's updates was answered or dropped. */
  settled(session: TrackedSession<E>): void {
    session.pending--;
    this.forgetIfDone(session);
  }

  /** The stream broke: nothing sent on it will be acknowledged. */
  forgetInFlight(): void {
    for (const session of this.sessions.values()) {
      session.inFlight.length = 0;
      this.forgetIfDone(session);
    }
  }

  private forgetIfDone(session: TrackedSession<E>): void {
    if (session.untracked && session.pending === 0 && session.inFlight.length === 0) this.sessions.delete(session.conversationId);
  }
}
