import { Reason, SessionError } from "../../session/errors.js";

/**
 * How the Redis store orders and repeats the writes of one session.
 *
 * Writes are optimistic (see redis-store.ts): read, decide by the rules,
 * commit on the version read, and on a conflict read and decide again. That
 * alone is correct, but every loser costs a round trip, and N writers of one
 * session racing in one process would cost about N² of them. So writes from
 * this process also queue per session (SessionLocks) and never race each
 * other; conflicts are left to what only Redis can arbitrate, writers in
 * other sidecars, which the ownership rules make rare.
 */

/** How often a write is decided again after other sidecars changed the session in between. */
export const MAX_ATTEMPTS = 100;

export const CONFLICT = Symbol("conflict");

/**
 * Runs one optimistic attempt (read, decide by the rules, commit on the
 * version read) until it commits: an attempt returns CONFLICT when another
 * writer got in between, and then everything is read and decided again.
 */
export async function untilCommitted<T>(conversationId: string, attempt: () => Promise<T | typeof CONFLICT>): Promise<T> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const outcome = await attempt();
    if (outcome !== CONFLICT) return outcome;
  }
  throw contended(conversationId);
}

export function contended(conversationId: string): SessionError {
  return new SessionError(
    Reason.StorageUnavailable,
    `session "${conversationId}" kept changing under this write (${MAX_ATTEMPTS} attempts); other sidecars are writing it: retry`,
    { metadata: { conversation_id: conversationId } },
  );
}

/** Writes of one session from this process, one at a time, in arrival order. */
export class SessionLocks {
  /** The completion of the last write queued for each key. */
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `work` once every write queued before it on any of `keys` has
   * finished. All keys are claimed at once, before any waiting, so a write
   * only ever waits for writes queued earlier: two writes over overlapping
   * keys cannot wait for each other.
   */
  async exclusive<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const earlier: Promise<void>[] = [];
    for (const key of new Set(keys)) {
      const tail = this.tails.get(key);
      if (tail) earlier.push(tail);
      this.tails.set(key, done);
    }
    try {
      await Promise.all(earlier);
      return await work();
    } finally {
      release();
      for (const key of keys) if (this.tails.get(key) === done) this.tails.delete(key);
    }
  }
}

/** The lock key of a session; a tenant never contains ":", so it names one session. */
export function sessionLockKey(tenant: string, conversationId: string): string {
  return `${tenant}:${conversationId}`;
}
