import Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { type Session, type SessionUpdate, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { Logger } from "../../logger.js";
import { Reason, SessionError } from "../../session/errors.js";
import { isFullView, listedStatuses, visibleRecord } from "../../session/reads.js";
import { expiryCutoffMs, randomInitialVersion } from "../../session/record.js";
import { checkResume, type ResumeVerdict } from "../../session/resume.js";
import type { SessionRules } from "../../session/rules.js";
import { updateAlone } from "../update-group.js";
import type { CleanupRequest, EndRequest, ListQuery, ResumeRequest, Store, StoreStats, TenantUpdate, UpdateResult } from "../store.js";
import { openDatabase } from "./open-database.js";
import { SessionTables } from "./session-tables.js";
import { SqliteWriter } from "./sqlite-writer.js";

export interface SqliteStoreOptions {
  /** The database file; created with its directory when missing. ":memory:" for a throw-away store. */
  path: string;
  rules: SessionRules;
  clock: Clock;
  /** The parent logger; the store logs as module "sqlite". */
  logger?: Logger;
}

/**
 * The Store on one SQLite file (see migrations.ts for the schema).
 *
 * better-sqlite3 is synchronous, so every call runs to completion on the
 * event loop: each write is one IMMEDIATE transaction of SqliteWriter, with
 * nothing able to run in between, and reads of several statements share one
 * snapshot. A call that fails throws out of its transaction, which rolls it
 * back, so a failed call changes nothing. Writes never load a session's
 * children, so their cost does not grow with the history or audio stored.
 */
export class SqliteStore implements Store {
  private readonly tables: SessionTables;
  private readonly writer: SqliteWriter;
  private readonly snapshot: <T>(read: () => T) => T;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly rules: SessionRules,
    private readonly clock: Clock,
    private readonly log: Logger | undefined,
  ) {
    this.tables = new SessionTables(db);
    this.writer = new SqliteWriter(db, this.tables, rules);
    const read = db.transaction((work: () => unknown) => work()).deferred;
    this.snapshot = <T>(work: () => T) => read(work) as T;
  }

  /** Opens the store; throws a plain Error naming the file when it cannot be used (see openDatabase). */
  static open(options: SqliteStoreOptions): SqliteStore {
    const log = options.logger?.child({ module: "sqlite" });
    const db = openDatabase(options.path, log);
    try {
      return new SqliteStore(db, options.rules, options.clock, log);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    return this.run(() => this.writer.create(tenant, input, ownerId, this.clock.now(), randomInitialVersion()));
  }

  async get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    return this.run(() =>
      this.snapshot(() => {
        const { session } = visibleRecord(conversationId, this.tables.read(tenant, conversationId), this.clock.now(), this.rules);
        return isFullView(view, SessionView.FULL) ? this.tables.withChildren(tenant, session) : session;
      }),
    );
  }

  async resume(tenant: string, request: ResumeRequest): Promise<{ session: Session; created: boolean }> {
    const outcome = this.run(() => this.writer.resume(tenant, request, this.clock.now(), randomInitialVersion()));
    if ("refused" in outcome) throw outcome.refused;
    return outcome;
  }

  async validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    return this.run(() => checkResume(this.tables.read(tenant, conversationId)?.session, this.clock.now(), this.rules));
  }

  update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    return updateAlone(this, tenant, update);
  }

  async updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    return items.length === 0 ? [] : this.run(() => this.writer.updateMany(items, this.clock.now()));
  }

  async end(tenant: string, request: EndRequest): Promise<Session> {
    return this.run(() => this.writer.end(tenant, request, this.clock.now()));
  }

  async delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    this.run(() => this.writer.delete(tenant, conversationId, etag, this.clock.now()));
  }

  async list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    return this.run(() =>
      this.snapshot(() => {
        const records = this.tables.listPage({
          tenant,
          after: query.after,
          cutoffMs: expiryCutoffMs(this.clock.now(), this.rules),
          statuses: JSON.stringify(listedStatuses(query.statuses)),
          bridgeType: query.bridgeType,
          // One more than asked tells whether another page follows.
          limit: query.pageSize + 1,
        });
        const full = isFullView(query.view, SessionView.BASIC);
        const sessions = records.slice(0, query.pageSize).map(({ session }) => (full ? this.tables.withChildren(tenant, session) : session));
        return { sessions, more: records.length > query.pageSize };
      }),
    );
  }

  async cleanup(request: CleanupRequest): Promise<number> {
    const cutoffMs = request.cutoff.getTime();
    const { tenant } = request;
    if (request.dryRun) return this.run(() => this.tables.countInactive(tenant, cutoffMs));
    const batchSize = Math.max(1, request.batchSize);
    let deleted = 0;
    for (;;) {
      const batch = this.run(() => this.writer.cleanupBatch(tenant, cutoffMs, batchSize));
      deleted += batch;
      if (batch < batchSize) return deleted;
      // Let requests that queued up meanwhile run before the next batch.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async stats(tenant: string): Promise<StoreStats> {
    return this.run(() => this.snapshot(() => this.tables.stats(tenant, expiryCutoffMs(this.clock.now(), this.rules))));
  }

  async ping(): Promise<void> {
    this.run(() => this.tables.ping());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // Folds the WAL into the main file, so the file alone is a complete copy once we are gone.
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } catch (err) {
      this.log?.warn({ err, path: this.db.name }, "could not checkpoint the session database on close");
    }
    this.db.close();
  }

  /** Runs synchronous work, turning database failures into STORAGE_UNAVAILABLE. */
  private run<T>(work: () => T): T {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store is closed");
    try {
      return work();
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
      // The SQLite message can quote SQL; clients get the code, the log gets the cause.
      throw new SessionError(Reason.StorageUnavailable, `the session database failed (${err.code})`, { cause: err });
    }
  }
}
