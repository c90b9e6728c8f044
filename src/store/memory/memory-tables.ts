import { clone } from "@bufbuild/protobuf";
import type { AudioChunk, ConversationItem, FunctionCall, Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import { SessionSchema, SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { LiveCounts, NewSession } from "../../session/create-plan.js";
import type { StoredItem, StoredItems } from "../../session/history-edit.js";
import { type HistoryWindow, windowOfArray } from "../../session/history-window.js";
import { isLive, type SessionRecord, withChildren } from "../../session/record.js";
import type { SessionRules } from "../../session/rules.js";
import type { SessionWrite } from "../../session/update-plan.js";

/** One stored session: its header and bookkeeping, and its children in their stored order. */
export interface Entry {
  record: SessionRecord;
  history: ConversationItem[];
  /** item_id → index in history of the newest item with that id: how edits and windows find an item without a scan. */
  itemIndex: Map<string, number>;
  /** Keyed by call_id; a Map keeps first-insertion order when a key is set again. */
  calls: Map<string, FunctionCall>;
  audio: AudioChunk[];
}

/** A tenant's sessions and its counters, which live as long as the store. */
export interface TenantState {
  sessions: Map<string, Entry>;
  /** Sessions not ended, expired ones not yet swept included: the max_sessions_per_tenant count, before correcting near the cap. */
  notEnded: number;
  failedResumes: number;
  cleanupCount: number;
  /** Ids of the sessions whose status is PAUSED: where endAbandoned looks, rather than at every session. */
  paused: Set<string>;
}

/**
 * The memory store's data: tenants, their sessions and counters, and the
 * few operations on them that the store's methods share. It decides nothing;
 * the planners of src/session do.
 */
export class MemoryTables {
  private readonly tenants = new Map<string, TenantState>();
  /** Sessions not ended in every tenant, as TenantState.notEnded. */
  private notEnded = 0;

  tenant(tenant: string): TenantState {
    let state = this.tenants.get(tenant);
    if (!state) {
      state = { sessions: new Map(), notEnded: 0, failedResumes: 0, cleanupCount: 0, paused: new Set() };
      this.tenants.set(tenant, state);
    }
    return state;
  }

  tenantNames(): string[] {
    return [...this.tenants.keys()];
  }

  /** Stores a planned new session, over an expired one of the same id, which it replaces. */
  insert(tenant: string, plan: NewSession): Entry {
    const entry: Entry = { record: plan.record, history: [], itemIndex: new Map(), calls: new Map(), audio: [] };
    write(entry, { ...plan.children, record: plan.record, dropStoredAudio: 0, historyEdits: [] });
    const id = plan.record.session.conversationId;
    this.remove(tenant, id);
    this.tenant(tenant).sessions.set(id, entry);
    this.countNotEnded(tenant, 1);
    return entry;
  }

  /** Drops a session, if stored. */
  remove(tenant: string, conversationId: string): void {
    const state = this.tenant(tenant);
    const entry = state.sessions.get(conversationId);
    if (!entry) return;
    state.sessions.delete(conversationId);
    state.paused.delete(conversationId);
    if (entry.record.session.status !== SessionStatus.ENDED) this.countNotEnded(tenant, -1);
  }

  /** Keeps the tenant's paused set in step with a session's record, after every change of it. */
  track(tenant: string, entry: Entry): void {
    const { paused } = this.tenant(tenant);
    const id = entry.record.session.conversationId;
    if (entry.record.session.status === SessionStatus.PAUSED) paused.add(id);
    else paused.delete(id);
  }

  /** Gives a stored session the record EndSession planned. */
  end(tenant: string, entry: Entry, record: SessionRecord): void {
    if (entry.record.session.status !== SessionStatus.ENDED && record.session.status === SessionStatus.ENDED) this.countNotEnded(tenant, -1);
    entry.record = record;
    this.track(tenant, entry);
  }

  /**
   * Live sessions of every tenant (max_sessions bounds this process's memory,
   * which all tenants share) and of one: the sessions not ended, which is
   * exact unless some have expired unswept; only near a cap are they counted
   * out one by one.
   */
  liveCounts(tenant: string, now: Date, rules: SessionRules): LiveCounts {
    const own = this.tenant(tenant);
    const live = (states: Iterable<TenantState>) => {
      let count = 0;
      for (const state of states) for (const { record } of state.sessions.values()) count += isLive(record.session, now, rules) ? 1 : 0;
      return count;
    };
    const perTenant = rules.maxSessionsPerTenant;
    return {
      total: this.notEnded < rules.maxSessions ? this.notEnded : live(this.tenants.values()),
      tenant: perTenant === 0 || own.notEnded < perTenant ? own.notEnded : live([own]),
    };
  }

  private countNotEnded(tenant: string, delta: number): void {
    this.tenant(tenant).notEnded += delta;
    this.notEnded += delta;
  }

  clear(): void {
    this.tenants.clear();
    this.notEnded = 0;
  }
}

/** Applies a planned write: new header, children appended, items edited in place, calls upserted keeping the first created_at, the oldest audio dropped. */
export function write(entry: Entry, plan: SessionWrite): void {
  entry.record = plan.record;
  for (const { ref, item } of plan.historyEdits) entry.history[ref] = item;
  for (const item of plan.history) {
    if (item.itemId !== "") entry.itemIndex.set(item.itemId, entry.history.length);
    entry.history.push(item);
  }
  for (const call of plan.functionCalls) {
    const first = entry.calls.get(call.callId);
    entry.calls.set(call.callId, first ? { ...call, createdAt: first.createdAt } : call);
  }
  if (plan.dropStoredAudio > 0) entry.audio.splice(0, plan.dropStoredAudio);
  for (const chunk of plan.audio) entry.audio.push(chunk);
}

/** A copy of the entry's FULL session with only a window of its history; HISTORY_ITEM_NOT_FOUND for an unknown after_item_id. */
export function presentWindow(entry: Entry, window: HistoryWindow): { session: Session; historyTruncated: boolean } {
  const id = entry.record.session.conversationId;
  const cut = windowOfArray(id, entry.history, window, (itemId) => entry.itemIndex.get(itemId));
  const header = { ...entry.record.session };
  const session = clone(SessionSchema, withChildren(header, { history: cut.items, functionCalls: [...entry.calls.values()], audio: entry.audio }));
  return { session, historyTruncated: cut.truncated };
}

/** The newest stored item of each of these item_ids, as planUpdates takes them. */
export function storedItems(entry: Entry | undefined, itemIds: readonly string[]): StoredItems {
  const found = new Map<string, StoredItem>();
  if (!entry) return found;
  for (const id of itemIds) {
    const ref = entry.itemIndex.get(id);
    if (ref !== undefined) found.set(id, { ref, item: entry.history[ref]! });
  }
  return found;
}

/** Sizes of the stored ring, oldest first, produced only as trimming asks. */
export function* audioSizes(entry: Entry | undefined): Generator<number> {
  for (const chunk of entry?.audio ?? []) yield chunk.data.length;
}

/** A copy of the entry's session, with its children when `full`: no caller shares an object with the store. */
export function present(entry: Entry, full: boolean): Session {
  const header = { ...entry.record.session };
  return clone(SessionSchema, full ? withChildren(header, { history: entry.history, functionCalls: [...entry.calls.values()], audio: entry.audio }) : header);
}
