import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { clone, create } from "@bufbuild/protobuf";
import type { Clock } from "../../clock.js";
import type { AudioChunk, ConversationItem, FunctionCall, Session, SessionUpdate } from "../../gen/sessionstore/v1/session_store_pb.js";
import { AudioChunkSchema, ConversationItemSchema, FunctionCallSchema, SessionSchema, SessionStatus, SessionUpdateSchema, SessionView } from "../../gen/sessionstore/v1/session_store_pb.js";
import { maxSessionsReached, notFound, Reason, SessionError, sessionExists } from "../../session/errors.js";
import { statusName } from "../../session/lifecycle.js";
import type { SessionChildren, SessionRecord } from "../../session/record.js";
import { headerOf, isExpired, isLive, lastActivityMs, newRecord, randomInitialVersion, trimAudio, withView } from "../../session/record.js";
import { applyResume, checkResume, type ResumeVerdict, resumeRefused } from "../../session/resume.js";
import type { SessionRules } from "../../session/rules.js";
import { applyEnd, applyUpdate, checkEtag } from "../../session/update.js";
import type { CleanupRequest, EndRequest, ListQuery, ResumeRequest, Store, StoreStats, TenantUpdate, UpdateResult } from "../store.js";

export interface MemoryStoreOptions {
  rules: SessionRules;
  clock: Clock;
}

/** One stored session: its header and bookkeeping, and its children in their stored order. */
interface Entry {
  record: SessionRecord;
  history: ConversationItem[];
  /** Keyed by call_id; a Map keeps first-insertion order when a key is set again. */
  calls: Map<string, FunctionCall>;
  audio: AudioChunk[];
}

/** A tenant's sessions and its counters, which live as long as the store. */
interface TenantState {
  sessions: Map<string, Entry>;
  failedResumes: number;
  cleanupCount: number;
}

/**
 * A Store that keeps everything in this process: for tests, development and
 * bridges that accept losing sessions when the sidecar restarts.
 *
 * Methods never await in the middle of a change (cleanup only between
 * batches), so each call is atomic with respect to the others. Changes are
 * made on a copy of the record and committed once every check has passed, so a
 * failed call leaves nothing behind. Inputs are cloned on the way in and
 * results on the way out, so no caller shares an object with the store.
 *
 * max_sessions counts live sessions across all tenants, because the cap is
 * there to bound this process's memory, which all tenants share.
 */
export class MemoryStore implements Store {
  private readonly rules: SessionRules;
  private readonly clock: Clock;
  private readonly tenants = new Map<string, TenantState>();
  private closed = false;

  constructor({ rules, clock }: MemoryStoreOptions) {
    this.rules = rules;
    this.clock = clock;
  }

  async create(tenant: string, input: Session, ownerId: string): Promise<Session> {
    this.checkOpen();
    const now = this.clock.now();
    const sessions = this.tenant(tenant).sessions;
    const existing = sessions.get(input.conversationId);
    if (existing && !isExpired(existing.record.session, now, this.rules)) {
      throw sessionExists(input.conversationId, statusName(existing.record.session.status));
    }
    const entry = this.newEntry(clone(SessionSchema, input), ownerId, SessionStatus.INITIATED, now);
    sessions.set(input.conversationId, entry);
    return this.present(entry, SessionView.FULL, SessionView.FULL);
  }

  async get(tenant: string, conversationId: string, view: SessionView): Promise<Session> {
    this.checkOpen();
    return this.present(this.visible(tenant, conversationId, this.clock.now()), view, SessionView.FULL);
  }

  async resume(tenant: string, request: ResumeRequest): Promise<{ session: Session; created: boolean }> {
    this.checkOpen();
    const now = this.clock.now();
    const state = this.tenant(tenant);
    const entry = state.sessions.get(request.conversationId);
    if (request.createIfMissing && (!entry || isExpired(entry.record.session, now, this.rules))) {
      const input = request.initial ? clone(SessionSchema, request.initial) : create(SessionSchema);
      input.conversationId = request.conversationId;
      const created = this.newEntry(input, request.ownerId, SessionStatus.ACTIVE, now);
      state.sessions.set(request.conversationId, created);
      return { session: this.present(created, request.view, SessionView.FULL), created: true };
    }
    const verdict = checkResume(entry?.record.session, now, this.rules);
    if (!entry || !verdict.valid) {
      state.failedResumes += 1;
      throw resumeRefused(verdict, request.conversationId, entry?.record.session, this.rules);
    }
    const record = copyRecord(entry.record);
    applyResume(record, request.ownerId, now);
    entry.record = record;
    return { session: this.present(entry, request.view, SessionView.FULL), created: false };
  }

