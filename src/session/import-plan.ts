import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Session } from "../gen/sessionstore/v1/session_store_pb.js";
import { checkCapacity, type CreatePlan, type LiveCounts } from "./create-plan.js";
import { sessionExists } from "./errors.js";
import { isKnownStatus, statusName } from "./lifecycle.js";
import { etagOf, headerOf, isExpired, isLive, type SessionRecord } from "./record.js";
import type { SessionRules } from "./rules.js";
import { type FieldViolation, throwIfInvalid } from "./errors.js";
import { conversationIdViolations } from "./validate.js";

export interface ImportOptions {
  /** Replace a stored session of the same id (it is wiped, children and all) instead of refusing with SESSION_EXISTS. */
  replace: boolean;
  now: Date;
  rules: SessionRules;
}

/**
 * `sessionstore import`: a session exported from a store (this one or another
 * backend) written back as it was — every field as given, the etag, the
 * owner's epoch, the counters and the timestamps included, its children in
 * their order — so that a bridge resuming it after a move finds exactly what
 * it left, and a fenced writer stays fenced.
 *
 * Refused: an id held by a session that has not expired, unless `replace`
 * (SESSION_EXISTS); a session that no store could have written (INVALID_ARGUMENT
 * naming the field). A session already past max_session_age is refused too:
 * stored, it would be invisible to every read and swept at once.
 *
 * The limits (max_history_bytes, the audio ring, header bytes) are not applied
 * again: the session was within the exporting sidecar's, and cutting it here
 * would lose what the export promised to carry. The next write applies them.
 */
export function planImport(stored: SessionRecord | undefined, input: Session, options: ImportOptions): CreatePlan {
  throwIfInvalid(importViolations(input));
  if (isExpired(input, options.now, options.rules)) {
    throwIfInvalid([{ field: "session.last_activity", description: `is ${timestampDate(input.lastActivity!).toISOString()}, longer ago than max_session_age: the session has expired` }]);
  }
  if (stored && !options.replace && !isExpired(stored.session, options.now, options.rules)) {
    throw sessionExists(input.conversationId, statusName(stored.session.status));
  }
  const audio = input.audioBuffer;
  const record: SessionRecord = {
    session: headerOf(input),
    // The etag is the version in base 36 (record.ts), checked above to read back the same.
    version: parseInt(input.etag, 36),
    // The ring numbers the next chunk after the newest it holds; chunks
    // trimmed before the export are gone, and their numbers with them.
    audioLastSeq: audio.reduce((max, chunk) => (chunk.seq > max ? chunk.seq : max), 0n),
    audioBytes: audio.reduce((sum, chunk) => sum + chunk.data.length, 0),
  };
  return {
    record,
    children: { history: input.conversationHistory, functionCalls: input.functionCalls, audio },
    replaces: stored !== undefined,
  };
}

/**
 * MAX_SESSIONS unless the imported session fits under the caps: an ended
 * (or expired) one takes no place, and a live one it replaces gives its
 * place up. `live` counts what is stored, the replaced session included.
 */
export function checkImportCapacity(plan: CreatePlan, stored: SessionRecord | undefined, live: LiveCounts, now: Date, rules: SessionRules): void {
  if (!isLive(plan.record.session, now, rules)) return;
  const freed = plan.replaces && stored !== undefined && isLive(stored.session, now, rules) ? 1 : 0;
  checkCapacity({ total: live.total - freed, tenant: live.tenant - freed }, rules);
}

function importViolations(s: Session): FieldViolation[] {
  const out = conversationIdViolations(s.conversationId, "session.conversation_id");
  if (!isKnownStatus(s.status)) out.push({ field: "session.status", description: `is ${s.status}; a stored session is INITIATED, ACTIVE, PAUSED, ENDED or ERROR` });
  if (s.createdAt === undefined) out.push({ field: "session.created_at", description: "is required: every stored session has one" });
  if (s.lastActivity === undefined) out.push({ field: "session.last_activity", description: "is required: every stored session has one" });
  const version = parseInt(s.etag, 36);
  if (!Number.isSafeInteger(version) || version < 1 || etagOf(version) !== s.etag) {
    out.push({ field: "session.etag", description: `is ${JSON.stringify(s.etag)}; a store's etags are base-36 version numbers` });
  }
  if (s.ownerEpoch < 1n) out.push({ field: "session.owner_epoch", description: `is ${s.ownerEpoch}; a stored session's epoch is at least 1` });
  const seqs = s.audioBuffer.map((chunk) => chunk.seq);
  if (seqs.some((seq, i) => seq < 1n || (i > 0 && seq <= (seqs[i - 1] as bigint)))) {
    out.push({ field: "session.audio_buffer", description: "chunk seq numbers must start at 1 or above and increase" });
  }
  const callIds = new Set<string>();
  for (const [i, call] of s.functionCalls.entries()) {
    if (call.callId === "" || callIds.has(call.callId)) out.push({ field: `session.function_calls[${i}].call_id`, description: "must be set and unique within the session" });
    callIds.add(call.callId);
  }
  return out;
}
