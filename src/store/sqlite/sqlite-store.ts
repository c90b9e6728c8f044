import { create } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { type Session, SessionSchema, SessionStatus, type SessionUpdate, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { maxSessionsReached, notFound, Reason, SessionError, sessionExists } from "../../session/errors.js";
import { statusName } from "../../session/lifecycle.js";
import { isExpired, newRecord, randomInitialVersion, type SessionRecord } from "../../session/record.js";
import { applyResume, checkResume, type ResumeVerdict, resumeRefused } from "../../session/resume.js";
import type { SessionRules } from "../../session/rules.js";
import { applyEnd, checkEtag } from "../../session/update.js";
import type { CleanupRequest, EndRequest, ListQuery, ResumeRequest, Store, StoreStats, TenantUpdate, UpdateResult } from "../store.js";
import { openDatabase, type StoreLogger } from "./open-database.js";
import { SessionTables } from "./session-tables.js";
import { Counter, nonEndedStatuses } from "./sql.js";
import { applyUpdateGroup } from "./update-group.js";

export interface SqliteStoreOptions {
  /** The database file; created with its directory when missing. ":memory:" for a throw-away store. */
  path: string;
  rules: SessionRules;
  clock: Clock;
  logger?: StoreLogger;
}

/**
 * The Store on one SQLite file (see migrations.ts for the schema).
 *
 * better-sqlite3 is synchronous, so every call runs to completion on the
 * event loop: each write is one IMMEDIATE transaction that reads the header
 * row, applies the rules of src/session and writes, with nothing able to run
 * in between. A call that fails throws out of its transaction, which rolls
 * it back, so a failed call changes nothing. Writes never load a session's
 * children, so their cost does not grow with the history or audio stored.
 */
export class SqliteStore implements Store {
  private readonly tables: SessionTables;
  private readonly tx;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly rules: SessionRules,
    private readonly clock: Clock,
    private readonly logger: StoreLogger | undefined,
  ) {
    this.tables = new SessionTables(db);
    // IMMEDIATE takes the write lock up front: a deferred transaction that
    // reads and then writes can fail with SQLITE_BUSY at once, without
    // waiting, when another connection (an operator's sqlite3 shell) writes.
    this.tx = {
      create: db.transaction(this.createSession.bind(this)).immediate,
      resume: db.transaction(this.resumeSession.bind(this)).immediate,
      updateGroup: db.transaction(this.updateGroup.bind(this)).immediate,
      end: db.transaction(this.endSession.bind(this)).immediate,
      delete: db.transaction(this.deleteSession.bind(this)).immediate,
      cleanupBatch: db.transaction(this.cleanupBatch.bind(this)).immediate,
      read: db.transaction((read: () => unknown) => read()).deferred,
    };
  }

  /** Opens the store; throws a plain Error naming the file when it cannot be used (see openDatabase). */
  static open(options: SqliteStoreOptions): SqliteStore {
    const db = openDatabase(options.path, options.logger);
    try {
      return new SqliteStore(db, options.rules, options.clock, options.logger);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    return this.run(() => this.tx.create(tenant, input, ownerId));
  }

  async get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    return this.run(() =>
      this.snapshot(() => {
        const record = this.liveRecord(tenant, conversationId, this.clock.now());
        return this.present(tenant, record.session, view, SessionView.FULL);
      }),
    );
  }

  async resume(tenant: string, request: ResumeRequest): Promise<{ session: Session; created: boolean }> {
    const outcome = this.run(() => this.tx.resume(tenant, request));
    if ("refused" in outcome) throw outcome.refused;
    return outcome;
  }

  async validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    return this.run(() => checkResume(this.tables.read(tenant, conversationId)?.session, this.clock.now(), this.rules));
  }

  async update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    // A group of one: the same code path as the update stream's group commit.
    const [result] = await this.updateMany([{ tenant, update }]);
    if (result instanceof SessionError) throw result;
    return result!;
  }

  async updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    return items.length === 0 ? [] : this.run(() => this.tx.updateGroup(items));
  }

  async end(tenant: string, request: EndRequest): Promise<Session> {
    return this.run(() => this.tx.end(tenant, request));
  }

  async delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    this.run(() => this.tx.delete(tenant, conversationId, etag));
  }

  async list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    return this.run(() =>
      this.snapshot(() => {
        const records = this.tables.listPage({
          tenant,
          after: query.after,
          cutoffMs: this.expiryCutoffMs(this.clock.now()),
          statuses: JSON.stringify(query.statuses.length > 0 ? query.statuses : nonEndedStatuses),
          bridgeType: query.bridgeType,
          // One more than asked tells whether another page follows.
          limit: query.pageSize + 1,
        });
        const sessions = records.slice(0, query.pageSize).map((r) => this.present(tenant, r.session, query.view, SessionView.BASIC));
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
      const batch = this.run(() => this.tx.cleanupBatch(tenant, cutoffMs, batchSize));
      deleted += batch;
      if (batch < batchSize) return deleted;
      // Let requests that queued up meanwhile run before the next batch.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async stats(tenant: string): Promise<StoreStats> {
    return this.run(() => this.snapshot(() => this.tables.stats(tenant, this.expiryCutoffMs(this.clock.now()))));
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
      this.logger?.warn({ err, path: this.db.name }, "could not checkpoint the session database on close");
    }
    this.db.close();
  }

  // --- transactions: each reads the header, applies src/session, writes

  private createSession(tenant: string, input: Session, ownerId: string): Session {
    const now = this.clock.now();
    const id = input.conversationId;
    const existing = this.tables.read(tenant, id);
    if (existing && !isExpired(existing.session, now, this.rules)) {
      throw sessionExists(id, statusName(existing.session.status));
    }
    // An expired session is replaced: its old children must not show through.
    if (existing) this.tables.remove(tenant, id);
    return this.insertNew(tenant, input, ownerId, SessionStatus.INITIATED, now);
  }

  private resumeSession(tenant: string, request: ResumeRequest): { session: Session; created: boolean } | { refused: SessionError } {
    const now = this.clock.now();
    const id = request.conversationId;
    const record = this.tables.read(tenant, id);
    const expired = record !== undefined && isExpired(record.session, now, this.rules);
    if (request.createIfMissing && (record === undefined || expired)) {
      if (record) this.tables.remove(tenant, id);
      const initial = { ...(request.initial ?? create(SessionSchema)), conversationId: id };
      const session = this.insertNew(tenant, initial, request.ownerId, SessionStatus.ACTIVE, now);
      return { session: this.present(tenant, session, request.view, SessionView.FULL), created: true };
    }
    const verdict = checkResume(record?.session, now, this.rules);
    if (!record || !verdict.valid) {
      // A refusal writes nothing to the session, so its count can share this transaction.
      this.tables.addToCounter(tenant, Counter.failedResumes, 1);
      return { refused: resumeRefused(verdict, id, record?.session, this.rules) };
    }
    applyResume(record, request.ownerId, now);
    this.tables.save(tenant, record);
    return { session: this.present(tenant, record.session, request.view, SessionView.FULL), created: false };
  }

  /** One commit shared by the group; see update-group.ts for how it is applied. */
  private updateGroup(items: readonly TenantUpdate[]): (UpdateResult | SessionError)[] {
    return applyUpdateGroup(this.tables, items, this.rules, this.clock);
  }

  private endSession(tenant: string, request: EndRequest): Session {
    const now = this.clock.now();
    const record = this.liveRecord(tenant, request.conversationId, now);
    if (applyEnd(record, request.reason, request.ownerEpoch, request.etag, now)) this.tables.save(tenant, record);
    return record.session;
  }

  private deleteSession(tenant: string, conversationId: string, etag: string): void {
    const record = this.liveRecord(tenant, conversationId, this.clock.now());
    checkEtag(record.session, etag);
    this.tables.remove(tenant, conversationId);
  }

  private cleanupBatch(tenant: string | undefined, cutoffMs: number, batchSize: number): number {
    const tenants = this.tables.deleteInactive(tenant, cutoffMs, batchSize);
    const perTenant = new Map<string, number>();
    for (const t of tenants) perTenant.set(t, (perTenant.get(t) ?? 0) + 1);
    for (const [t, count] of perTenant) this.tables.addToCounter(t, Counter.cleanupCount, count);
    return tenants.length;
  }

  // --- helpers, called inside a transaction

  /** Inserts a new session after checking max_sessions; returns it FULL. */
  private insertNew(tenant: string, input: Session, ownerId: string, status: SessionStatus, now: Date): Session {
    const live = this.tables.countLive(this.expiryCutoffMs(now));
    if (live >= this.rules.maxSessions) throw maxSessionsReached(live, this.rules.maxSessions);
    const { record, children } = newRecord(input, { ownerId, status, now, rules: this.rules, initialVersion: randomInitialVersion() });
    this.tables.insert(tenant, record, children);
    return Object.assign(record.session, { conversationHistory: children.history, functionCalls: children.functionCalls, audioBuffer: children.audio });
  }

  /** The record, or SESSION_NOT_FOUND when it is absent or expired. */
  private liveRecord(tenant: string, conversationId: string, now: Date): SessionRecord {
    const record = this.tables.read(tenant, conversationId);
    if (!record || isExpired(record.session, now, this.rules)) throw notFound(conversationId);
    return record;
  }

  /** The session in the view asked for (`fallback` standing for UNSPECIFIED), loading children only for FULL. */
  private present(tenant: string, session: Session, view: SessionView, fallback: SessionView): Session {
    return (view === SessionView.UNSPECIFIED ? fallback : view) === SessionView.FULL ? this.tables.withChildren(tenant, session) : session;
  }

  /** Sessions last active before this instant are expired (isExpired, as a bound for SQL). */
  private expiryCutoffMs(now: Date): number {
    return now.getTime() - this.rules.maxSessionAgeMs;
  }

  /** Runs reads of several statements against one snapshot of the file. */
  private snapshot<T>(read: () => T): T {
    return this.tx.read(read) as T;
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
