import type { SessionError } from "../../session/errors.js";
import { planUpdates, type SessionWrite, type UpdateResult } from "../../session/update-plan.js";
import type { TenantUpdate } from "../store.js";
import { placeResults, type SessionGroup, sessionGroups } from "../update-group.js";
import type { CommitPlan, StoredHeader } from "./codec.js";
import { contended, MAX_ATTEMPTS } from "./concurrency.js";
import { committed, type HeadRead, newId, parseHead, queueCommit, queueReadHead, type RedisContext, Round } from "./session-io.js";

/** A session of the group with what its next read must fetch. */
interface Pending {
  group: SessionGroup;
  /** Set once the sizes read with the header fell short: read every size next time. */
  allSizes: boolean;
}

// Room for trimming to drop a few more stored chunks than the group appends
// (a large chunk pushing out several small ones) without a second read.
const EXTRA_SIZES = 8;

/** Thrown by a session's size iterator when trimming needs more stored sizes than were read with the header. */
class NeedAudioSizes extends Error {}

/**
 * Store.updateMany on Redis: the whole group in two round trips when no
 * other sidecar interferes.
 *
 *  1. One pipeline reads the header (and the oldest audio sizes) of every
 *     session the group touches, each as an atomic snapshot.
 *  2. planUpdates decides each session's updates on its header.
 *  3. One MULTI/EXEC commits every session that changed, each by a script
 *     that applies its writes only if the header is still the version read.
 *
 * A session whose commit met another writer's change in between (or whose
 * ring needs more sizes than were read) goes through the three steps again on
 * its own, with its results decided afresh; the others stay committed. So
 * each session's updates commit all together or not at all, in order, which
 * is what a resend with the same seqs relies on; and the first round, the
 * only one there is unless sidecars race, is one transaction, so a Redis that
 * fails during it keeps nothing of the group.
 */
export async function updateInRounds(ctx: RedisContext, items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
  const results: (UpdateResult | SessionError)[] = new Array(items.length);
  let pending: Pending[] = sessionGroups(items).map((group) => ({ group, allSizes: false }));
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt === MAX_ATTEMPTS) throw contended(pending[0]!.group.conversationId);
    pending = await round(ctx, pending, results);
  }
  return results;
}

/** One read-decide-commit round; returns the sessions to try again. */
async function round(ctx: RedisContext, sessions: Pending[], results: (UpdateResult | SessionError)[]): Promise<Pending[]> {
  const reads = new Round(ctx.redis, false);
  for (const { group, allSizes } of sessions) {
    const appended = group.updates.reduce((n, u) => n + u.appendAudio.length, 0);
    reads.add((c) => queueReadHead(c, ctx, group.tenant, group.conversationId, allSizes ? -1 : appended + EXTRA_SIZES));
  }
  const heads = (await reads.run()).map(parseHead);

  const now = ctx.clock.now();
  const again: Pending[] = [];
  const commits = new Round(ctx.redis, true);
  const commitOf = new Map<number, Pending>();
  sessions.forEach((pending, i) => {
    const head = heads[i]!;
    const { group } = pending;
    let plan: ReturnType<typeof planUpdates>;
    try {
      plan = planUpdates(group.conversationId, head.header?.record, group.updates, storedSizes(head), now, ctx.rules);
    } catch (err) {
      if (!(err instanceof NeedAudioSizes)) throw err;
      again.push({ group, allSizes: true });
      return;
    }
    placeResults(results, group, plan.results);
    if (plan.write) commitOf.set(queueCommit(commits, ctx, group.tenant, commitPlan(head.header!, plan.write), now), pending);
  });

  const replies = await commits.run();
  for (const [position, pending] of commitOf) if (!committed(replies[position])) again.push(pending);
  return again;
}

/** The stored ring's sizes as read with the header, throwing NeedAudioSizes where the read stopped short of the ring. */
function* storedSizes({ sizes, count }: HeadRead): Generator<number> {
  yield* sizes;
  if (sizes.length < count) throw new NeedAudioSizes();
}

/** A planned write as one commit on top of the version it was decided on. */
function commitPlan(base: StoredHeader, write: SessionWrite): CommitPlan {
  return {
    expectedVersion: base.record.version,
    commitId: newId(),
    replace: false,
    header: { record: write.record, liveToken: base.liveToken },
    history: write.history,
    calls: write.functionCalls,
    audio: write.audio,
    dropAudio: write.dropStoredAudio,
  };
}
