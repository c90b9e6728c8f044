import { SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import { isDataCorrupted, type SessionError } from "../../session/errors.js";
import { planUpdates, type SessionWrite, type UpdateResult } from "../../session/update-plan.js";
import { editedItemIds, type StoredItems } from "../../session/history-edit.js";
import { parseItems, queueReadItems } from "./history-reads.js";
import type { TenantUpdate } from "../store.js";
import { placeResults, type SessionGroup, sessionGroups } from "../update-group.js";
import type { CommitPlan, StoredHeader } from "./codec.js";
import { contended, MAX_ATTEMPTS } from "./concurrency.js";
import { type CachedHead, committed, indexRefreshMs, newId, parseHead, type QueuedCommit, queueCommits, queueReadHead, type RedisContext, Round } from "./session-io.js";

/** A session of the group, and its head when known: from the cache, or read in this round. */
interface Pending {
  group: SessionGroup;
  head: CachedHead | undefined;
  /** Read in this round (or the cache had it): no read needed. */
  known: boolean;
}

/**
 * Store.updateMany on Redis: the whole group in one round trip when the
 * sidecar wrote its sessions last, two otherwise, as long as no other sidecar
 * interferes.
 *
 *  1. The heads of the sessions this sidecar has not committed lately (or
 *     whose commit met another writer) are read in one pipeline, each as an
 *     atomic snapshot, with every chunk size of the ring; the rest come from
 *     the cache of what this sidecar committed last (RedisContext.heads).
 *  2. planUpdates decides each session's updates on its head.
 *  3. Script calls of up to CHUNK_SESSIONS sessions each commit every
 *     session that changed, each only if its header is still the version
 *     the decision was made on; the index hints go with them only when they
 *     have grown stale (indexRefreshMs).
 *
 * A session whose commit met another writer's change in between goes through
 * the three steps again on its own, read afresh and with its results decided
 * again; the others stay committed. So each session's updates commit all
 * together or not at all, in order, which is what a resend with the same
 * seqs relies on: a Redis that fails mid-group may keep some sessions'
 * updates and not others', but never part of one session's. (On Redis
 * Cluster, a script may only touch one slot: there a chunk is one call per
 * session, after its index hints; see queueCommits and round.ts.)
 */
export async function updateInRounds(ctx: RedisContext, items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
  const results: (UpdateResult | SessionError)[] = new Array(items.length);
  let pending: Pending[] = sessionGroups(items).map((group) => {
    const head = ctx.heads.get(group.tenant, group.conversationId);
    return { group, head, known: head !== undefined };
  });
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt === MAX_ATTEMPTS) throw contended(pending[0]!.group.conversationId);
    pending = await round(ctx, pending, results);
  }
  return results;
}

/** One read-decide-commit round; returns the sessions to try again. */
async function round(ctx: RedisContext, sessions: Pending[], results: (UpdateResult | SessionError)[]): Promise<Pending[]> {
  const reads = new Round(ctx.redis, false);
  const readFor = new Map<number, Pending>();
  for (const p of sessions) if (!p.known) readFor.set(reads.add((c) => queueReadHead(c, ctx, p.group.tenant, p.group.conversationId, -1)), p);
  // The items the group edits are read afresh every round: unlike the head they are not cached, and a
  // commit on a stale read of them fails on the header's version like any other.
  const itemReads = new Map<Pending, { position: number; ids: string[] }>();
  for (const p of sessions) {
    const ids = editedItemIds(p.group.updates);
    if (ids.length > 0) itemReads.set(p, { position: reads.add((c) => queueReadItems(c, ctx, p.group.tenant, p.group.conversationId, ids)), ids });
  }
  const replies = await reads.run();
  // A session whose header is damaged has every update refused as DATA_CORRUPTED; the others go on.
  const damaged = new Set<Pending>();
  for (const [position, p] of readFor) {
    try {
      const { header, sizes } = parseHead(replies[position], p.group.conversationId);
      p.head = header && { header, sizes, indexedMs: 0 };
    } catch (err) {
      if (!isDataCorrupted(err)) throw err;
      ctx.corruption.report(p.group.tenant, err);
      placeResults(results, p.group, p.group.updates.map(() => err));
      damaged.add(p);
    }
    p.known = true;
  }

  const now = ctx.clock.now();
  const refreshMs = indexRefreshMs(ctx.rules);
  const chunks: Promise<{ outcomes: unknown; after: AfterCommit[] }>[] = [];
  let queued: QueuedCommit[] = [];
  let after: AfterCommit[] = [];
  // Each chunk goes to Redis as soon as it is encoded: Redis runs one while the next is being planned.
  const send = () => {
    const commits = new Round(ctx.redis, false);
    const position = queueCommits(commits, ctx, queued, now);
    const sent = after;
    chunks.push(commits.run().then((replies) => ({ outcomes: replies[position], after: sent })));
    queued = [];
    after = [];
  };
  for (const p of sessions) {
    if (damaged.has(p)) continue;
    const { group, head } = p;
    let items: StoredItems = new Map();
    const itemRead = itemReads.get(p);
    if (itemRead) {
      try {
        items = parseItems(replies[itemRead.position], itemRead.ids, group.conversationId);
      } catch (err) {
        if (!isDataCorrupted(err)) throw err;
        ctx.corruption.report(group.tenant, err);
        placeResults(results, group, group.updates.map(() => err));
        continue;
      }
    }
    const plan = planUpdates(group.conversationId, head?.header.record, group.updates, head?.sizes ?? [], now, ctx.rules, items);
    placeResults(results, group, plan.results);
    if (!plan.write || !head) continue;
    const hints = now.getTime() - head.indexedMs >= refreshMs;
    // A session that becomes PAUSED is indexed at once; one that stays PAUSED only as its other hints are refreshed.
    const paused = plan.write.record.session.status === SessionStatus.PAUSED && (hints || head.header.record.session.status !== SessionStatus.PAUSED);
    queued.push({ tenant: group.tenant, plan: commitPlan(head.header, plan.write), hints, paused });
    after.push({ pending: p, head: nextHead(head, plan.write, hints ? now.getTime() : head.indexedMs) });
    if (queued.length === CHUNK_SESSIONS) send();
  }
  if (queued.length > 0) send();

  const again: Pending[] = [];
  for (const { outcomes, after: committedChunk } of await Promise.all(chunks)) {
    committedChunk.forEach(({ pending, head }, i) => {
      const { tenant, conversationId } = pending.group;
      if (committed(outcomes, i)) {
        ctx.heads.set(tenant, conversationId, head);
      } else {
        ctx.heads.delete(tenant, conversationId);
        again.push({ group: pending.group, head: undefined, known: false });
      }
    });
  }
  return again;
}

/** A commit sent, and the head its session has once it took effect. */
interface AfterCommit {
  pending: Pending;
  head: CachedHead;
}

/**
 * Sessions committed by one script call. A script runs alone, so a long one
 * holds up every other client of the Redis; and the sidecar encodes the next
 * chunk while Redis runs this one.
 */
const CHUNK_SESSIONS = 64;

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
    historyEdits: write.historyEdits,
  };
}

/** The head as the commit of `write` leaves it. */
function nextHead(head: CachedHead, write: SessionWrite, indexedMs: number): CachedHead {
  const sizes = head.sizes.slice(write.dropStoredAudio);
  for (const chunk of write.audio) sizes.push(chunk.data.length);
  return { header: { record: write.record, liveToken: head.header.liveToken }, sizes, indexedMs };
}
