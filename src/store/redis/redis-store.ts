import { create } from "@bufbuild/protobuf";
import type { Redis } from "ioredis";
import type { Clock } from "../../clock.js";
import { type Session, SessionSchema, SessionStatus, type SessionUpdate, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { maxSessionsReached, notFound, Reason, SessionError, sessionExists } from "../../session/errors.js";
import { statusName } from "../../session/lifecycle.js";
import { headerOf, isExpired, newRecord, randomInitialVersion, withView } from "../../session/record.js";
import { applyResume, checkResume, type ResumeVerdict, resumeRefused } from "../../session/resume.js";
import type { SessionRules } from "../../session/rules.js";
import { applyEnd, checkEtag } from "../../session/update.js";
import type { CleanupRequest, EndRequest, ListQuery, ResumeRequest, Store, StoreStats, TenantUpdate, UpdateResult } from "../store.js";
import { type CommitPlan, headerFromHash, type StoredHeader } from "./codec.js";
import { connectRedis, type RedisLogger, storageError } from "./connection.js";
import { cleanup, listSessions, tenantStats } from "./index-scans.js";
import { Counter, KeyLayout, sessionKeyList } from "./keys.js";
import { CONFLICT, SessionLocks, sessionLockKey, untilCommitted } from "./concurrency.js";
import { committed, newId, queueCommit, readFull, readHead, type RedisContext, Round } from "./session-io.js";
import { updateGroup } from "./update-group.js";

export interface RedisStoreOptions {
  /** redis://[user:password@]host[:port][/db], or rediss://… for TLS. */
  url: string;
  /** Put before every key, so deployments can share one Redis. No braces. */
  keyPrefix: string;
  connectTimeoutMs: number;
  rules: SessionRules;
  clock: Clock;
  logger?: RedisLogger;
}

/**
 * The Store on Redis, shared by the sidecars of many pods (keys.ts has the
 * layout).
 *
 * Atomicity without duplicating the rules: every write is an optimistic
 * transaction. It reads the session's header (one script, one snapshot),
 * decides with the same functions of src/session as the other backends, and
 * commits through a script that applies the decided writes only if the
 * header's version is still the one read (scripts.ts). A sidecar that lost a
 * race reads and decides again. So resume's checks and epoch, fencing, seq
 * idempotency, etags and the lifecycle hold across sidecars, and the rules
 * live in one place. WATCH/MULTI would do the same but holds state on the
 * connection, so concurrent calls would each need a connection of their own;
 * a version check in a script works on one shared, pipelined connection.
 *
 * max_sessions is counted in one store-wide zset of live tokens scored by last
 * activity: a create first reserves a token there with a script that counts
 * the unexpired tokens and adds its own only below the cap, so two sidecars
 * cannot both take the last place. Ending or deleting a session removes its
 * token once that has committed; a token whose create never committed (the
 * sidecar died in between, or Redis failed before answering) counts until it
 * ages past max_session_age, erring on the side of refusing a create.
 *
 * Redis Cluster: a session's keys share one slot and each script touches one
 * slot. The indexes (ids, activity, live, tenants) are in other slots, so they
 * are written beside the session's commit rather than inside its script, as
 * hints that may run ahead of the data but never behind it; readers check
 * every hint against the header. This build sends a commit and its hints in
 * one MULTI/EXEC to a single endpoint (a standalone Redis, or the primary of
 * a replicated set behind one address). On a Cluster, where a transaction
 * cannot span slots, the hints would go first, to their own slots, and the
 * commits after them, one transaction per session: one more round trip, and
 * each session's writes still commit all together or not at all.
 *
 * Reads hide expired sessions and the sweeper deletes them, as with SQLite;
 * keys carry no Redis TTL, because expiry follows the store's clock.
 */
export class RedisStore implements Store {
  private readonly ctx: RedisContext;
  private readonly locks = new SessionLocks();
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    layout: KeyLayout,
    rules: SessionRules,
    clock: Clock,
  ) {
    this.ctx = { redis, layout, rules, clock };
  }

  /** Connects, and resolves once Redis answers; rejects with an Error naming the server otherwise. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const layout = new KeyLayout(options.keyPrefix);
    const redis = await connectRedis({ url: options.url, connectTimeoutMs: options.connectTimeoutMs, logger: options.logger });
    return new RedisStore(redis, layout, options.rules, options.clock);
  }

  create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    return this.write(tenant, input.conversationId, () =>
      untilCommitted(input.conversationId, async () => {
        const now = this.ctx.clock.now();
        const { header } = await readHead(this.ctx, tenant, input.conversationId);
        if (header && !isExpired(header.record.session, now, this.ctx.rules)) {
          throw sessionExists(input.conversationId, statusName(header.record.session.status));
        }
        return this.insert(tenant, input, ownerId, SessionStatus.INITIATED, now, header);
      }),
    );
  }

  get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    return this.run(async () => {
      const now = this.ctx.clock.now();
      if (view === SessionView.BASIC) {
        const fields = await this.redis.hgetallBuffer(this.ctx.layout.session(tenant, conversationId).header);
        const header = headerFromHash(new Map(Object.entries(fields)));
        if (!header || isExpired(header.record.session, now, this.ctx.rules)) throw notFound(conversationId);
        return header.record.session;
      }
      const full = await readFull(this.ctx, tenant, conversationId);
      if (!full || isExpired(full.session, now, this.ctx.rules)) throw notFound(conversationId);
      return full.session;
    });
  }

  resume(tenant: string, request: ResumeRequest): Promise<{ session: Session; created: boolean }> {
    const id = request.conversationId;
    const full = request.view !== SessionView.BASIC;
    return this.write(tenant, id, () =>
      untilCommitted(id, async () => {
        const now = this.ctx.clock.now();
        // Children are read with the header, so the ones returned are those of the version resumed.
        const read = full ? await readFull(this.ctx, tenant, id) : { header: (await readHead(this.ctx, tenant, id)).header, session: undefined };
        const header = read?.header;
        if (request.createIfMissing && (!header || isExpired(header.record.session, now, this.ctx.rules))) {
          const initial = { ...(request.initial ?? create(SessionSchema)), conversationId: id };
          const session = await this.insert(tenant, initial, request.ownerId, SessionStatus.ACTIVE, now, header);
          return session === CONFLICT ? CONFLICT : { session: withView(session, request.view, SessionView.FULL), created: true };
        }
        const verdict = checkResume(header?.record.session, now, this.ctx.rules);
        if (!header || !verdict.valid) {
          await this.redis.hincrby(this.ctx.layout.tenant(tenant).counters, Counter.failedResumes, 1);
          throw resumeRefused(verdict, id, header?.record.session, this.ctx.rules);
        }
        const record = { ...header.record, session: headerOf(header.record.session) };
        applyResume(record, request.ownerId, now);
        const plan = { ...emptyPlan(header), header: { record, liveToken: header.liveToken } };
        if (!(await this.commit(tenant, plan, now))) return CONFLICT;
        const session = record.session;
        if (read?.session) {
          session.conversationHistory = read.session.conversationHistory;
          session.functionCalls = read.session.functionCalls;
          session.audioBuffer = read.session.audioBuffer;
        }
        return { session, created: false };
      }),
    );
  }

  validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    return this.run(async () => checkResume((await readHead(this.ctx, tenant, conversationId)).header?.record.session, this.ctx.clock.now(), this.ctx.rules));
  }

  async update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    const [result] = await this.updateMany([{ tenant, update }]);
    if (result instanceof SessionError) throw result;
    return result!;
  }

  updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    const keys = items.map(({ tenant, update }) => sessionLockKey(tenant, update.conversationId));
    return this.run(() => this.locks.exclusive(keys, () => updateGroup(this.ctx, items)));
  }

  end(tenant: string, request: EndRequest): Promise<Session> {
    const id = request.conversationId;
    return this.write(tenant, id, () =>
      untilCommitted(id, async () => {
        const now = this.ctx.clock.now();
        const header = this.visible(id, (await readHead(this.ctx, tenant, id)).header, now);
        const record = { ...header.record, session: headerOf(header.record.session) };
        if (!applyEnd(record, request.reason, request.ownerEpoch, request.etag, now)) return header.record.session;
        // An ended session no longer counts against max_sessions.
        if (!(await this.commit(tenant, { ...emptyPlan(header), header: { record, liveToken: "" } }, now))) return CONFLICT;
        // Only now: removed before the commit, a conflicting end would leave a live session uncounted.
        if (header.liveToken !== "") await this.redis.zrem(this.ctx.layout.global.live, header.liveToken);
        return record.session;
      }),
    );
  }

  delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    return this.write(tenant, conversationId, () =>
      untilCommitted(conversationId, async () => {
        const now = this.ctx.clock.now();
        const header = this.visible(conversationId, (await readHead(this.ctx, tenant, conversationId)).header, now);
        checkEtag(header.record.session, etag);
        const keys = sessionKeyList(this.ctx.layout.session(tenant, conversationId));
        const [outcome] = await this.redis.ssRemove(...keys, "version", header.record.version);
        if (outcome === 0) return CONFLICT;
        if (outcome === -1) throw notFound(conversationId);
        const index = this.ctx.layout.tenant(tenant);
        const after = new Round(this.redis, false);
        after.add((c) => c.ssUnindex(index.ids, index.activity, conversationId, now.getTime() + 1));
        if (header.liveToken !== "") after.add((c) => c.zrem(this.ctx.layout.global.live, header.liveToken));
        await after.run();
      }),
    );
  }

  list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    return this.run(() => listSessions(this.ctx, tenant, query));
  }

  cleanup(request: CleanupRequest): Promise<number> {
    return this.run(() => cleanup(this.ctx, request));
  }

  stats(tenant: string): Promise<StoreStats> {
    return this.run(() => tenantStats(this.ctx, tenant));
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.redis.ping();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // QUIT lets replies in flight arrive first; with Redis down there is nothing to wait for.
    if (this.redis.status === "ready") await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  /**
   * Stores a new session over nothing or over the expired `replaced`, after
   * reserving its place under max_sessions. Returns it FULL, or CONFLICT when
   * another writer got in first.
   */
  private async insert(tenant: string, input: Session, ownerId: string, status: SessionStatus, now: Date, replaced: StoredHeader | undefined): Promise<Session | typeof CONFLICT> {
    const { rules, layout } = this.ctx;
    const { record, children } = newRecord(input, { ownerId, status, now, rules, initialVersion: randomInitialVersion() });
    const liveToken = newId();
    const cutoffMs = now.getTime() - rules.maxSessionAgeMs;
    const [reserved, live] = await this.redis.ssReserve(layout.global.live, cutoffMs, rules.maxSessions, liveToken, now.getTime());
    if (reserved !== 1) throw maxSessionsReached(live, rules.maxSessions);

    const round = new Round(this.redis, true);
    round.add((c) => c.sadd(layout.global.tenants, tenant));
    if (replaced && replaced.liveToken !== "") round.add((c) => c.zrem(layout.global.live, replaced.liveToken));
    const position = queueCommit(round, this.ctx, tenant, {
      expectedVersion: replaced?.record.version,
      commitId: newId(),
      replace: replaced !== undefined,
      header: { record, liveToken },
      history: children.history,
      calls: children.functionCalls,
      audio: children.audio,
      dropAudio: 0,
    }, now);
    if (!committed((await round.run())[position])) {
      await this.redis.zrem(layout.global.live, liveToken);
      return CONFLICT;
    }
    return { ...record.session, conversationHistory: children.history, functionCalls: children.functionCalls, audioBuffer: children.audio };
  }

  /** Commits a header-only change; false on a conflict. */
  private async commit(tenant: string, plan: CommitPlan, now: Date): Promise<boolean> {
    const round = new Round(this.redis, true);
    const position = queueCommit(round, this.ctx, tenant, plan, now);
    return committed((await round.run())[position]);
  }

  /** The header a write may act on: SESSION_NOT_FOUND when absent or expired. */
  private visible(conversationId: string, header: StoredHeader | undefined, now: Date): StoredHeader {
    if (!header || isExpired(header.record.session, now, this.ctx.rules)) throw notFound(conversationId);
    return header;
  }

  /** Runs a write of one session after this process's earlier writes of it (see SessionLocks). */
  private write<T>(tenant: string, conversationId: string, work: () => Promise<T>): Promise<T> {
    return this.run(() => this.locks.exclusive([sessionLockKey(tenant, conversationId)], work));
  }

  /** Runs a call, turning Redis failures into STORAGE_UNAVAILABLE (see storageError). */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store is closed");
    try {
      return await work();
    } catch (err) {
      throw storageError(err, this.closed);
    }
  }
}

/** A commit on `header`'s version that adds no children; the caller supplies the new header. */
function emptyPlan(header: StoredHeader): Omit<CommitPlan, "header"> {
  return { expectedVersion: header.record.version, commitId: newId(), replace: false, history: [], calls: [], audio: [], dropAudio: 0 };
}
