import type { Clock } from "../../runtime/clock.js";
import { redactedUrl } from "../../config/config-values.js";
import { type Session, SessionStatus, type SessionUpdate, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { Logger } from "../../runtime/logger.js";
import { planCreate } from "../../session/create-plan.js";
import { deletesDespite, planDelete } from "../../session/delete-plan.js";
import { planEnd } from "../../session/end-plan.js";
import { historyItemNotFound, notFound, Reason, SessionError } from "../../session/errors.js";
import { AFTER_ITEM_FIELD, type HistoryWindow, windowOfArray } from "../../session/history-window.js";
import { planImport } from "../../session/import-plan.js";
import { isFullView, visibleRecord } from "../../session/reads.js";
import { randomInitialVersion, withoutChildren } from "../../session/record.js";
import { checkResume, type ResumeVerdict } from "../../session/resume.js";
import { planResume } from "../../session/resume-plan.js";
import type { SessionRules } from "../../session/rules.js";
import { updateAlone } from "../update-group.js";
import type { AbandonRequest, CleanupRequest, EndRequest, EventRelay, ListQuery, ResumeRequest, ResumeResult, Store, StoreStats, TenantUpdate, UpdateResult, WindowedRead } from "../store.js";
import { headerFromHash } from "./codec.js";
import { getWindow, readForResume } from "./history-reads.js";
import { endAbandonedSessions } from "./abandoned-sweep.js";
import { RedisEventRelay } from "./event-relay.js";
import { closeRedis, connectRedis, describeServer, type RedisConnectionOptions, storageError } from "./connection.js";
import type { RedisClient } from "./round.js";
import { sharedPageTokenKey } from "./page-token-key.js";
import { ReplicaAcks, type ReplicaPolicy } from "./replica-acks.js";
import { checkDurability } from "./durability.js";
import { cleanup, listSessions, tenantStats } from "./index-scans.js";
import { Counter, HeaderField, KeyLayout, sessionKeyList } from "./keys.js";
import { CONFLICT, SessionLocks, sessionLockKey, untilCommitted } from "./concurrency.js";
import { commitHeader, forgetLive, insertSession } from "./session-commits.js";
import { readFull, readHead, type RedisContext, Round } from "./session-io.js";
import { updateInRounds } from "./update-rounds.js";
import { CorruptionLog } from "../corruption-log.js";
import { CACHED_SESSIONS, SessionCache } from "../session-cache.js";

/** Where Redis is (url, or sentinels, or clusterNodes: see RedisConnectionOptions), and how the store uses it. */
export interface RedisStoreOptions extends Omit<RedisConnectionOptions, "logger"> {
  /** Replicas that must have a write before it is acknowledged (WAIT); none by default. */
  replicas?: ReplicaPolicy;
  /** Put before every key, so deployments can share one Redis. No braces. */
  keyPrefix: string;
  /** Refuse to connect to a Redis that does not fsync every write before answering (or cannot say); otherwise that is only logged. */
  requireDurable?: boolean;
  rules: SessionRules;
  clock: Clock;
  /** The parent logger; the store logs as module "redis". */
  logger?: Logger;
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
 * max_sessions and the Cluster layout: see session-commits.ts and keys.ts.
 *
 * Reads hide expired sessions and the sweeper deletes them, as with SQLite;
 * keys carry no Redis TTL, because expiry follows the store's clock.
 */
export class RedisStore implements Store {
  private readonly ctx: RedisContext;
  private readonly locks = new SessionLocks();
  private closed = false;

  private constructor(
    private readonly redis: RedisClient,
    layout: KeyLayout,
    rules: SessionRules,
    clock: Clock,
    logger: Logger | undefined,
    readonly pageTokenKey: Uint8Array,
    private readonly replicas: ReplicaAcks,
  ) {
    this.ctx = { redis, layout, rules, clock, heads: new SessionCache(CACHED_SESSIONS), corruption: new CorruptionLog(logger) };
  }

  /**
   * Connects, and resolves once Redis answers and its persistence settings
   * were checked (see checkDurability); rejects with an Error naming the
   * server otherwise.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const layout = new KeyLayout(options.keyPrefix);
    const logger = options.logger?.child({ module: "redis" });
    const redis = await connectRedis({ url: options.url, sentinels: options.sentinels, clusterNodes: options.clusterNodes, connectTimeoutMs: options.connectTimeoutMs, logger });
    const replicas = new ReplicaAcks(redis, options.replicas ?? { min: 0, timeoutMs: 1000 });
    try {
      await checkDurability(redis, { require: options.requireDurable ?? false, where: describeServer(redis), logger });
      await replicas.report(describeServer(redis), logger);
    } catch (err) {
      await closeRedis(redis);
      throw err;
    }
    try {
      return new RedisStore(redis, layout, options.rules, options.clock, logger, await sharedPageTokenKey(redis, layout), replicas);
    } catch (err) {
      await closeRedis(redis);
      throw new Error(`cannot read the page-token key from Redis at ${redactedUrl(options.url)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    return this.write(tenant, input.conversationId, () =>
      untilCommitted(input.conversationId, async () => {
        const now = this.ctx.clock.now();
        const { header } = await readHead(this.ctx, tenant, input.conversationId);
        const plan = planCreate(header?.record, input, { ownerId, status: SessionStatus.INITIATED, now, rules: this.ctx.rules, initialVersion: randomInitialVersion() });
        return insertSession(this.ctx, tenant, plan, now, header);
      }),
    );
  }

  get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    return this.run(tenant, async () => {
      const now = this.ctx.clock.now();
      if (!isFullView(view, SessionView.FULL)) {
        const fields = await this.redis.hgetallBuffer(this.ctx.layout.session(tenant, conversationId).header);
        return visibleRecord(conversationId, headerFromHash(new Map(Object.entries(fields)), conversationId)?.record, now, this.ctx.rules).session;
      }
      const full = await readFull(this.ctx, tenant, conversationId);
      visibleRecord(conversationId, full?.header.record, now, this.ctx.rules);
      return full!.session;
    });
  }

  getWindow(tenant: string, conversationId: string, window: HistoryWindow): Promise<WindowedRead> {
    return this.run(tenant, () => getWindow(this.ctx, tenant, conversationId, window));
  }

  resume(tenant: string, request: ResumeRequest): Promise<ResumeResult> {
    const id = request.conversationId;
    const full = isFullView(request.view, SessionView.FULL);
    const { window } = request;
    return this.write(tenant, id, () =>
      untilCommitted(id, async () => {
        const now = this.ctx.clock.now();
        // Children are read with the header, so the ones returned are those of the version resumed.
        const read = await readForResume(this.ctx, tenant, id, full, window);
        const header = read?.header;
        const plan = planResume(header?.record, request, { now, rules: this.ctx.rules, initialVersion: randomInitialVersion() });
        switch (plan.kind) {
          case "create": {
            // Cut before the insert, so an unknown after_item_id creates nothing.
            const cut = window && windowOfArray(id, plan.create.children.history, window);
            const session = await insertSession(this.ctx, tenant, plan.create, now, header);
            if (session === CONFLICT) return CONFLICT;
            if (cut) return { session: { ...session, conversationHistory: cut.items }, created: true, historyTruncated: cut.truncated };
            return { session: full ? session : withoutChildren(session), created: true, historyTruncated: false };
          }
          case "refuse":
            await this.redis.hincrby(this.ctx.layout.tenant(tenant).counters, Counter.failedResumes, 1);
            throw plan.error;
          case "resume": {
            if (read?.missingItem) throw historyItemNotFound(id, window!.afterItemId, AFTER_ITEM_FIELD);
            if (!(await commitHeader(this.ctx, tenant, header!, plan.record, header!.liveToken, now))) return CONFLICT;
            const session = read?.session ? { ...plan.record.session, ...childrenOf(read.session) } : plan.record.session;
            return { session, created: false, historyTruncated: read?.truncated ?? false };
          }
        }
      }),
    );
  }

  validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    return this.run(tenant, async () => checkResume((await readHead(this.ctx, tenant, conversationId)).header?.record.session, this.ctx.clock.now(), this.ctx.rules));
  }

  update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    return updateAlone(this, tenant, update);
  }

  updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    const keys = items.map(({ tenant, update }) => sessionLockKey(tenant, update.conversationId));
    return this.run(undefined, () =>
      this.locks.exclusive(keys, async () => {
        const connection = this.replicas.connection;
        return this.replicas.confirmEach(await updateInRounds(this.ctx, items), connection);
      }),
    );
  }

  end(tenant: string, request: EndRequest): Promise<Session> {
    const id = request.conversationId;
    return this.write(tenant, id, () =>
      untilCommitted(id, async () => {
        const now = this.ctx.clock.now();
        const { header } = await readHead(this.ctx, tenant, id);
        const plan = planEnd(header?.record, request, now, this.ctx.rules);
        if (!plan.changed) return plan.record.session;
        // An ended session no longer counts against max_sessions.
        if (!(await commitHeader(this.ctx, tenant, header!, plan.record, "", now))) return CONFLICT;
        // Only now: removed before the commit, a conflicting end would leave a live session uncounted.
        if (header!.liveToken !== "") {
          const forget = new Round(this.redis, false);
          forgetLive(forget, this.ctx, tenant, [header!.liveToken]);
          await forget.run();
        }
        return plan.record.session;
      }),
    );
  }

  delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    return this.write(tenant, conversationId, () =>
      untilCommitted(conversationId, async () => {
        const now = this.ctx.clock.now();
        const keys = this.ctx.layout.session(tenant, conversationId);
        const version = await this.deletableVersion(tenant, conversationId, etag, now);
        const [outcome, liveToken] = await this.redis.ssRemove(...sessionKeyList(keys), "version", version);
        if (outcome === 0) return CONFLICT;
        if (outcome === -1) throw notFound(conversationId);
        const index = this.ctx.layout.tenant(tenant);
        const after = new Round(this.redis, false);
        after.add((c) => c.ssUnindex(index.ids, index.activity, conversationId, now.getTime() + 1));
        if (liveToken) forgetLive(after, this.ctx, tenant, [liveToken]);
        await after.run();
      }),
    );
  }

  /** The version field a delete removes the session at, once planDelete (or deletesDespite, for a damaged header) allows it. */
  private async deletableVersion(tenant: string, conversationId: string, etag: string, now: Date): Promise<string> {
    try {
      const { header } = await readHead(this.ctx, tenant, conversationId);
      return String(planDelete(header?.record, conversationId, etag, now, this.ctx.rules).version);
    } catch (err) {
      if (!deletesDespite(err, etag)) throw err;
      // Compared as stored, by the script: it may be as damaged as the rest of the header.
      const version = await this.redis.hget(this.ctx.layout.session(tenant, conversationId).header, HeaderField.version);
      if (version === null) throw notFound(conversationId);
      return version;
    }
  }

  list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    return this.run(tenant, () => listSessions(this.ctx, tenant, query));
  }

  cleanup(request: CleanupRequest): Promise<number> {
    return this.run(request.tenant, () => this.replicated(() => cleanup(this.ctx, request)));
  }

  endAbandoned(request: AbandonRequest): Promise<number> {
    return this.run(undefined, () => endAbandonedSessions(this.ctx, request, (tenant, id, work) => this.write(tenant, id, work)));
  }

  stats(tenant: string): Promise<StoreStats> {
    return this.run(tenant, () => tenantStats(this.ctx, tenant));
  }

  /**
   * planImport, then the create's commit (insertSession): a live session
   * reserves its place under the caps in the same script a create uses, so
   * an import into a Redis that sidecars serve counts right. A replaced live
   * session's place is given up only after that reservation: at the cap,
   * replacing a live session with a live one is refused (MAX_SESSIONS).
   */
  importSession(tenant: string, session: Session, replace: boolean): Promise<{ replaced: boolean }> {
    return this.write(tenant, session.conversationId, () =>
      untilCommitted(session.conversationId, async () => {
        const now = this.ctx.clock.now();
        const { header } = await readHead(this.ctx, tenant, session.conversationId);
        const plan = planImport(header?.record, session, { replace, now, rules: this.ctx.rules });
        const stored = await insertSession(this.ctx, tenant, plan, now, header);
        return stored === CONFLICT ? CONFLICT : { replaced: plan.replaces };
      }),
    );
  }

  tenants(): Promise<string[]> {
    return this.run("", async () => (await this.redis.smembers(this.ctx.layout.global.tenants)).sort());
  }

  /** True while the connection to Redis is ready; a lost one is being re-established meanwhile. */
  get connected(): boolean {
    return this.redis.status === "ready";
  }

  openEventRelay(): EventRelay {
    return new RedisEventRelay(this.redis, this.ctx.layout.global);
  }

  ping(): Promise<void> {
    return this.run(undefined, async () => {
      await this.redis.ping();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeRedis(this.redis);
  }

  /**
   * Runs a write of one session after this process's earlier writes of it
   * (see SessionLocks). Its head is dropped from the update cache: the next
   * update reads the session afresh.
   */
  private write<T>(tenant: string, conversationId: string, work: () => Promise<T>): Promise<T> {
    return this.run(tenant, () =>
      this.locks.exclusive([sessionLockKey(tenant, conversationId)], () => {
        this.ctx.heads.delete(tenant, conversationId);
        return this.replicated(work);
      }),
    );
  }

  /**
   * Runs a write and, with --redis-min-replicas, answers only once enough
   * replicas have it (see ReplicaAcks): still inside the session's lock, so
   * the next write of the session is not decided on one that may yet fail.
   * A write that failed needs no wait; its error is the answer.
   */
  private async replicated<T>(work: () => Promise<T>): Promise<T> {
    const connection = this.replicas.connection;
    const result = await work();
    await this.replicas.confirm(connection);
    return result;
  }

  /** Runs a call of the tenant's, turning Redis failures into STORAGE_UNAVAILABLE (see storageError) and logging damaged records. */
  private async run<T>(tenant: string | undefined, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store is closed");
    try {
      return await work();
    } catch (err) {
      if (tenant !== undefined) this.ctx.corruption.report(tenant, err);
      throw storageError(err, this.closed);
    }
  }
}

/** A FULL session's children, to carry over onto a newer header. */
function childrenOf(session: Session): Pick<Session, "conversationHistory" | "functionCalls" | "audioBuffer"> {
  return { conversationHistory: session.conversationHistory, functionCalls: session.functionCalls, audioBuffer: session.audioBuffer };
}