  async validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict> {
    this.checkOpen();
    return checkResume(this.tenants.get(tenant)?.sessions.get(conversationId)?.record.session, this.clock.now(), this.rules);
  }

  async update(tenant: string, update: SessionUpdate): Promise<UpdateResult> {
    this.checkOpen();
    return this.updateEntry(tenant, update);
  }

  async updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]> {
    this.checkOpen();
    return items.map(({ tenant, update }) => {
      try {
        return this.updateEntry(tenant, update);
      } catch (err) {
        if (err instanceof SessionError) return err;
        // Updates before this one are already in place and cannot be taken
        // back, so rejecting the group would break its all-or-nothing
        // promise; a bug in one update fails that update alone instead.
        return new SessionError(Reason.Internal, "internal error in the sidecar; its log has the details", { cause: err });
      }
    });
  }

  async end(tenant: string, request: EndRequest): Promise<Session> {
    this.checkOpen();
    const now = this.clock.now();
    const entry = this.visible(tenant, request.conversationId, now);
    const record = copyRecord(entry.record);
    if (applyEnd(record, request.reason, request.ownerEpoch, request.etag, now)) entry.record = record;
    return headerOf(entry.record.session);
  }

  async delete(tenant: string, conversationId: string, etag: string): Promise<void> {
    this.checkOpen();
    const entry = this.visible(tenant, conversationId, this.clock.now());
    checkEtag(entry.record.session, etag);
    this.tenant(tenant).sessions.delete(conversationId);
  }

  async list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }> {
    this.checkOpen();
    const now = this.clock.now();
    const wanted = (status: SessionStatus) => (query.statuses.length === 0 ? status !== SessionStatus.ENDED : query.statuses.includes(status));
    const ids: string[] = [];
    for (const [id, entry] of this.tenant(tenant).sessions) {
      const s = entry.record.session;
      if (id <= query.after || isExpired(s, now, this.rules) || !wanted(s.status)) continue;
      if (query.bridgeType !== "" && s.bridgeType !== query.bridgeType) continue;
      ids.push(id);
    }
    // Code-unit order equals the byte order of SQLite's BINARY collation for the ASCII ids the API allows.
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const page = ids.slice(0, query.pageSize).map((id) => this.present(this.tenant(tenant).sessions.get(id)!, query.view, SessionView.BASIC));
    return { sessions: page, more: ids.length > page.length };
  }

  async cleanup(request: CleanupRequest): Promise<number> {
    this.checkOpen();
    const cutoffMs = request.cutoff.getTime();
    const stale = (entry: Entry) => lastActivityMs(entry.record.session) < cutoffMs;
    const tenants = request.tenant === undefined ? [...this.tenants.keys()] : [request.tenant];
    const batchSize = Math.max(1, request.batchSize);
    let count = 0;
    for (const tenant of tenants) {
      const state = this.tenant(tenant);
      const candidates = [...state.sessions].filter(([, entry]) => stale(entry)).map(([id]) => id);
      if (request.dryRun) {
        count += candidates.length;
        continue;
      }
      for (let i = 0; i < candidates.length; i += batchSize) {
        if (i > 0) await yieldToEventLoop();
        this.checkOpen();
        for (const id of candidates.slice(i, i + batchSize)) {
          // Re-checked because a write between batches may have made the session fresh again.
          const entry = state.sessions.get(id);
          if (!entry || !stale(entry)) continue;
          state.sessions.delete(id);
          state.cleanupCount += 1;
          count += 1;
        }
      }
    }
    return count;
  }

  async stats(tenant: string): Promise<StoreStats> {
    this.checkOpen();
    const now = this.clock.now();
    const state = this.tenant(tenant);
    const { failedResumes, cleanupCount } = state;
    const stats: StoreStats = { activeSessions: 0, totalSessions: 0, resumedSessions: 0, failedResumes, cleanupCount, byStatus: new Map() };
    for (const { record } of state.sessions.values()) {
      const s = record.session;
      if (isExpired(s, now, this.rules)) continue;
      stats.totalSessions += 1;
      if (s.status !== SessionStatus.ENDED) stats.activeSessions += 1;
      if (s.resumedCount > 0) stats.resumedSessions += 1;
      stats.byStatus.set(s.status, (stats.byStatus.get(s.status) ?? 0) + 1);
    }
    return stats;
  }

  async ping(): Promise<void> {
    this.checkOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tenants.clear();
  }

  /** One update, committed only once every check has passed (see the class comment). */
  private updateEntry(tenant: string, update: SessionUpdate): UpdateResult {
    const now = this.clock.now();
    const entry = this.visible(tenant, update.conversationId, now);
    const record = copyRecord(entry.record);
    const outcome = applyUpdate(record, clone(SessionUpdateSchema, update), now, this.rules);
    if (outcome.applied) {
      const dropped = trimAudio(record, audioSizes(entry.audio, outcome.children.audio), this.rules);
      entry.record = record;
      addChildren(entry, outcome.children, dropped);
    }
    return { session: headerOf(entry.record.session), applied: outcome.applied };
  }

  private checkOpen(): void {
    if (this.closed) throw new SessionError(Reason.StorageUnavailable, "the session store has been closed");
  }

  private tenant(tenant: string): TenantState {
    let state = this.tenants.get(tenant);
    if (!state) {
      state = { sessions: new Map(), failedResumes: 0, cleanupCount: 0 };
      this.tenants.set(tenant, state);
    }
    return state;
  }

  /** The entry a read may see: SESSION_NOT_FOUND when absent or expired. */
  private visible(tenant: string, conversationId: string, now: Date): Entry {
    const entry = this.tenants.get(tenant)?.sessions.get(conversationId);
    if (!entry || isExpired(entry.record.session, now, this.rules)) throw notFound(conversationId);
    return entry;
  }

  private newEntry(input: Session, ownerId: string, status: SessionStatus, now: Date): Entry {
    const live = this.liveCount(now);
    if (live >= this.rules.maxSessions) {
      throw maxSessionsReached(live, this.rules.maxSessions);
    }
    const { record, children } = newRecord(input, { ownerId, status, now, rules: this.rules, initialVersion: randomInitialVersion() });
    const entry: Entry = { record, history: [], calls: new Map(), audio: [] };
    addChildren(entry, children, 0);
    return entry;
  }

  private liveCount(now: Date): number {
    let live = 0;
    for (const state of this.tenants.values()) for (const { record } of state.sessions.values()) live += isLive(record.session, now, this.rules) ? 1 : 0;
    return live;
  }

  /** A copy of the entry in `view`, `fallback` standing for UNSPECIFIED. */
  private present(entry: Entry, view: SessionView, fallback: SessionView): Session {
    const header = entry.record.session;
    const shaped = withView(header, view, fallback);
    // withView returns its argument for FULL and a fresh header copy for BASIC; only FULL needs the children.
    if (shaped !== header) return shaped;
    const session = clone(SessionSchema, header);
    session.conversationHistory = entry.history.map((item) => clone(ConversationItemSchema, item));
    session.functionCalls = [...entry.calls.values()].map((call) => clone(FunctionCallSchema, call));
    session.audioBuffer = entry.audio.map((chunk) => clone(AudioChunkSchema, chunk));
    return session;
  }
}

function copyRecord(record: SessionRecord): SessionRecord {
  return { ...record, session: clone(SessionSchema, record.session) };
}

/** Sizes of the stored chunks then the new ones, oldest first, produced only as trimAudio asks. */
function* audioSizes(stored: readonly AudioChunk[], added: readonly AudioChunk[]): Generator<number> {
  for (const chunk of stored) yield chunk.data.length;
  for (const chunk of added) yield chunk.data.length;
}

/** Appends new children, upserts calls keeping the first created_at, and drops the oldest `dropAudio` chunks. */
function addChildren(entry: Entry, children: SessionChildren, dropAudio: number): void {
  // Loops rather than push(...items): spreading a large initial history would overflow the argument stack.
  for (const item of children.history) entry.history.push(item);
  for (const call of children.functionCalls) {
    const first = entry.calls.get(call.callId);
    entry.calls.set(call.callId, first ? { ...call, createdAt: first.createdAt } : call);
  }
  for (const chunk of children.audio) entry.audio.push(chunk);
  if (dropAudio > 0) entry.audio.splice(0, dropAudio);
}
