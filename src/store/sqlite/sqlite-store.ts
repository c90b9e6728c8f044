import Database from "better-sqlite3";
import type { Clock } from "../../runtime/clock.js";
import { type Session, type SessionUpdate, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { Logger } from "../../runtime/logger.js";
import { isDataCorrupted, Reason, SessionError } from "../../session/errors.js";
import { isFullView, listedStatuses, visibleRecord } from "../../session/reads.js";
import { expiryCutoffMs, randomInitialVersion } from "../../session/record.js";
import { checkResume, type ResumeVerdict } from "../../session/resume.js";
import type { SessionRules } from "../../session/rules.js";
import { CorruptionLog } from "../corruption-log.js";
import { updateAlone } from "../update-group.js";
import type { AbandonRequest, CleanupRequest, EndRequest, ListQuery, ResumeRequest, ResumeResult, Store, StoreStats, TenantUpdate, UpdateResult, WindowedRead } from "../store.js";
import type { HistoryWindow } from "../../session/history-window.js";
import { Secret } from "./migrations.js";
import { openReader, type Synchronous } from "./open-database.js";
import { recordFromRow } from "./rows.js";
import { storageError } from "./sqlite-errors.js";
import { SessionTables } from "./session-tables.js";
import type { AbandonBatch, DeletedIds, ResumeOutcome } from "./sqlite-writer.js";
import { fromThreadSlot, type ThreadSlot } from "./thread-errors.js";
import { WriterClient } from "./writer-client.js";
import { packUpdates, type WriterMethod } from "./writer-protocol.js";

export interface SqliteStoreOptions {
  /** The database file; created with its directory when missing. */
  path: string;
  /** When commits are fsynced; "normal" when absent. */
  synchronous?: Synchronous;
  rules: SessionRules;
  clock: Clock;
  /** The parent logger; the store logs as module "sqlite". */
  logger?: Logger;
}

/**
 * The Store on one SQLite file (see migrations.ts for the schema).
 *
 * Writes run on a thread of their own (writer-thread.ts), which owns the one
 * connection that writes the file and runs each write as one IMMEDIATE
 * transaction of SqliteWriter: the event loop never waits for a commit, a
 * checkpoint or another process's lock. Reads run here, on a read-only
 * connection: in WAL mode they see every committed write and never wait for
 * the writer. A call that fails throws out of its transaction, which rolls
 * it back, so a failed call changes nothing. Writes never load a session's
 * children, so their cost does not grow with the history or audio stored.
 */
export class SqliteStore implements Store {
  /** The writer thread commits groups in order and refuses those sent before a failure was seen here (groupEpoch). */
  readonly groupsInFlight = 2;
  private readonly tables: SessionTables;
  private readonly snapshot: <T>(read: () => T) => T;
  private readonly corruption: CorruptionLog;
  readonly pageTokenKey: Uint8Array;
  private closed = false;
  /** Incremented each time a group fails: groups sent before that carry the old epoch, and the writer refuses them. */
  private groupEpoch = 0;

  private constructor(
    private readonly db: Database.Database,
    private readonly writer: WriterClient,
    private readonly rules: SessionRules,
    private readonly clock: Clock,
    log: Logger | undefined,
  ) {
    this.tables = new SessionTables(db);
    this.corruption = new CorruptionLog(log);
    this.pageTokenKey = this.tables.secret(Secret.pageTokenKey);
    const read = db.transaction((work: () => unknown) => work()).deferred;
    this.snapshot = <T>(work: () => T) => read(work) as T;
  }

  /**
   * Opens the store: starts the writer thread, which locks, checks and
   * prepares the file, then opens the read connection. Rejects with a plain
   * Error naming the file when it cannot be used (see openDatabase).
   */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    const log = options.logger?.child({ module: "sqlite" });
    const writer = await WriterClient.start({ path: options.path, synchronous: options.synchronous ?? "normal", rules: options.rules }, log);
    try {
      const reader = openReader(options.path);
      try {
        return new SqliteStore(reader, writer, options.rules, options.clock, log);
      } catch (err) {
        reader.close();
        throw err;
      }
    } catch (err) {
      await writer.close();
      throw err;
    }
  }

  create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    return this.write("create", tenant, input, ownerId, this.clock.now(), randomInitialVersion());
  }

  async get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    return this.run(tenant, () =>
      this.snapshot(() => {
        const { session } = visibleRecord(conversationId, this.tables.read(tenant, conversationId), this.clock.now(), this.rules);
        return isFullView(view, SessionView.FULL) ? this.tables.withChildren(tenant, session) : session;
      }),
    );
  }

  async getFullEncoded(tenant: string, conversationId: string): Promise<Uint8Array> {
    return this.run(tenant, () =>
      this.snapshot(() => {
        const { session } = visibleRecord(conversationId, this.tables.read(tenant, conversationId), this.clock.now(), this.rules);
        return this.tables.encodedWithChildren(tenant, session);
      }),
    );
  }

  async getWindow(tenant: string, conversationId: string, window: HistoryWindow): Promise<WindowedRead> {
    return this.run(tenant, () =>
      this.snapshot(() => {
        const { session } = visibleRecord(conversationId, this.tables.read(tenant, conversationId), this.clock.now(), this.rules);
        return this.tables.withWindow(tenant, session, window);
      }),
    );
  }

  async getWindowEncoded(tenant: string, conversationId: string, window: HistoryWindow): Promise<WindowedRead<Uint8Array>> {
    return this.run(tenant, () =>
      this.snapshot(() => {
        const { session } = visibleRecord(conversationId, this.tables.read(tenant, conversationId), this.clock.now(), this.rules);
        return this.tables.encodedWithWindow(tenant, session, window);
      }),
    );
  }

  resume(tenant: string, request: ResumeRequest): Promise<ResumeResult> {
    return this.resumeAs<Session>("resume", tenant, request);
  }

  resumeEncoded(tenant: string, request: ResumeRequest): Promise<ResumeResult<Uint8Array>> {
    return this.resumeAs<Uint8Array>("resumeEncoded", tenant, request);
  }

  private async resumeAs<S>(method: "resume" | "resumeEncoded", tenant: string, request: ResumeRequest): Promise<ResumeResult<S>> {
    const outcome = fromThreadSlot(await this.write<ThreadSlot<Exclude<ResumeOutcome<S>, SessionError>>>(method, tenant, request, this.clock.now(), randomInitialVersion()));
    if (outcome instanceof SessionError) throw outcome;
    return outcome;
  }

  async validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    return this.run(tenant, () => checkResume(this.tables.read(tenant, conversationId)?.session, this.clock.now(), this.rules));
  }

  update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    return updateAlone(this, tenant, update);
  }

  async updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    if (items.length === 0) return [];
    try {
      const packed = packUpdates(items);
      const slots = await this.writeCall(() => this.writer.updateMany<ThreadSlot<UpdateResult>[]>(packed, this.clock.now(), this.groupEpoch));
      const results = slots.map(fromThreadSlot);
      this.corruption.reportSlots(items, results);
      return results;
    } catch (err) {
      this.groupEpoch += 1;
      throw err;
    }
  }

  end(tenant: string, request: EndRequest): Promise<Session> {
    return this.write("end", tenant, request, this.clock.now());
  }

  delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    return this.write("delete", tenant, conversationId, etag, this.clock.now());
  }

  /**
   * A damaged session is left out of the page (and logged, once): one bad
   * record must not take its tenant's listing down. Rows are read in pages
   * of what is still missing plus one, again after the last row read when
   * damaged ones were skipped, so the page is as full as it would be
   * without them and `more` is true only when a readable session follows.
   */
  async list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    return this.run(tenant, () =>
      this.snapshot(() => {
        const full = isFullView(query.view, SessionView.BASIC);
        const found: Session[] = [];
        const params = {
          tenant,
          after: query.after,
          cutoffMs: expiryCutoffMs(this.clock.now(), this.rules),
          statuses: JSON.stringify(listedStatuses(query.statuses)),
          bridgeType: query.bridgeType,
          limit: 0,
        };
        for (;;) {
          // One more than asked tells whether another page follows.
          params.limit = query.pageSize + 1 - found.length;
          const rows = this.tables.listPage(params);
          for (const row of rows) {
            try {
              const { session } = recordFromRow(row);
              found.push(full && found.length < query.pageSize ? this.tables.withChildren(tenant, session) : session);
            } catch (err) {
              if (!isDataCorrupted(err)) throw err;
              this.corruption.report(tenant, err);
            }
          }
          if (rows.length < params.limit || found.length > query.pageSize) break;
          params.after = rows.at(-1)!.conversation_id;
        }
        return { sessions: found.slice(0, query.pageSize), more: found.length > query.pageSize };
      }),
    );
  }

  async cleanup(request: CleanupRequest): Promise<number> {
    const cutoffMs = request.cutoff.getTime();
    const { tenant } = request;
    if (request.dryRun) return this.run(tenant ?? "", () => this.tables.countInactive(tenant, cutoffMs));
    const batchSize = Math.max(1, request.batchSize);
    let deleted = 0;
    for (;;) {
      // Each batch is its own request, so writes that queued up meanwhile go in between.
      const batch = await this.write<DeletedIds>("cleanupBatch", tenant, cutoffMs, batchSize);
      deleted += batch.length;
      if (request.onDeleted) for (const [t, ids] of groupByTenant(batch)) request.onDeleted(t, ids);
      if (batch.length < batchSize) return deleted;
    }
  }

  async endAbandoned(request: AbandonRequest): Promise<number> {
    const batchSize = Math.max(1, request.batchSize);
    let ended = 0;
    for (;;) {
      // Each batch is its own request, so writes that queued up meanwhile go in between.
      const batch = await this.writeCall(() => this.writer.call<AbandonBatch>("abandonBatch", this.clock.now(), batchSize));
      ended += batch.ended.length;
      if (request.onEnded) for (const [t, sessions] of groupByTenant(batch.ended)) request.onEnded(t, sessions);
      if (batch.seen < batchSize || batch.ended.length === 0) return ended;
    }
  }

  async importSession(tenant: string, session: Session, replace: boolean): Promise<{ replaced: boolean }> {
    return { replaced: await this.write<boolean>("importSession", tenant, session, replace, this.clock.now()) };
  }

  async tenants(): Promise<string[]> {
    return this.run("", () => this.tables.tenants());
  }

  async stats(tenant: string): Promise<StoreStats> {
    return this.run(tenant, () => this.snapshot(() => this.tables.stats(tenant, expiryCutoffMs(this.clock.now(), this.rules))));
  }

  async ping(): Promise<void> {
    this.run("", () => this.tables.ping());
    await this.writeCall(() => this.writer.ping());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The reader first: a checkpoint that truncates the WAL must not find it in use.
    this.db.close();
    await this.writer.close();
  }

  /** A write of the tenant's on the writer thread; database failures come back as STORAGE_UNAVAILABLE or STORAGE_FULL, damaged records are logged. */
  private async write<T>(method: WriterMethod, tenant: string | undefined, ...args: unknown[]): Promise<T> {
    try {
      return await this.writeCall(() => this.writer.call<T>(method, tenant, ...args));
    } catch (err) {
      if (tenant !== undefined) this.corruption.report(tenant, err);
      throw err;
    }
  }

  private async writeCall<T>(call: () => Promise<T>): Promise<T> {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store is closed");
    try {
      return await call();
    } catch (err) {
      throw storageError(err);
    }
  }

  /** Runs a synchronous read of the tenant's, turning database failures into STORAGE_UNAVAILABLE (see storageError) and logging damaged records. */
  private run<T>(tenant: string, work: () => T): T {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store is closed");
    try {
      return work();
    } catch (err) {
      this.corruption.report(tenant, err);
      throw storageError(err);
    }
  }
}

/** A sweep's batch may span tenants; CleanupRequest.onDeleted and AbandonRequest.onEnded take one tenant's at a time. */
function groupByTenant<T>(pairs: readonly (readonly [tenant: string, value: T])[]): Map<string, T[]> {
  const byTenant = new Map<string, T[]>();
  for (const [tenant, value] of pairs) {
    const values = byTenant.get(tenant);
    if (values) values.push(value);
    else byTenant.set(tenant, [value]);
  }
  return byTenant;
}
