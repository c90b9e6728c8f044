import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Session, SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import { SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { isDataCorrupted } from "../../session/errors.js";
import { isFullView, isListed } from "../../session/reads.js";
import { expiryCutoffMs } from "../../session/record.js";
import { countSessions, emptyStats } from "../../session/stats.js";
import type { CleanupRequest, ListQuery, StoreStats } from "../store.js";
import { headerFromHash } from "./codec.js";
import { Counter, HeaderField, sessionKeyList } from "./keys.js";
import { forgetLive } from "./session-commits.js";
import { parseFull, queueReadFull, type RedisContext, Round } from "./session-io.js";

/**
 * The operations that span sessions, each driven by a tenant's index zsets.
 * Indexes are hints (see session-io.ts): every id they yield is checked
 * against its session's header, so a stale entry is skipped, never shown.
 */

/** Ids read from an index per round trip. */
const SCAN_BATCH = 500;

/** ListSessions: keyset paging over the ids zset, filtered on the headers. */
export async function listSessions(ctx: RedisContext, tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
  const now = ctx.clock.now();
  const found: Session[] = [];
  const batch = Math.max(query.pageSize + 1, 50);
  let after = query.after;
  // One more than asked tells whether another page follows.
  while (found.length <= query.pageSize) {
    const ids = await ctx.redis.zrangebylex(ctx.layout.tenant(tenant).ids, after === "" ? "-" : `(${after}`, "+", "LIMIT", 0, batch);
    const reads = new Round(ctx.redis, false);
    for (const id of ids) reads.add((c) => c.hgetallBuffer(ctx.layout.session(tenant, id).header));
    const replies = await reads.run();
    for (const [i, reply] of replies.entries()) {
      const header = readable(ctx, tenant, () => headerFromHash(new Map(Object.entries(reply as Record<string, Buffer>)), ids[i]!));
      const s = header?.record.session;
      if (!s || !isListed(s, query, now, ctx.rules)) continue;
      found.push(s);
      if (found.length > query.pageSize) break;
    }
    if (ids.length < batch) break;
    after = ids.at(-1)!;
  }
  const page = found.slice(0, query.pageSize);
  const full = isFullView(query.view, SessionView.BASIC);
  return { sessions: full ? await withChildren(ctx, tenant, page) : page, more: found.length > query.pageSize };
}

/** The page again as full sessions, each one snapshot; one deleted meanwhile, or with damaged children, drops out. */
async function withChildren(ctx: RedisContext, tenant: string, page: Session[]): Promise<Session[]> {
  const reads = new Round(ctx.redis, false);
  for (const s of page) reads.add((c) => queueReadFull(c, ctx, tenant, s.conversationId));
  return (await reads.run()).flatMap((reply, i) => {
    const id = page[i]!.conversationId;
    return readable(ctx, tenant, () => parseFull(reply, id))?.session ?? [];
  });
}

/**
 * A session as a scan reads it, or undefined when it is damaged: one bad
 * record is left out of a listing (and logged, once) rather than fail it.
 */
function readable<T>(ctx: RedisContext, tenant: string, read: () => T | undefined): T | undefined {
  try {
    return read();
  } catch (err) {
    if (!isDataCorrupted(err)) throw err;
    ctx.corruption.report(tenant, err);
    return undefined;
  }
}

/**
 * CleanupSessions and the sweeper: in each tenant, deletes up to batchSize
 * sessions per round trip among those the activity zset has as idle since
 * before the cutoff. The script that deletes checks the header's own last
 * activity, so a session written since its index entry was set is kept (and
 * its entry corrected); cost follows what is idle, not what is stored.
 */
export async function cleanup(ctx: RedisContext, request: CleanupRequest): Promise<number> {
  const tenants = request.tenant !== undefined ? [request.tenant] : (await ctx.redis.smembers(ctx.layout.global.tenants)).sort();
  const cutoffMs = request.cutoff.getTime();
  let total = 0;
  for (const tenant of tenants) {
    total += request.dryRun ? await countIdle(ctx, tenant, cutoffMs) : await sweepTenant(ctx, tenant, cutoffMs, Math.max(1, request.batchSize), request.onDeleted);
  }
  return total;
}

async function sweepTenant(ctx: RedisContext, tenant: string, cutoffMs: number, batchSize: number, onDeleted: CleanupRequest["onDeleted"]): Promise<number> {
  const index = ctx.layout.tenant(tenant);
  let deleted = 0;
  for (;;) {
    const ids = await ctx.redis.zrangebyscore(index.activity, "-inf", `(${cutoffMs}`, "LIMIT", 0, batchSize);
    if (ids.length === 0) return deleted;
    const removals = new Round(ctx.redis, false);
    for (const id of ids) removals.add((c) => c.ssRemove(...sessionKeyList(ctx.layout.session(tenant, id)), "idle", cutoffMs));
    const replies = (await removals.run()) as [number, string?][];

    const unindex: string[] = [];
    const tokens: string[] = [];
    const fixes = new Round(ctx.redis, false);
    const deletedIds: string[] = [];
    replies.forEach(([outcome, detail], i) => {
      const id = ids[i]!;
      if (outcome === 0) {
        // Written since it was indexed: the index catches up, the session stays.
        fixes.add((c) => c.zadd(index.activity, "GT", Number(detail), id));
        return;
      }
      unindex.push(id, String(cutoffMs));
      if (outcome === 1) {
        deletedIds.push(id);
        if (detail) tokens.push(detail);
      }
    });
    if (unindex.length > 0) fixes.add((c) => c.ssUnindex(index.ids, index.activity, ...unindex));
    forgetLive(fixes, ctx, tenant, tokens);
    if (deletedIds.length > 0) fixes.add((c) => c.hincrby(index.counters, Counter.cleanupCount, deletedIds.length));
    await fixes.run();
    deleted += deletedIds.length;
    if (deletedIds.length > 0) onDeleted?.(tenant, deletedIds);
    if (ids.length < batchSize) return deleted;
    // Let calls that queued up meanwhile go first.
    await yieldToEventLoop();
  }
}

/** A dry run: the sessions a cleanup would delete now, checked on their headers. */
async function countIdle(ctx: RedisContext, tenant: string, cutoffMs: number): Promise<number> {
  const index = ctx.layout.tenant(tenant);
  let count = 0;
  for (let offset = 0; ; offset += SCAN_BATCH) {
    const ids = await ctx.redis.zrangebyscore(index.activity, "-inf", `(${cutoffMs}`, "LIMIT", offset, SCAN_BATCH);
    const reads = new Round(ctx.redis, false);
    for (const id of ids) reads.add((c) => c.hget(ctx.layout.session(tenant, id).header, HeaderField.lastActivity));
    for (const lastActivity of await reads.run()) if (lastActivity !== null && Number(lastActivity) < cutoffMs) count += 1;
    if (ids.length < SCAN_BATCH) return count;
  }
}

/** GetStats: the counts over the tenant's unexpired sessions (a scan of its ids), and its counters. */
export async function tenantStats(ctx: RedisContext, tenant: string): Promise<StoreStats> {
  const index = ctx.layout.tenant(tenant);
  const cutoffMs = expiryCutoffMs(ctx.clock.now(), ctx.rules);
  const stats = emptyStats();
  for (let after = "-"; ; ) {
    const ids = await ctx.redis.zrangebylex(index.ids, after, "+", "LIMIT", 0, SCAN_BATCH);
    const reads = new Round(ctx.redis, false);
    for (const id of ids) {
      reads.add((c) => c.hmget(ctx.layout.session(tenant, id).header, HeaderField.status, HeaderField.resumedCount, HeaderField.lastActivity));
    }
    for (const reply of await reads.run()) {
      const [status, resumed, lastActivity] = reply as (string | null)[];
      if (status == null || Number(lastActivity) < cutoffMs) continue;
      countSessions(stats, Number(status) as SessionStatus, 1, Number(resumed) > 0 ? 1 : 0);
    }
    if (ids.length < SCAN_BATCH) break;
    after = `(${ids.at(-1)!}`;
  }
  const counters = await ctx.redis.hgetall(index.counters);
  stats.failedResumes = Number(counters[Counter.failedResumes] ?? 0);
  stats.cleanupCount = Number(counters[Counter.cleanupCount] ?? 0);
  return stats;
}
