import { randomBytes } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { clone } from "@bufbuild/protobuf";
import type { Clock } from "../../runtime/clock.js";
import type { Session, SessionUpdate } from "../../gen/sessionstore/v1/session_store_pb.js";
import { SessionSchema, SessionStatus, SessionUpdateSchema, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../../session/errors.js";
import { checkCapacity, type NewSession, planCreate } from "../../session/create-plan.js";
import { planDelete } from "../../session/delete-plan.js";
import { planEnd } from "../../session/end-plan.js";
import { checkImportCapacity, planImport } from "../../session/import-plan.js";
import { isFullView, isListed, visibleRecord } from "../../session/reads.js";
import { expiryCutoffMs, lastActivityMs, randomInitialVersion } from "../../session/record.js";
import { checkResume, type ResumeVerdict } from "../../session/resume.js";
import { planResume } from "../../session/resume-plan.js";
import { planAbandon } from "../../session/abandon-plan.js";
import type { SessionRules } from "../../session/rules.js";
import { countSessions, emptyStats } from "../../session/stats.js";
import { planUpdates } from "../../session/update-plan.js";
import { editedItemIds } from "../../session/history-edit.js";
import { type HistoryWindow, windowOfArray } from "../../session/history-window.js";
import type { AbandonRequest, CleanupRequest, EndRequest, ListQuery, ResumeRequest, ResumeResult, Store, StoreStats, TenantUpdate, UpdateResult, WindowedRead } from "../store.js";
import { decideGroups, internalFailure, updateAlone } from "../update-group.js";
import { audioSizes, type Entry, MemoryTables, present, presentWindow, storedItems, type TenantState, write } from "./memory-tables.js";

export interface MemoryStoreOptions {
  rules: SessionRules;
  clock: Clock;
}

/**
 * A Store that keeps everything in this process: for tests, development and
 * bridges that accept losing sessions when the sidecar restarts.
 *
 * Methods never await in the middle of a change (cleanup only between
 * batches), so each call is atomic with respect to the others; the planners
 * of src/session decide before anything is changed, so a refused call leaves
 * nothing behind. Requests are copied on the way in and results on the way
 * out, so no caller shares an object (or an audio buffer) with the store.
 */
export class MemoryStore implements Store {
  private readonly rules: SessionRules;
  private readonly clock: Clock;
  private readonly tables = new MemoryTables();
  /** Sessions live only as long as the process, and so do the tokens that page through them. */
  readonly pageTokenKey: Uint8Array = randomBytes(32);
  private closed = false;

  constructor({ rules, clock }: MemoryStoreOptions) {
    this.rules = rules;
    this.clock = clock;
  }

  async create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    const sessions = this.open(tenant).sessions;
    const now = this.clock.now();
    const plan = planCreate(sessions.get(input.conversationId)?.record, clone(SessionSchema, input), {
      ownerId, status: SessionStatus.INITIATED, now, rules: this.rules, initialVersion: randomInitialVersion(),
    });
    return present(this.insert(tenant, plan, now), true);
  }

  async get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    const entry = this.open(tenant).sessions.get(conversationId);
    visibleRecord(conversationId, entry?.record, this.clock.now(), this.rules);
    return present(entry!, isFullView(view, SessionView.FULL));
  }

  async getWindow(tenant: string, conversationId: string, window: HistoryWindow): Promise<WindowedRead> {
    const entry = this.open(tenant).sessions.get(conversationId);
    visibleRecord(conversationId, entry?.record, this.clock.now(), this.rules);
    return presentWindow(entry!, window);
  }

  async resume(tenant: string, request: ResumeRequest): Promise<ResumeResult> {
    const state = this.open(tenant);
    const now = this.clock.now();
    const entry = state.sessions.get(request.conversationId);
    const initial = request.initial && clone(SessionSchema, request.initial);
    const plan = planResume(entry?.record, { ...request, initial }, { now, rules: this.rules, initialVersion: randomInitialVersion() });
    const full = isFullView(request.view, SessionView.FULL);
    const { window } = request;
    switch (plan.kind) {
      case "create": {
        // Checked before the insert, so an unknown after_item_id creates nothing.
        if (window) windowOfArray(request.conversationId, plan.create.children.history, window);
        const inserted = this.insert(tenant, plan.create, now);
        if (window) return { ...presentWindow(inserted, window), created: true };
        return { session: present(inserted, full), created: true, historyTruncated: false };
      }
      case "refuse":
        state.failedResumes += 1;
        throw plan.error;
      case "resume":
        // Read once before the takeover too, so an unknown after_item_id changes nothing.
        if (window) presentWindow(entry!, window);
        entry!.record = plan.record;
        this.tables.track(tenant, entry!);
        if (window) return { ...presentWindow(entry!, window), created: false };
        return { session: present(entry!, full), created: false, historyTruncated: false };
    }
  }

  async validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    return checkResume(this.open(tenant).sessions.get(conversationId)?.record.session, this.clock.now(), this.rules);
  }

  update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    return updateAlone(this, tenant, update);
  }

  async updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    this.checkOpen();
    const now = this.clock.now();
    const copies = items.map(({ tenant, update }) => ({ tenant, update: clone(SessionUpdateSchema, update) }));
    const results = decideGroups(copies, (group) => {
      const entry = this.open(group.tenant).sessions.get(group.conversationId);
      try {
        const items = storedItems(entry, editedItemIds(group.updates));
        const plan = planUpdates(group.conversationId, entry?.record, group.updates, audioSizes(entry), now, this.rules, items);
        if (plan.write) {
          write(entry!, plan.write);
          this.tables.track(group.tenant, entry!);
        }
        return plan;
      } catch (err) {
        // Sessions before this one are already changed and cannot be taken
        // back, so rejecting the group would break its all-or-nothing
        // promise; a bug fails this session's updates alone instead.
        return internalFailure(group, err);
      }
    });
    return results.map((r) => (r instanceof SessionError ? r : { session: clone(SessionSchema, r.session), applied: r.applied }));
  }

  async end(tenant: string, request: EndRequest): Promise<Session> {
    const entry = this.open(tenant).sessions.get(request.conversationId);
    const plan = planEnd(entry?.record, request, this.clock.now(), this.rules);
    this.tables.end(tenant, entry!, plan.record);
    return present(entry!, false);
  }

  async delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    const sessions = this.open(tenant).sessions;
    planDelete(sessions.get(conversationId)?.record, conversationId, etag, this.clock.now(), this.rules);
    this.tables.remove(tenant, conversationId);
  }

  async list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    const sessions = this.open(tenant).sessions;
    const now = this.clock.now();
    const ids: string[] = [];
    for (const [id, entry] of sessions) {
      if (id > query.after && isListed(entry.record.session, query, now, this.rules)) ids.push(id);
    }
    // Code-unit order equals the byte order of SQLite's BINARY collation for the ASCII ids the API allows.
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const full = isFullView(query.view, SessionView.BASIC);
    const page = ids.slice(0, query.pageSize).map((id) => present(sessions.get(id)!, full));
    return { sessions: page, more: ids.length > page.length };
  }

  async cleanup(request: CleanupRequest): Promise<number> {
    this.checkOpen();
    const cutoffMs = request.cutoff.getTime();
    const stale = (entry: Entry) => lastActivityMs(entry.record.session) < cutoffMs;
    const tenants = request.tenant === undefined ? this.tables.tenantNames() : [request.tenant];
    const batchSize = Math.max(1, request.batchSize);
    let count = 0;
    for (const tenant of tenants) {
      const state = this.open(tenant);
      const candidates = [...state.sessions].filter(([, entry]) => stale(entry)).map(([id]) => id);
      if (request.dryRun) {
        count += candidates.length;
        continue;
      }
      for (let i = 0; i < candidates.length; i += batchSize) {
        if (i > 0) await yieldToEventLoop();
        this.checkOpen();
        const deleted: string[] = [];
        for (const id of candidates.slice(i, i + batchSize)) {
          // Re-checked because a write between batches may have made the session fresh again.
          const entry = state.sessions.get(id);
          if (!entry || !stale(entry)) continue;
          this.tables.remove(tenant, id);
          state.cleanupCount += 1;
          deleted.push(id);
        }
        count += deleted.length;
        if (deleted.length > 0) request.onDeleted?.(tenant, deleted);
      }
    }
    return count;
  }

  async endAbandoned(request: AbandonRequest): Promise<number> {
    this.checkOpen();
    const now = this.clock.now();
    let count = 0;
    for (const tenant of this.tables.tenantNames()) {
      const state = this.open(tenant);
      const ended: Session[] = [];
      // A copy: ending a session takes it out of the set being walked.
      for (const id of [...state.paused]) {
        const entry = state.sessions.get(id)!;
        const record = planAbandon(entry.record, now, this.rules);
        if (!record) continue;
        this.tables.end(tenant, entry, record);
        ended.push(present(entry, false));
      }
      count += ended.length;
      if (ended.length > 0) request.onEnded?.(tenant, ended);
    }
    return count;
  }

  async importSession(tenant: string, session: Session, replace: boolean): Promise<{ replaced: boolean }> {
    const stored = this.open(tenant).sessions.get(session.conversationId)?.record;
    const now = this.clock.now();
    const plan = planImport(stored, clone(SessionSchema, session), { replace, now, rules: this.rules });
    checkImportCapacity(plan, stored, this.tables.liveCounts(tenant, now, this.rules), now, this.rules);
    this.tables.insert(tenant, plan);
    return { replaced: plan.replaces };
  }

  async tenants(): Promise<string[]> {
    this.checkOpen();
    return this.tables.tenantNames().filter((tenant) => this.tables.tenant(tenant).sessions.size > 0);
  }

  async stats(tenant: string): Promise<StoreStats> {
    const state = this.open(tenant);
    const cutoffMs = expiryCutoffMs(this.clock.now(), this.rules);
    const stats = { ...emptyStats(), failedResumes: state.failedResumes, cleanupCount: state.cleanupCount };
    for (const { record } of state.sessions.values()) {
      const s = record.session;
      if (lastActivityMs(s) >= cutoffMs) countSessions(stats, s.status, 1, s.resumedCount > 0 ? 1 : 0);
    }
    return stats;
  }

  async ping(): Promise<void> {
    this.checkOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tables.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store has been closed");
  }

  /** A tenant's state, once the store is known to be open. */
  private open(tenant: string): TenantState {
    this.checkOpen();
    return this.tables.tenant(tenant);
  }

  /** Stores a planned new session once max_sessions allows it. */
  private insert(tenant: string, plan: NewSession, now: Date): Entry {
    checkCapacity(this.tables.liveCounts(tenant, now, this.rules), this.rules);
    return this.tables.insert(tenant, plan);
  }
}
