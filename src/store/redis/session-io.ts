import { randomBytes } from "node:crypto";
import type { ChainableCommander } from "ioredis";
import type { Clock } from "../../runtime/clock.js";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { SessionRules } from "../../session/rules.js";
import type { CorruptionLog } from "../corruption-log.js";
import type { SessionCache } from "../session-cache.js";
import { type CommitPlan, headerFromHash, hashOf, packedCommit, type StoredHeader, withChildren } from "./codec.js";
import { type KeyLayout, SESSION_KEY_COUNT, sessionKeyList } from "./keys.js";
import { type RedisClient, Round } from "./round.js";
import { Committed } from "./scripts.js";

export { Round };

/*
 * The round trips of the Redis store: reading one session as a snapshot,
 * committing one session's decided writes with the index hints that go with
 * them, and Round, which carries many of either in one trip.
 */

/** What every part of the Redis store works with. */
export interface RedisContext {
  redis: RedisClient;
  layout: KeyLayout;
  rules: SessionRules;
  clock: Clock;
  /** The heads of the sessions this sidecar committed last (see update-rounds.ts). */
  heads: SessionCache<CachedHead>;
  /** Where damaged records are logged, once each. */
  corruption: CorruptionLog;
}

/**
 * A session's head as this sidecar last committed it: the header (whose
 * version a commit expects), every chunk size of the ring, and when the
 * indexes were last told its activity. Trusted only as far as the version:
 * a commit on it fails as a conflict once another sidecar has written.
 */
export interface CachedHead {
  header: StoredHeader;
  /** Sizes of all the ring's chunks, oldest first. */
  sizes: number[];
  /** The activity the ids/activity/live indexes hold for it, in ms. */
  indexedMs: number;
}

/** A session's header as read for a write, with the sizes of the oldest audio chunks. */
export interface HeadRead {
  header: StoredHeader | undefined;
  /** Sizes of the oldest chunks of the ring, oldest first, as many as were asked for. */
  sizes: number[];
  /** Chunks in the ring. */
  count: number;
}

/** Queues an atomic read of a session's header and of up to `wantSizes` chunk sizes (-1: all). */
export function queueReadHead(chain: ChainableCommander, ctx: RedisContext, tenant: string, id: string, wantSizes: number): void {
  const keys = ctx.layout.session(tenant, id);
  chain.ssReadHeadBuffer(keys.header, keys.audioSizes, wantSizes);
}

export function parseHead(reply: unknown, id: string): HeadRead {
  const [header, sizes, count] = reply as [Buffer[], Buffer[], number];
  return { header: headerFromHash(hashOf(header), id), sizes: sizes.map((s) => Number(s.toString())), count: Number(count) };
}

export async function readHead(ctx: RedisContext, tenant: string, id: string, wantSizes = 0): Promise<HeadRead> {
  const keys = ctx.layout.session(tenant, id);
  return parseHead(await ctx.redis.ssReadHeadBuffer(keys.header, keys.audioSizes, wantSizes), id);
}

/** The whole session, read as one snapshot; undefined when it does not exist. */
export async function readFull(ctx: RedisContext, tenant: string, id: string): Promise<{ header: StoredHeader; session: Session } | undefined> {
  const keys = ctx.layout.session(tenant, id);
  return parseFull(await ctx.redis.ssReadFullBuffer(keys.header, keys.history, keys.calls, keys.callOrder, keys.audio), id);
}

export function queueReadFull(chain: ChainableCommander, ctx: RedisContext, tenant: string, id: string): void {
  const keys = ctx.layout.session(tenant, id);
  chain.ssReadFullBuffer(keys.header, keys.history, keys.calls, keys.callOrder, keys.audio);
}

export function parseFull(reply: unknown, id: string): { header: StoredHeader; session: Session } | undefined {
  const [headerHash, history, callOrder, calls, audio] = reply as Buffer[][];
  const header = headerFromHash(hashOf(headerHash ?? []), id);
  if (!header) return undefined;
  // The record stays a header; the returned session is a copy that carries the children.
  const session = withChildren({ ...header.record.session }, history ?? [], callOrder ?? [], calls ?? [], audio ?? []);
  return { header, session };
}

