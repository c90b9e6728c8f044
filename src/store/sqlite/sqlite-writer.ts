import type Database from "better-sqlite3";
import { toBinary } from "@bufbuild/protobuf";
import { type Session, SessionSchema, SessionStatus, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { checkCapacity, type CreatePlan, type LiveCounts, planCreate } from "../../session/create-plan.js";
import { checkImportCapacity, planImport } from "../../session/import-plan.js";
import { deletesDespite, planDelete } from "../../session/delete-plan.js";
import { planEnd } from "../../session/end-plan.js";
import { isDataCorrupted, Reason, SessionError } from "../../session/errors.js";
import { isFullView } from "../../session/reads.js";
import { expiryCutoffMs, type SessionRecord, withChildren, withoutChildren } from "../../session/record.js";
import { planResume } from "../../session/resume-plan.js";
import { abandonCutoffMs, planAbandon } from "../../session/abandon-plan.js";
import type { SessionRules } from "../../session/rules.js";
import { planUpdates } from "../../session/update-plan.js";
import type { EndRequest, ResumeRequest, ResumeResult, TenantUpdate, UpdateResult } from "../store.js";
import { editedItemIds } from "../../session/history-edit.js";
import { windowOfArray } from "../../session/history-window.js";
import { decideGroups } from "../update-group.js";
import { CACHED_SESSIONS, SessionCache } from "../session-cache.js";
import { NotEndedCounts } from "./not-ended-counts.js";
import type { SessionTables } from "./session-tables.js";
import { isDiskFull } from "./sqlite-errors.js";
import { Counter } from "./sql.js";

/** What one batch of abandoned sessions did: how many candidates it looked at, and those it ended (BASIC). */
export interface AbandonBatch {
  seen: number;
  ended: [tenant: string, session: Session][];
}

/** The sessions one cleanup batch deleted, as [tenant, conversation_id]. */
export type DeletedIds = [tenant: string, conversationId: string][];

/**
 * What a resume transaction returns: a refusal is a value, so the
 * failed-resume count it writes commits with it. The session comes as a
 * message, or encoded (resumeEncoded).
 */
export type ResumeOutcome<S = Session> = ResumeResult<S> | SessionError;

/** A session as a resume returns it, and whether its window left older items out. */
type Presented<S> = { session: S; historyTruncated: boolean };

/**
 * Every write of the SQLite store, each one IMMEDIATE transaction: read the
 * header, let the planner of src/session decide, write what it planned. The
 * time of each write is passed in rather than read from a clock, so the
 * writer works the same wherever it runs (on the store's writer thread).
 *
 * Being the file's only writer (the lock of holdWriterLock), it keeps what it
 * would otherwise read again on every write: recent headers, which only its
 * own transactions change (one that fails clears them, since what it changed
 * was rolled back), and how many sessions have
 * not ended, so max_sessions costs nothing per create until the store nears
 * the cap (then expired sessions not yet swept are counted out exactly).
 * Both change only once a transaction has committed.
 *
 * IMMEDIATE takes the write lock up front: a deferred transaction that reads
 * and then writes can fail with SQLITE_BUSY at once, without waiting, when
 * another connection (an operator's sqlite3 shell) writes.
 */
export class SqliteWriter {
  readonly create: (tenant: string, input: Session, ownerId: string, now: Date, initialVersion: number) => Session;
  readonly resume: (tenant: string, request: ResumeRequest, now: Date, initialVersion: number) => ResumeOutcome;
  /** resume, with the session encoded: in the FULL view a long call's history goes as stored (SessionTables.encodedWithChildren). */
  readonly resumeEncoded: (tenant: string, request: ResumeRequest, now: Date, initialVersion: number) => ResumeOutcome<Uint8Array>;
  readonly updateMany: (items: readonly TenantUpdate[], now: Date, epoch: number) => (UpdateResult | SessionError)[];
  readonly end: (tenant: string, request: EndRequest, now: Date) => Session;
  /** Stores an exported session as it is (planImport); returns whether one was replaced. */
  readonly importSession: (tenant: string, session: Session, replace: boolean, now: Date) => boolean;
  readonly delete: (tenant: string, conversationId: string, etag: string, now: Date) => void;
  /** Deletes up to batchSize sessions last active before cutoffMs; returns how many. */
  readonly cleanupBatch: (tenant: string | undefined, cutoffMs: number, batchSize: number) => DeletedIds;
  /** Ends up to batchSize abandoned sessions (see planAbandon). */
  readonly abandonBatch: (now: Date, batchSize: number) => AbandonBatch;

  private readonly headers = new SessionCache<SessionRecord>(CACHED_SESSIONS);
  /** Sessions not ended, in all and per tenant, expired ones not yet swept included. */
  private readonly notEnded: NotEndedCounts;
  /** The epoch of the last group that failed: groups of that epoch were sent before the store saw it, and are refused. */
  private failedEpoch = -1;
  /** The last transaction failed for want of disk space (SQLITE_FULL); any commit clears it. */
  private lastFailedFull = false;

  constructor(
    db: Database.Database,
    private readonly tables: SessionTables,
    private readonly rules: SessionRules,
  ) {
    this.notEnded = new NotEndedCounts(tables.countNotEndedByTenant());
    const immediate = <A extends unknown[], R>(fn: (...args: A) => R) => {
      const run = db.transaction(fn).immediate as (...args: A) => R;
      return (...args: A): R => {
        this.notEnded.begin();
        try {
          const result = run(...args);
          this.notEnded.commit();
          this.lastFailedFull = false;
          return result;
        } catch (err) {
          // Rolled back: what the cache learnt in the transaction may never have been stored.
          this.headers.clear();
          if (isDiskFull(err)) this.lastFailedFull = true;
          throw err;
        }
      };
    };
    this.create = immediate(this.createSession.bind(this));
    this.resume = immediate((tenant: string, request: ResumeRequest, now: Date, initialVersion: number) =>
      this.resumeSession(tenant, request, now, initialVersion, (session, readChildren) => {
        if (!readChildren) return { session, historyTruncated: false };
        if (request.window) return this.tables.withWindow(tenant, session, request.window);
        return { session: this.tables.withChildren(tenant, session), historyTruncated: false };
      }),
    );
    this.resumeEncoded = immediate((tenant: string, request: ResumeRequest, now: Date, initialVersion: number) =>
      this.resumeSession(tenant, request, now, initialVersion, (session, readChildren) => {
        if (!readChildren) return { session: toBinary(SessionSchema, session), historyTruncated: false };
        if (request.window) return this.tables.encodedWithWindow(tenant, session, request.window);
        return { session: this.tables.encodedWithChildren(tenant, session), historyTruncated: false };
      }),
    );
    const updateGroup = immediate(this.updateGroup.bind(this));
    this.updateMany = (items, now, epoch) => {
      if (epoch <= this.failedEpoch) throw new SessionError(Reason.StorageUnavailable, "an earlier group of updates failed; this one was not applied: retry");
      try {
        return updateGroup(items, now);
      } catch (err) {
        this.failedEpoch = epoch;
        throw err;
      }
    };
    this.end = immediate(this.endSession.bind(this));
    this.importSession = immediate(this.importOne.bind(this));
    this.delete = immediate(this.deleteSession.bind(this));
    this.cleanupBatch = immediate(this.deleteInactive.bind(this));
    this.abandonBatch = immediate(this.endAbandoned.bind(this));
  }

  /** True from a write that failed for want of disk space (SQLITE_FULL) until the next commit. */
  get diskFull(): boolean {
    return this.lastFailedFull;
  }

  private createSession(tenant: string, input: Session, ownerId: string, now: Date, initialVersion: number): Session {
    const plan = planCreate(this.read(tenant, input.conversationId), input, { ownerId, status: SessionStatus.INITIATED, now, rules: this.rules, initialVersion });
    return this.insert(tenant, plan, now);
  }

  /**
   * `present` gives the session as the caller wants it; readChildren says
   * whether the view asks for children that are only in the tables (a
   * created session already holds its own, and its window is cut here).
   * A window whose after_item_id names no item throws out of the
   * transaction, which undoes the takeover.
   */
  private resumeSession<S>(
    tenant: string,
    request: ResumeRequest,
    now: Date,
    initialVersion: number,
    present: (session: Session, readChildren: boolean) => Presented<S>,
  ): ResumeOutcome<S> {
    const plan = planResume(this.read(tenant, request.conversationId), request, { now, rules: this.rules, initialVersion });
    const full = isFullView(request.view, SessionView.FULL);
    switch (plan.kind) {
      case "create": {
        const cut = request.window && windowOfArray(request.conversationId, plan.create.children.history, request.window);
        const session = this.insert(tenant, plan.create, now);
        if (cut) return { ...present({ ...session, conversationHistory: cut.items }, false), historyTruncated: cut.truncated, created: true };
        return { ...present(full ? session : withoutChildren(session), false), created: true };
      }
      case "refuse":
        this.tables.addToCounter(tenant, Counter.failedResumes, 1);
        return plan.error;
      case "resume":
        this.save(tenant, plan.record);
        return { ...present(plan.record.session, full), created: false };
    }
  }

  /**
   * A group commit: each session's header is read once (or not at all, when
   * cached), its updates decided together, and its header, children and ring
   * written once (see planUpdates). A refused update costs only its slot, and
   * so does a session whose stored header is damaged: every update of it is
   * refused as DATA_CORRUPTED and the others go on. Anything else thrown (the
   * database failing) rolls the whole group back.
   */
  private updateGroup(items: readonly TenantUpdate[], now: Date): (UpdateResult | SessionError)[] {
    return decideGroups(items, ({ tenant, conversationId, updates }) => {
      let record: SessionRecord | undefined;
      try {
        record = this.read(tenant, conversationId);
      } catch (err) {
        if (!isDataCorrupted(err)) throw err;
        return { results: updates.map(() => err), write: undefined };
      }
      const items = this.tables.storedItems(tenant, conversationId, editedItemIds(updates));
      const sizes = this.tables.audioSizes(tenant, conversationId);
      const plan = planUpdates(conversationId, record, updates, sizes, now, this.rules, items);
      if (plan.write) {
        // A write is planned only on a header that was read (planUpdates refuses every update of a missing session).
        this.tables.write(tenant, record!, plan.write);
        this.headers.set(tenant, conversationId, plan.write.record);
      }
      return plan;
    });
  }

  private importOne(tenant: string, session: Session, replace: boolean, now: Date): boolean {
    const stored = this.read(tenant, session.conversationId);
    const plan = planImport(stored, session, { replace, now, rules: this.rules });
    checkImportCapacity(plan, stored, this.liveCounts(tenant, now), now, this.rules);
    // Inside the transaction: a refusal below rolls the removal back too.
    if (plan.replaces) this.remove(tenant, stored!);
    this.tables.insert(tenant, plan);
    this.headers.set(tenant, session.conversationId, plan.record);
    if (plan.record.session.status !== SessionStatus.ENDED) this.notEnded.add(tenant, 1);
    return plan.replaces;
  }

  private endSession(tenant: string, request: EndRequest, now: Date): Session {
    const plan = planEnd(this.read(tenant, request.conversationId), request, now, this.rules);
    if (plan.changed) {
      this.save(tenant, plan.record);
      this.notEnded.add(tenant, -1);
    }
    return plan.record.session;
  }

  private deleteSession(tenant: string, conversationId: string, etag: string, now: Date): void {
    let stored: SessionRecord | undefined;
    try {
      stored = this.read(tenant, conversationId);
    } catch (err) {
      if (!deletesDespite(err, etag)) throw err;
      // Its status is taken from the column: the header cannot be read.
      const status = this.tables.remove(tenant, conversationId);
      this.headers.delete(tenant, conversationId);
      if (status !== undefined && status !== SessionStatus.ENDED) this.notEnded.add(tenant, -1);
      return;
    }
    this.remove(tenant, planDelete(stored, conversationId, etag, now, this.rules));
  }

  private deleteInactive(tenant: string | undefined, cutoffMs: number, batchSize: number): DeletedIds {
    const deleted = this.tables.deleteInactive(tenant, cutoffMs, batchSize);
    const perTenant = new Map<string, number>();
    for (const row of deleted) {
      perTenant.set(row.tenant, (perTenant.get(row.tenant) ?? 0) + 1);
      this.headers.delete(row.tenant, row.conversation_id);
      if (row.status !== SessionStatus.ENDED) this.notEnded.add(row.tenant, -1);
    }
    for (const [t, count] of perTenant) this.tables.addToCounter(t, Counter.cleanupCount, count);
    return deleted.map((row) => [row.tenant, row.conversation_id]);
  }

  /**
   * One batch of abandoned sessions, each decided again on its header. A
   * damaged header costs its own session only: it is left as it is (and
   * counted as seen, so a batch of them does not make the caller loop).
   */
  private endAbandoned(now: Date, batchSize: number): AbandonBatch {
    const cutoffMs = abandonCutoffMs(now, this.rules);
    if (cutoffMs === undefined) return { seen: 0, ended: [] };
    const rows = this.tables.pausedBefore(cutoffMs, expiryCutoffMs(now, this.rules), batchSize);
    const ended: [tenant: string, session: Session][] = [];
    for (const { tenant, conversation_id: id } of rows) {
      let record: SessionRecord | undefined;
      try {
        record = planAbandon(this.read(tenant, id), now, this.rules);
      } catch (err) {
        if (isDataCorrupted(err)) continue;
        throw err;
      }
      if (!record) continue;
      this.save(tenant, record);
      this.notEnded.add(tenant, -1);
      ended.push([tenant, record.session]);
    }
    return { seen: rows.length, ended };
  }

  /** Stores a planned new session once max_sessions allows it; returns it FULL. */
  private insert(tenant: string, plan: CreatePlan, now: Date): Session {
    const id = plan.record.session.conversationId;
    // An expired session is replaced: its old children must not show through.
    if (plan.replaces) this.remove(tenant, this.read(tenant, id)!);
    checkCapacity(this.liveCounts(tenant, now), this.rules);
    this.tables.insert(tenant, plan);
    this.headers.set(tenant, id, plan.record);
    this.notEnded.add(tenant, 1);
    return withChildren(plan.record.session, plan.children);
  }

  /**
   * Live sessions for the caps: the sessions not ended, which is exact
   * unless some have expired unswept; only near a cap, where that matters,
   * are they counted out with a query (the tenant's reads only its rows).
   */
  private liveCounts(tenant: string, now: Date): LiveCounts {
    const { maxSessions, maxSessionsPerTenant } = this.rules;
    const all = this.notEnded.all();
    const own = this.notEnded.of(tenant);
    return {
      total: all < maxSessions ? all : this.tables.countLive(expiryCutoffMs(now, this.rules)),
      tenant: maxSessionsPerTenant === 0 || own < maxSessionsPerTenant ? own : this.tables.countLiveOfTenant(tenant, expiryCutoffMs(now, this.rules)),
    };
  }

  private read(tenant: string, conversationId: string): SessionRecord | undefined {
    const cached = this.headers.get(tenant, conversationId);
    if (cached) return cached;
    const record = this.tables.read(tenant, conversationId);
    if (record) this.headers.set(tenant, conversationId, record);
    return record;
  }

  private save(tenant: string, record: SessionRecord): void {
    this.tables.save(tenant, record);
    this.headers.set(tenant, record.session.conversationId, record);
  }

  private remove(tenant: string, record: SessionRecord): void {
    this.tables.remove(tenant, record.session.conversationId);
    this.headers.delete(tenant, record.session.conversationId);
    if (record.session.status !== SessionStatus.ENDED) this.notEnded.add(tenant, -1);
  }
}
