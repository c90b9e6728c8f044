import type Database from "better-sqlite3";
import { type Session, SessionStatus, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { checkCapacity, type CreatePlan, planCreate } from "../../session/create-plan.js";
import { planDelete } from "../../session/delete-plan.js";
import { planEnd } from "../../session/end-plan.js";
import type { SessionError } from "../../session/errors.js";
import { isFullView } from "../../session/reads.js";
import { expiryCutoffMs, withChildren, withoutChildren } from "../../session/record.js";
import { planResume } from "../../session/resume-plan.js";
import type { SessionRules } from "../../session/rules.js";
import { planUpdates } from "../../session/update-plan.js";
import type { EndRequest, ResumeRequest, TenantUpdate, UpdateResult } from "../store.js";
import { decideGroups } from "../update-group.js";
import type { SessionTables } from "./session-tables.js";
import { Counter } from "./sql.js";

/** What a resume transaction returns: a refusal is a value, so the failed-resume count it writes commits with it. */
export type ResumeOutcome = { session: Session; created: boolean } | { refused: SessionError };

/**
 * Every write of the SQLite store, each one IMMEDIATE transaction: read the
 * header, let the planner of src/session decide, write what it planned. The
 * time of each write is passed in rather than read from a clock, so the
 * writer works the same wherever it runs.
 *
 * IMMEDIATE takes the write lock up front: a deferred transaction that reads
 * and then writes can fail with SQLITE_BUSY at once, without waiting, when
 * another connection (an operator's sqlite3 shell) writes.
 */
export class SqliteWriter {
  readonly create: (tenant: string, input: Session, ownerId: string, now: Date, initialVersion: number) => Session;
  readonly resume: (tenant: string, request: ResumeRequest, now: Date, initialVersion: number) => ResumeOutcome;
  readonly updateMany: (items: readonly TenantUpdate[], now: Date) => (UpdateResult | SessionError)[];
  readonly end: (tenant: string, request: EndRequest, now: Date) => Session;
  readonly delete: (tenant: string, conversationId: string, etag: string, now: Date) => void;
  /** Deletes up to batchSize sessions last active before cutoffMs; returns how many. */
  readonly cleanupBatch: (tenant: string | undefined, cutoffMs: number, batchSize: number) => number;

  constructor(
    db: Database.Database,
    private readonly tables: SessionTables,
    private readonly rules: SessionRules,
  ) {
    const immediate = <A extends unknown[], R>(fn: (...args: A) => R) => db.transaction(fn).immediate as (...args: A) => R;
    this.create = immediate(this.createSession.bind(this));
    this.resume = immediate(this.resumeSession.bind(this));
    this.updateMany = immediate(this.updateGroup.bind(this));
    this.end = immediate(this.endSession.bind(this));
    this.delete = immediate(this.deleteSession.bind(this));
    this.cleanupBatch = immediate(this.deleteInactive.bind(this));
  }

  private createSession(tenant: string, input: Session, ownerId: string, now: Date, initialVersion: number): Session {
    const stored = this.tables.read(tenant, input.conversationId);
    const plan = planCreate(stored, input, { ownerId, status: SessionStatus.INITIATED, now, rules: this.rules, initialVersion });
    return this.insert(tenant, plan, now);
  }

  private resumeSession(tenant: string, request: ResumeRequest, now: Date, initialVersion: number): ResumeOutcome {
    const plan = planResume(this.tables.read(tenant, request.conversationId), request, { now, rules: this.rules, initialVersion });
    const full = isFullView(request.view, SessionView.FULL);
    switch (plan.kind) {
      case "create": {
        const session = this.insert(tenant, plan.create, now);
        return { session: full ? session : withoutChildren(session), created: true };
      }
      case "refuse":
        this.tables.addToCounter(tenant, Counter.failedResumes, 1);
        return { refused: plan.error };
      case "resume":
        this.tables.save(tenant, plan.record);
        return { session: full ? this.tables.withChildren(tenant, plan.record.session) : plan.record.session, created: false };
    }
  }

  /**
   * A group commit: each session's header is read once, its updates decided
   * together, and its header, children and ring written once (see
   * planUpdates). A refused update costs only its slot; anything else thrown
   * (the database failing) rolls the whole group back.
   */
  private updateGroup(items: readonly TenantUpdate[], now: Date): (UpdateResult | SessionError)[] {
    return decideGroups(items, ({ tenant, conversationId, updates }) => {
      const sizes = this.tables.audioSizes(tenant, conversationId);
      const plan = planUpdates(conversationId, this.tables.read(tenant, conversationId), updates, sizes, now, this.rules);
      if (plan.write) this.tables.write(tenant, plan.write);
      return plan;
    });
  }

  private endSession(tenant: string, request: EndRequest, now: Date): Session {
    const plan = planEnd(this.tables.read(tenant, request.conversationId), request, now, this.rules);
    if (plan.changed) this.tables.save(tenant, plan.record);
    return plan.record.session;
  }

  private deleteSession(tenant: string, conversationId: string, etag: string, now: Date): void {
    planDelete(this.tables.read(tenant, conversationId), conversationId, etag, now, this.rules);
    this.tables.remove(tenant, conversationId);
  }

  private deleteInactive(tenant: string | undefined, cutoffMs: number, batchSize: number): number {
    const tenants = this.tables.deleteInactive(tenant, cutoffMs, batchSize);
    const perTenant = new Map<string, number>();
    for (const t of tenants) perTenant.set(t, (perTenant.get(t) ?? 0) + 1);
    for (const [t, count] of perTenant) this.tables.addToCounter(t, Counter.cleanupCount, count);
    return tenants.length;
  }

  /** Stores a planned new session once max_sessions allows it; returns it FULL. */
  private insert(tenant: string, plan: CreatePlan, now: Date): Session {
    // An expired session is replaced: its old children must not show through.
    if (plan.replaces) this.tables.remove(tenant, plan.record.session.conversationId);
    checkCapacity(this.tables.countLive(expiryCutoffMs(now, this.rules)), this.rules);
    this.tables.insert(tenant, plan);
    return withChildren(plan.record.session, plan.children);
  }
}