/**
 * How stale the activity the indexes hold for a session may grow before a
 * write refreshes it. The indexes only have to be no later than the truth:
 * cleanup checks each candidate's header (and corrects its entry), and the
 * live count forgets a token only a whole max_session_age after its score.
 */
export function indexRefreshMs(rules: SessionRules): number {
  return Math.min(60_000, rules.maxSessionAgeMs / 100);
}

/** One session's commit, and whether the index hints go with it (false: they are recent enough, see indexRefreshMs). */
export interface QueuedCommit {
  tenant: string;
  plan: CommitPlan;
  hints: boolean;
  /** The commit leaves the session PAUSED and the tenant's paused zset must hear of it (abandoned-sweep.ts). */
  paused?: boolean;
}

/**
 * Queues the commits of many sessions as one script call and, before it,
 * the index hints that go with them: each session's id in its tenant's ids
 * zset, its last activity in the tenant's activity zset, and in the live
 * zset for a live session. Hints go first so that an index is never behind a
 * committed write. A hint for a commit that then conflicts is only early,
 * and every reader of an index checks the header anyway. Returns the
 * position of the commits' reply: one outcome per commit, in order.
 */
export function queueCommits(round: Round, ctx: RedisContext, commits: readonly QueuedCommit[], now: Date): number {
  const nowMs = now.getTime();
  // One array, keys first: ioredis takes it as the command's arguments (a spread of thousands would be copied twice).
  const keys: (string | number | Buffer)[] = [0];
  const args: (string | Buffer)[] = [String(commits.length)];
  for (const { tenant, plan, hints, paused } of commits) {
    const id = plan.header.record.session.conversationId;
    if (paused) round.add((c) => c.zadd(ctx.layout.tenant(tenant).paused, "GT", nowMs, id));
    if (hints) {
      const index = ctx.layout.tenant(tenant);
      round.add((c) => c.zadd(index.ids, 0, id));
      // GT: a sidecar whose clock runs behind never moves an index back in time.
      round.add((c) => c.zadd(index.activity, "GT", nowMs, id));
      if (plan.header.liveToken !== "") {
        round.add((c) => c.zadd(ctx.layout.global.live, "XX", "GT", nowMs, plan.header.liveToken));
        round.add((c) => c.zadd(ctx.layout.tenantLive(tenant), "XX", "GT", nowMs, plan.header.liveToken));
      }
    }
    for (const key of sessionKeyList(ctx.layout.session(tenant, id))) keys.push(key);
    args.push(packedCommit(plan));
  }
  if (round.perSlot) return queuePerSession(round, keys, args);
  keys[0] = keys.length - 1;
  for (const arg of args) keys.push(arg);
  return round.add((c) => c.ssCommit(keys));
}

/**
 * On Redis Cluster, where a script may only touch one slot: the hints first,
 * answered before any commit is sent (so an index is never behind a commit,
 * even with the hints in other slots), then one commit script per session,
 * whose outcomes come back joined at one position, as one call's would.
 */
function queuePerSession(round: Round, keys: (string | number | Buffer)[], args: (string | Buffer)[]): number {
  round.barrier();
  const calls: ((c: ChainableCommander) => unknown)[] = [];
  for (let s = 0; s < Number(args[0]); s++) {
    const own: (string | number | Buffer)[] = [...keys.slice(1 + SESSION_KEY_COUNT * s, 1 + SESSION_KEY_COUNT * (s + 1)), "1", args[1 + s]!];
    calls.push((c) => c.ssCommitOne(own));
  }
  return round.addJoined(calls);
}

/** Whether the commit at `index` of a queueCommits reply took effect. */
export function committed(reply: unknown, index: number): boolean {
  const outcome = (reply as number[])[index];
  return outcome === Committed.applied || outcome === Committed.alreadyApplied;
}

// 96 random bits per process, then a counter: as unique as 96 random bits
// per id, without the cost of asking the system for randomness per commit.
const incarnation = randomBytes(12).toString("base64url");
let issued = 0;

/** A unique id for a commit or a live token. */
export function newId(): string {
  issued += 1;
  return `${incarnation}${issued.toString(36)}`;
}
