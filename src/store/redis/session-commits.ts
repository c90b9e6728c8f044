import { type Session, SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import { checkCapacity, type CreatePlan } from "../../session/create-plan.js";
import { expiryCutoffMs, isLive, type SessionRecord, withChildren } from "../../session/record.js";
import type { CommitPlan, StoredHeader } from "./codec.js";
import { CONFLICT } from "./concurrency.js";
import { committed, newId, queueCommits, type RedisContext, Round } from "./session-io.js";

/**
 * The commits of the Redis store's single-session writes (create, resume,
 * end) beyond a plain header change.
 *
 * max_sessions is counted in one store-wide zset of live tokens scored by last
 * activity, and max_sessions_per_tenant in one zset per tenant beside it: a
 * create first reserves a token in both with a script that counts the
 * unexpired tokens and adds its own only below both caps, so two sidecars
 * cannot both take the last place. Ending or deleting a session removes its
 * token from both once that has committed (forgetLive); a token whose create never committed (the
 * sidecar died in between, or Redis failed before answering) counts until it
 * ages past max_session_age, erring on the side of refusing a create.
 */

/**
 * Stores a planned new session over nothing or over the expired `replaced`,
 * after reserving its place under max_sessions. Returns it FULL, or CONFLICT
 * when another writer got in first.
 */
export async function insertSession(ctx: RedisContext, tenant: string, plan: CreatePlan, now: Date, replaced: StoredHeader | undefined): Promise<Session | typeof CONFLICT> {
  const { redis, rules, layout } = ctx;
  // Only an import stores a session that is not live (ended): it takes no place under the caps, so no token.
  const live = isLive(plan.record.session, now, rules);
  const liveToken = live ? newId() : "";
  const tenantLive = layout.tenantLive(tenant);
  if (live) {
    const [reserved, full, own] = await redis.ssReserve(layout.global.live, tenantLive, expiryCutoffMs(now, rules), rules.maxSessions, rules.maxSessionsPerTenant, liveToken, now.getTime());
    // The refusal is the planner's, from the counts the script saw: the tenant's own, or the store's cap reached.
    if (reserved !== 1) checkCapacity(full === "tenant" ? { total: 0, tenant: own ?? 0 } : { total: rules.maxSessions, tenant: 0 }, rules);
  }

  const round = new Round(redis, true);
  round.add((c) => c.sadd(layout.global.tenants, tenant));
  if (replaced && replaced.liveToken !== "") forgetLive(round, ctx, tenant, [replaced.liveToken]);
  const { record, children } = plan;
  const position = queueCommits(round, ctx, [{
    tenant,
    hints: true,
    // Only an import stores a session PAUSED from the start; the abandoned sweep must know of it.
    paused: record.session.status === SessionStatus.PAUSED,
    plan: {
      expectedVersion: replaced?.record.version,
      commitId: newId(),
      replace: plan.replaces,
      header: { record, liveToken },
      history: children.history,
      calls: children.functionCalls,
      audio: children.audio,
      dropAudio: 0,
    },
  }], now);
  if (!committed((await round.run())[position], 0)) {
    const undo = new Round(redis, false);
    if (live) forgetLive(undo, ctx, tenant, [liveToken]);
    await undo.run();
    return CONFLICT;
  }
  return withChildren(record.session, children);
}

/** Commits a new header on top of `base`, adding no children; false on a conflict. */
export async function commitHeader(ctx: RedisContext, tenant: string, base: StoredHeader, record: SessionRecord, liveToken: string, now: Date): Promise<boolean> {
  const plan: CommitPlan = {
    expectedVersion: base.record.version, commitId: newId(), replace: false, header: { record, liveToken }, history: [], calls: [], audio: [], dropAudio: 0,
  };
  const round = new Round(ctx.redis, true);
  const position = queueCommits(round, ctx, [{ tenant, plan, hints: true }], now);
  return committed((await round.run())[position], 0);
}

/** Queues the removal of live tokens of a tenant's sessions from both live zsets: those sessions no longer count against either cap. */
export function forgetLive(round: Round, ctx: RedisContext, tenant: string, tokens: readonly string[]): void {
  if (tokens.length === 0) return;
  round.add((c) => c.zrem(ctx.layout.global.live, ...tokens));
  round.add((c) => c.zrem(ctx.layout.tenantLive(tenant), ...tokens));
}
