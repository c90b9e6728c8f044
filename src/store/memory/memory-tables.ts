import { clone } from "@bufbuild/protobuf";
import type { AudioChunk, ConversationItem, FunctionCall, Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import { SessionSchema } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { NewSession } from "../../session/create-plan.js";
import { isLive, type SessionRecord, withChildren } from "../../session/record.js";
import type { SessionRules } from "../../session/rules.js";
import type { SessionWrite } from "../../session/update-plan.js";

/** One stored session: its header and bookkeeping, and its children in their stored order. */
export interface Entry {
  record: SessionRecord;
  history: ConversationItem[];
  /** Keyed by call_id; a Map keeps first-insertion order when a key is set again. */
  calls: Map<string, FunctionCall>;
  audio: AudioChunk[];
}

/** A tenant's sessions and its counters, which live as long as the store. */
export interface TenantState {
  sessions: Map<string, Entry>;
  failedResumes: number;
  cleanupCount: number;
}

/**
 * The memory store's data: tenants, their sessions and counters, and the
 * few operations on them that the store's methods share. It decides nothing;
 * the planners of src/session do.
 */
export class MemoryTables {
  private readonly tenants = new Map<string, TenantState>();

  tenant(tenant: string): TenantState {
    let state = this.tenants.get(tenant);
    if (!state) {
      state = { sessions: new Map(), failedResumes: 0, cleanupCount: 0 };
      this.tenants.set(tenant, state);
    }
    return state;
  }

  tenantNames(): string[] {
    return [...this.tenants.keys()];
  }

  /** Stores a planned new session, over an expired one of the same id, which it replaces. */
  insert(tenant: string, plan: NewSession): Entry {
    const entry: Entry = { record: plan.record, history: [], calls: new Map(), audio: [] };
    write(entry, { ...plan.children, record: plan.record, dropStoredAudio: 0 });
    this.tenant(tenant).sessions.set(plan.record.session.conversationId, entry);
    return entry;
  }

  /** Live sessions of every tenant: max_sessions bounds this process's memory, which all tenants share. */
  liveCount(now: Date, rules: SessionRules): number {
    let live = 0;
    for (const state of this.tenants.values()) for (const { record } of state.sessions.values()) live += isLive(record.session, now, rules) ? 1 : 0;
    return live;
  }

  clear(): void {
    this.tenants.clear();
  }
}

/** Applies a planned write: new header, children appended, calls upserted keeping the first created_at, the oldest audio dropped. */
export function write(entry: Entry, plan: SessionWrite): void {
  entry.record = plan.record;
  for (const item of plan.history) entry.history.push(item);
  for (const call of plan.functionCalls) {
    const first = entry.calls.get(call.callId);
    entry.calls.set(call.callId, first ? { ...call, createdAt: first.createdAt } : call);
  }
  if (plan.dropStoredAudio > 0) entry.audio.splice(0, plan.dropStoredAudio);
  for (const chunk of plan.audio) entry.audio.push(chunk);
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
