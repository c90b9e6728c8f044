import { isExpired } from "../../session/record.js";
import { notFound, SessionError } from "../../session/errors.js";
import type { TenantUpdate, UpdateResult } from "../store.js";
import { committed, newId, parseHead, queueCommit, queueReadHead, type RedisContext, Round } from "./session-io.js";
import { contended, MAX_ATTEMPTS, sessionLockKey } from "./concurrency.js";
import { NeedAudioSizes, UpdateDraft } from "./update-draft.js";

/** One session's share of a group: where its updates sit in the input, in order. */
interface SessionSlots {
  tenant: string;
  conversationId: string;
  positions: number[];
  /** Audio chunks its updates append, to guess how many stored chunk sizes trimming will read. */
  appendedChunks: number;
  /** Set once a guess fell short: read every size on the next attempt. */
  allSizes: boolean;
}

// Room for trimming to drop a few more stored chunks than the group appends
// (a large chunk pushing out several small ones) without a second read.
const EXTRA_SIZES = 8;

/**
 * Store.updateMany on Redis: the whole group in two round trips when no
 * other sidecar interferes.
 *
 *  1. One pipeline reads the header (and the oldest audio sizes) of every
 *     session the group touches, each as an atomic snapshot.
 *  2. The rules of src/session apply each session's updates in input order,
 *     in memory (UpdateDraft), each refused one taking its error into its slot.
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
export async function updateGroup(ctx: RedisContext, items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
  const results: (UpdateResult | SessionError)[] = new Array(items.length);
  let pending = slotsBySession(items);
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt === MAX_ATTEMPTS) throw contended(pending[0]!.conversationId);
    pending = await attemptRound(ctx, items, pending, results);
  }
  return results;
}

/** One read-decide-commit round over `sessions`; returns the sessions to try again. */
async function attemptRound(
  ctx: RedisContext,
  items: readonly TenantUpdate[],
  sessions: SessionSlots[],
  results: (UpdateResult | SessionError)[],
): Promise<SessionSlots[]> {
  const reads = new Round(ctx.redis, false);
  for (const s of sessions) reads.add((c) => queueReadHead(c, ctx, s.tenant, s.conversationId, s.allSizes ? -1 : s.appendedChunks + EXTRA_SIZES));
  const heads = (await reads.run()).map(parseHead);

  const now = ctx.clock.now();
  const again: SessionSlots[] = [];
  const commits = new Round(ctx.redis, true);
  const commitOf = new Map<number, SessionSlots>();
  sessions.forEach((s, i) => {
    const { header, sizes, count } = heads[i]!;
    if (!header || isExpired(header.record.session, now, ctx.rules)) {
      for (const p of s.positions) results[p] = notFound(s.conversationId);
      return;
    }
    const draft = new UpdateDraft(header, sizes, count);
    try {
      for (const p of s.positions) results[p] = applyOne(draft, items[p]!, now, ctx);
    } catch (err) {
      if (!(err instanceof NeedAudioSizes)) throw err;
      s.allSizes = true;
      again.push(s);
      return;
    }
    if (draft.changed) commitOf.set(queueCommit(commits, ctx, s.tenant, draft.plan(newId()), now), s);
  });

  const replies = await commits.run();
  for (const [position, s] of commitOf) if (!committed(replies[position])) again.push(s);
  return again;
}

/** One update's verdict: its result, or the SessionError that refused it. Anything else propagates. */
function applyOne(draft: UpdateDraft, item: TenantUpdate, now: Date, ctx: RedisContext): UpdateResult | SessionError {
  try {
    return draft.apply(item.update, now, ctx.rules);
  } catch (err) {
    if (err instanceof SessionError) return err;
    throw err;
  }
}

/** The group split by session, in order of first appearance, each session's updates in input order. */
function slotsBySession(items: readonly TenantUpdate[]): SessionSlots[] {
  const byKey = new Map<string, SessionSlots>();
  items.forEach(({ tenant, update }, position) => {
    const key = sessionLockKey(tenant, update.conversationId);
    let slots = byKey.get(key);
    if (!slots) {
      slots = { tenant, conversationId: update.conversationId, positions: [], appendedChunks: 0, allSizes: false };
      byKey.set(key, slots);
    }
    slots.positions.push(position);
    slots.appendedChunks += update.appendAudio.length;
  });
  return [...byKey.values()];
}
