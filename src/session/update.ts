import { clone } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type ConversationItem,
  ConversationItemSchema,
  type FunctionCall,
  FunctionCallSchema,
  type Session,
  SessionStatus,
  type SessionUpdate,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { numberAudio } from "./audio-ring.js";
import { Reason, SessionError } from "./errors.js";
import { checkTransition, endedError } from "./lifecycle.js";
import { checkHeaderBytes, checkHistoryBytes, entryBytes } from "./limits.js";
import { type SessionChildren, type SessionRecord, touched } from "./record.js";
import type { SessionRules } from "./rules.js";

/** The field-mask paths an update may write, and the Session property behind each. */
const mutablePaths = {
  session_id: "sessionId",
  bridge_type: "bridgeType",
  bot_name: "botName",
  caller: "caller",
  media_format: "mediaFormat",
  status: "status",
  current_turn: "currentTurn",
  audio_metadata: "audioMetadata",
  metadata: "metadata",
  openai_session_id: "openaiSessionId",
  openai_conversation_id: "openaiConversationId",
  active_response_id: "activeResponseId",
  error_count: "errorCount",
  last_error: "lastError",
} as const satisfies Record<string, keyof Session>;

type MutablePath = keyof typeof mutablePaths;

export function isMutablePath(path: string): path is MutablePath {
  return Object.hasOwn(mutablePaths, path);
}

/** Refuses a write from an owner that a resume has replaced. Epoch 0 is an unfenced admin write. */
export function checkFence(session: Session, ownerEpoch: bigint): void {
  if (ownerEpoch === 0n || ownerEpoch === session.ownerEpoch) return;
  throw new SessionError(
    Reason.SessionFenced,
    `session "${session.conversationId}" is owned by epoch ${session.ownerEpoch} (owner "${session.ownerId}"); a write with epoch ${ownerEpoch} is refused — the call has moved, stop writing for it`,
    { metadata: { conversation_id: session.conversationId, owner_epoch: String(session.ownerEpoch), owner_id: session.ownerId } },
  );
}

/** Refuses a write made against a version the client no longer holds. "" means no precondition. */
export function checkEtag(session: Session, etag: string): void {
  if (etag === "" || etag === session.etag) return;
  throw new SessionError(Reason.EtagMismatch, `session "${session.conversationId}" has changed: etag is "${session.etag}", the request expected "${etag}"`, {
    metadata: { conversation_id: session.conversationId, etag: session.etag },
  });
}

export type UpdateOutcome = { applied: false } | { applied: true; record: SessionRecord; children: SessionChildren };

/**
 * One update on top of a record, in this order: fencing, duplicate seq,
 * ended, etag, lifecycle, then the masked fields and the appends. Returns the
 * new record and the children to store, or throws the SessionError that
 * refuses it; the record given is never changed, so a refusal leaves nothing
 * behind. A duplicate (seq at or below last_seq) reports applied false, so a
 * bridge can replay what it has not seen acknowledged. Only the header is
 * involved, so the cost is that of the update alone; the audio ring is
 * trimmed by the caller (trimRing), once per group.
 */
export function applyUpdate(record: SessionRecord, update: SessionUpdate, now: Date, rules: SessionRules): UpdateOutcome {
  const s = record.session;
  checkFence(s, update.ownerEpoch);
  if (update.seq > 0n && update.seq <= s.lastSeq) return { applied: false };
  if (s.status === SessionStatus.ENDED) throw endedError(s.conversationId);
  checkEtag(s, update.etag);

  const paths = update.updateMask?.paths ?? [];
  if (paths.includes("status") && update.session) checkTransition(s.conversationId, s.status, update.session.status);
  const audio = numberAudio(update.appendAudio, record.audioLastSeq, record.audioBytes, now, rules);
  const history = stampHistory(update.appendHistory, now);
  const functionCalls = stampFunctionCalls(update.upsertFunctionCalls, now);
  const added = entryBytes(history, functionCalls, UPDATE_ENTRIES, rules);
  checkHistoryBytes(s, added, rules);

  const next: Session = { ...s };
  if (update.session) {
    const target = next as unknown as Record<string, unknown>;
    const source = update.session as unknown as Record<string, unknown>;
    for (const path of paths) {
      if (!isMutablePath(path)) continue; // validation has already refused these
      const key = mutablePaths[path];
      target[key] = source[key];
    }
  }
  if (update.seq > 0n) next.lastSeq = update.seq;
  if (added > 0) next.historyBytes = s.historyBytes + BigInt(added);
  const after = touched({ ...record, audioLastSeq: audio.lastSeq, audioBytes: audio.bytes }, next, now);
  // Only a masked write changes what the header holds; appends move its counters by a few bytes at most.
  if (paths.length > 0) checkHeaderBytes(after.session, rules);
  return { applied: true, record: after, children: { history, functionCalls, audio: audio.chunks } };
}

const UPDATE_ENTRIES = { history: "append_history", calls: "upsert_function_calls" };

/** Appended history items as stored: copies stamped with the time they were stored. */
export function stampHistory(items: readonly ConversationItem[], now: Date): ConversationItem[] {
  const createdAt = timestampFromDate(now);
  return items.map((item) => ({ ...clone(ConversationItemSchema, item), createdAt }));
}

/** Upserted function calls as stored; a store keeps the first created_at when a call is replaced. */
export function stampFunctionCalls(calls: readonly FunctionCall[], now: Date): FunctionCall[] {
  const createdAt = timestampFromDate(now);
  return calls.map((call) => ({ ...clone(FunctionCallSchema, call), createdAt }));
}
