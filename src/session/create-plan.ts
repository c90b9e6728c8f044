import type { Session, SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import { numberAudio, trimRing } from "./audio-ring.js";
import { maxSessionsReached, sessionExists, tenantMaxSessionsReached } from "./errors.js";
import { statusName } from "./lifecycle.js";
import { checkHeaderBytes, checkHistoryBytes, entryBytes } from "./limits.js";
import { headerOf, isExpired, type SessionChildren, type SessionRecord, touched } from "./record.js";
import type { SessionRules } from "./rules.js";
import { stampFunctionCalls, stampHistory } from "./update.js";
import { timestampAt } from "./timestamp-at.js";

/** A new session as a store writes it: its header and its first children. */
export interface NewSession {
  record: SessionRecord;
  children: SessionChildren;
}

export interface CreatePlan extends NewSession {
  /** An expired session of the same id is stored: wipe it, children and all, before writing. */
  replaces: boolean;
}

export interface NewSessionOptions {
  ownerId: string;
  status: SessionStatus;
  now: Date;
  rules: SessionRules;
  /** The first version; random so that a deleted and re-created session never repeats an etag. */
  initialVersion: number;
}

/**
 * CreateSession (and a resume that creates): SESSION_EXISTS when the id is
 * taken by a session that has not expired (ended ones included); an expired
 * one is replaced. max_sessions is checked after this, by checkCapacity,
 * with the live count the store keeps in its own way.
 */
export function planCreate(stored: SessionRecord | undefined, input: Session, options: NewSessionOptions): CreatePlan {
  if (stored && !isExpired(stored.session, options.now, options.rules)) {
    throw sessionExists(input.conversationId, statusName(stored.session.status));
  }
  return { ...newSession(input, options), replaces: stored !== undefined };
}

/** Live sessions a store holds, as it counts them for checkCapacity: in every tenant, and in the one creating. */
export interface LiveCounts {
  total: number;
  tenant: number;
}

/**
 * MAX_SESSIONS unless one more live session fits beside those stored: under
 * the tenant's cap (max_sessions_per_tenant, when set), so that one tenant
 * cannot take every place, and under the store's (max_sessions). The
 * tenant's cap is checked first, so a tenant at its own cap hears about its
 * own sessions; the store-wide refusal tells nothing of other tenants.
 */
export function checkCapacity(live: LiveCounts, rules: SessionRules): void {
  if (rules.maxSessionsPerTenant > 0 && live.tenant >= rules.maxSessionsPerTenant) throw tenantMaxSessionsReached(live.tenant, rules.maxSessionsPerTenant);
  if (live.total >= rules.maxSessions) throw maxSessionsReached(rules.maxSessions);
}

/**
 * A new session from a client's initial values: client-settable fields are
 * copied, server-set ones are set here, and the initial children are stamped
 * and numbered like appended ones, the audio trimmed to the ring.
 */
export function newSession(input: Session, options: NewSessionOptions): NewSession {
  const { now, rules } = options;
  const history = stampHistory(input.conversationHistory, now);
  const functionCalls = stampFunctionCalls(input.functionCalls, now);
  const historyBytes = entryBytes(history, functionCalls, CREATE_ENTRIES, rules);
  const session: Session = {
    ...headerOf(input),
    status: options.status,
    createdAt: timestampAt(now),
    resumedCount: 0,
    endReason: "",
    ownerId: options.ownerId,
    ownerEpoch: 1n,
    lastSeq: 0n,
    historyBytes: BigInt(historyBytes),
  };
  checkHistoryBytes({ ...session, historyBytes: 0n }, historyBytes, rules);
  const audio = numberAudio(input.audioBuffer, 0n, 0, now, rules);
  const trim = trimRing(audio.bytes, [], audio.chunks.map((c) => c.data.length), rules);
  const base: SessionRecord = { session, version: options.initialVersion - 1, audioLastSeq: audio.lastSeq, audioBytes: trim.bytes };
  const record = touched(base, session, now);
  checkHeaderBytes(record.session, rules);
  return { record, children: { history, functionCalls, audio: audio.chunks.slice(trim.dropAdded) } };
}

const CREATE_ENTRIES = { history: "conversation_history", calls: "function_calls" };
