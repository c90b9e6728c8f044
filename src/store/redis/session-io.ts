import { randomBytes } from "node:crypto";
import type { ChainableCommander, Redis } from "ioredis";
import type { Clock } from "../../clock.js";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { SessionRules } from "../../session/rules.js";
import { type CommitPlan, commitArgs, headerFromHash, hashOf, type StoredHeader, withChildren } from "./codec.js";
import { type KeyLayout, sessionKeyList } from "./keys.js";
import { Committed } from "./scripts.js";

/*
 * The round trips of the Redis store: reading one session as a snapshot,
 * committing one session's decided writes with the index hints that go with
 * them, and Round, which carries many of either in one trip.
 */

/** What every part of the Redis store works with. */
export interface RedisContext {
  redis: Redis;
  layout: KeyLayout;
  rules: SessionRules;
  clock: Clock;
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

export function parseHead(reply: unknown): HeadRead {
  const [header, sizes, count] = reply as [Buffer[], Buffer[], number];
  return { header: headerFromHash(hashOf(header)), sizes: sizes.map((s) => Number(s.toString())), count: Number(count) };
}

export async function readHead(ctx: RedisContext, tenant: string, id: string, wantSizes = 0): Promise<HeadRead> {
  const keys = ctx.layout.session(tenant, id);
  return parseHead(await ctx.redis.ssReadHeadBuffer(keys.header, keys.audioSizes, wantSizes));
}

/** The whole session, read as one snapshot; undefined when it does not exist. */
export async function readFull(ctx: RedisContext, tenant: string, id: string): Promise<{ header: StoredHeader; session: Session } | undefined> {
  const keys = ctx.layout.session(tenant, id);
  return parseFull(await ctx.redis.ssReadFullBuffer(keys.header, keys.history, keys.calls, keys.callOrder, keys.audio));
}

export function queueReadFull(chain: ChainableCommander, ctx: RedisContext, tenant: string, id: string): void {
  const keys = ctx.layout.session(tenant, id);
  chain.ssReadFullBuffer(keys.header, keys.history, keys.calls, keys.callOrder, keys.audio);
}

export function parseFull(reply: unknown): { header: StoredHeader; session: Session } | undefined {
  const [headerHash, history, callOrder, calls, audio] = reply as Buffer[][];
  const header = headerFromHash(hashOf(headerHash ?? []));
  if (!header) return undefined;
  // The record stays a header; the returned session is a copy that carries the children.
  const session = withChildren({ ...header.record.session }, history ?? [], callOrder ?? [], calls ?? [], audio ?? []);
  return { header, session };
}

/**
 * Queues a commit and, before it, the index hints that go with it: the
 * session's id in its tenant's ids zset, its last activity in the tenant's
 * activity zset, and in the live zset for a live session. Hints go first so
 * that an index is never behind a committed write, and every write asserts
 * them again, so an entry lost to a race comes back with the session's next
 * write. A hint for a commit that then conflicts is only early, and every
 * reader of an index checks the header anyway.
 */
export function queueCommit(round: Round, ctx: RedisContext, tenant: string, plan: CommitPlan, now: Date): number {
  const id = plan.header.record.session.conversationId;
  const keys = ctx.layout.session(tenant, id);
  const nowMs = now.getTime();
  const index = ctx.layout.tenant(tenant);
  round.add((c) => c.zadd(index.ids, 0, id));
  // GT: a sidecar whose clock runs behind never moves an index back in time.
  round.add((c) => c.zadd(index.activity, "GT", nowMs, id));
  if (plan.header.liveToken !== "") round.add((c) => c.zadd(ctx.layout.global.live, "XX", "GT", nowMs, plan.header.liveToken));
  return round.add((c) => c.ssCommit(...sessionKeyList(keys), ...commitArgs(plan)));
}

/** Whether a commit's reply says it took effect. */
export function committed(reply: unknown): boolean {
  return reply === Committed.applied || reply === Committed.alreadyApplied;
}

/** A random id for a commit or a live token: 96 bits, so two never meet. */
export function newId(): string {
  return randomBytes(12).toString("base64url");
}

/**
 * Commands sent to Redis in one round trip: a MULTI/EXEC transaction (all or
 * nothing, in order, with nothing else in between) or a plain pipeline.
 * `add` returns the position whose reply `run` gives back.
 */
export class Round {
  private readonly chain: ChainableCommander;
  private size = 0;

  constructor(redis: Redis, transaction: boolean) {
    this.chain = transaction ? redis.multi() : redis.pipeline();
  }

  get length(): number {
    return this.size;
  }

  add(queue: (chain: ChainableCommander) => unknown): number {
    queue(this.chain);
    return this.size++;
  }

  /** The replies in order; an error reply of any command rejects the round. */
  async run(): Promise<unknown[]> {
    if (this.size === 0) return [];
    const replies = await this.chain.exec();
    if (replies === null) throw new Error("Redis discarded the transaction");
    return replies.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }
}
