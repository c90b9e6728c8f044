import type { Session, SessionUpdate } from "../gen/sessionstore/v1/session_store_pb.js";
import { SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "./errors.js";
import { checkTransition, endedError } from "./lifecycle.js";
import { appendAudio, dedupeByCallId, type SessionChildren, type SessionRecord, stampFunctionCalls, stampHistory, touch } from "./record.js";
import type { SessionRules } from "./rules.js";

/** The field-mask paths an update may write, and the Session property behind each. */
export const mutablePaths = {
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

export type MutablePath = keyof typeof mutablePaths;

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

export type UpdateOutcome = { applied: false } | { applied: true; children: SessionChildren };

/**
 * Applies one update to a record in place, in this order: fencing, duplicate
 * seq, ended, etag, lifecycle, then the masked fields and the appends. A
 * duplicate (seq at or below last_seq) changes nothing and reports applied
 * false, so a bridge can replay what it has not seen acknowledged. The record
 * carries only the header, so the cost is that of the update alone.
 *
 * The caller still drops the oldest audio chunks with trimAudio and stores the
 * returned children.
 */
export function applyUpdate(record: SessionRecord, update: SessionUpdate, now: Date, rules: SessionRules): UpdateOutcome {
  const s = record.session;
  checkFence(s, update.ownerEpoch);
  if (update.seq > 0n && update.seq <= s.lastSeq) return { applied: false };
  if (s.status === SessionStatus.ENDED) throw endedError(s.conversationId);
  checkEtag(s, update.etag);

  const paths = update.updateMask?.paths ?? [];
  if (paths.includes("status") && update.session) checkTransition(s.conversationId, s.status, update.session.status);
  const audio = appendAudio(record, update.appendAudio, now, rules);

  if (update.session) {
    const target = s as unknown as Record<string, unknown>;
    const source = update.session as unknown as Record<string, unknown>;
    for (const path of paths) {
      if (!isMutablePath(path)) continue; // validation has already refused these
      const key = mutablePaths[path];
      target[key] = source[key];
    }
  }
  if (update.seq > 0n) s.lastSeq = update.seq;
  touch(record, now);
  return {
    applied: true,
    children: {
      history: stampHistory(update.appendHistory, now),
      functionCalls: dedupeByCallId(stampFunctionCalls(update.upsertFunctionCalls, now)),
      audio,
    },
  };
}

/**
 * Ends a session in place. Ending an ended session is a no-op that returns
 * false, so retrying EndSession is safe.
 */
export function applyEnd(record: SessionRecord, reason: string, ownerEpoch: bigint, etag: string, now: Date): boolean {
  const s = record.session;
  if (s.status === SessionStatus.ENDED) return false;
  checkFence(s, ownerEpoch);
  checkEtag(s, etag);
  s.status = SessionStatus.ENDED;
  s.endReason = reason === "" ? "normal" : reason;
  touch(record, now);
  return true;
}
