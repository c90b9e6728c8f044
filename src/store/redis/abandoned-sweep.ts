import { SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import { abandonCutoffMs, planAbandon } from "../../session/abandon-plan.js";
import { isDataCorrupted } from "../../session/errors.js";
import { expiryCutoffMs, lastActivityMs } from "../../session/record.js";
import type { AbandonRequest } from "../store.js";
import { CONFLICT, untilCommitted } from "./concurrency.js";
import { commitHeader, forgetLive } from "./session-commits.js";
import { readHead, type RedisContext, Round } from "./session-io.js";

/*
 * Abandoned calls on Redis. Each tenant's paused zset (keys.ts) holds the
 * sessions that a commit left PAUSED, scored by their last activity as of
 * that commit's index hints, so never later than the truth. A sweep reads the
 * members scored before the grace's cutoff — what is due, plus entries gone
 * stale — and decides on each one's header with planAbandon. Stale entries
 * are put right on the way: a session no longer PAUSED (or gone) leaves the
 * zset, one active again within the grace is scored again.
 */

/** A member of a paused zset scored before the cutoff. */
export interface PausedCandidate {
  conversationId: string;
  scoreMs: number;
}

/**
 * At most `limit` candidates of a tenant, oldest first. Members scored
 * before the expiry cutoff are dropped first: those sessions have expired
 * (the sweeper deletes them), or will within one index refresh.
 */
export async function pausedCandidates(ctx: RedisContext, tenant: string, cutoffMs: number, expiryMs: number, limit: number): Promise<PausedCandidate[]> {
  const paused = ctx.layout.tenant(tenant).paused;
  await ctx.redis.zremrangebyscore(paused, "-inf", `(${expiryMs}`);
  const flat = await ctx.redis.zrangebyscore(paused, "-inf", `(${cutoffMs}`, "WITHSCORES", "LIMIT", 0, limit);
  const out: PausedCandidate[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ conversationId: flat[i]!, scoreMs: Number(flat[i + 1]) });
  return out;
}

/** What endIfAbandoned did with a candidate: ended it, put its index entry right, or left it (damaged). */
export type CandidateOutcome = { ended: Session } | "reindexed" | "skipped";

/**
 * Ends the candidate if planAbandon says so, committed on the version it
 * decided on (a write in between makes it decide again), then frees its
 * max_sessions place as EndSession does.
 */
export async function endIfAbandoned(ctx: RedisContext, tenant: string, candidate: PausedCandidate): Promise<CandidateOutcome> {
  const id = candidate.conversationId;
  const paused = ctx.layout.tenant(tenant).paused;
  try {
    return await untilCommitted(id, async () => {
      const now = ctx.clock.now();
      const { header } = await readHead(ctx, tenant, id);
      const record = planAbandon(header?.record, now, ctx.rules);
      if (!record) {
        const s = header?.record.session;
        // Removed only while the member still has the score read: a commit that paused it again meanwhile has raised it.
        if (!s || s.status !== SessionStatus.PAUSED) await ctx.redis.ssUnindexPaused(paused, id, candidate.scoreMs);
        else await ctx.redis.zadd(paused, "GT", lastActivityMs(s), id);
        return "reindexed" as const;
      }
      if (!(await commitHeader(ctx, tenant, header!, record, "", now))) return CONFLICT;
      const after = new Round(ctx.redis, false);
      after.add((c) => c.zrem(paused, id));
      if (header!.liveToken !== "") forgetLive(after, ctx, tenant, [header!.liveToken]);
      await after.run();
      return { ended: record.session };
    });
  } catch (err) {
    // A damaged session costs itself only: it stays as it is, and the sweep goes on.
    if (isDataCorrupted(err)) {
      ctx.corruption.report(tenant, err);
      return "skipped";
    }
    throw err;
  }
}

/** Runs `work` as the store's write of one session (under its lock, its cached head dropped). */
export type LockedWrite = <T>(tenant: string, conversationId: string, work: () => Promise<T>) => Promise<T>;

/** Store.endAbandoned: tenant by tenant, a batch of candidates at a time, each ended under its session's lock. */
export async function endAbandonedSessions(ctx: RedisContext, request: AbandonRequest, write: LockedWrite): Promise<number> {
  const now = ctx.clock.now();
  const cutoffMs = abandonCutoffMs(now, ctx.rules);
  if (cutoffMs === undefined) return 0;
  const batchSize = Math.max(1, request.batchSize);
  let count = 0;
  for (const tenant of await ctx.redis.smembers(ctx.layout.global.tenants)) {
    for (;;) {
      const candidates = await pausedCandidates(ctx, tenant, cutoffMs, expiryCutoffMs(now, ctx.rules), batchSize);
      const ended: Session[] = [];
      let progress = false;
      for (const candidate of candidates) {
        const outcome = await write(tenant, candidate.conversationId, () => endIfAbandoned(ctx, tenant, candidate));
        if (outcome !== "skipped") progress = true;
        if (typeof outcome === "object") ended.push(outcome.ended);
      }
      count += ended.length;
      if (ended.length > 0) request.onEnded?.(tenant, ended);
      // A batch of damaged sessions only would come back the same: the next sweep tries again.
      if (candidates.length < batchSize || !progress) break;
    }
  }
  return count;
}
