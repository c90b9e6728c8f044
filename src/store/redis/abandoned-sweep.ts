import { SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import { planAbandon } from "../../session/abandon-plan.js";
import { isDataCorrupted } from "../../session/errors.js";
import { lastActivityMs } from "../../session/record.js";
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
