import type { Duration } from "@bufbuild/protobuf/wkt";
import type {
  ConversationItem,
  FunctionCall,
  Session,
  SessionUpdate,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { SessionView } from "../gen/sessionstore/v1/session_store_pb.js";
import type { FieldViolation } from "./errors.js";
import { isKnownStatus } from "./lifecycle.js";
import { editViolations } from "./history-edit.js";
import { isMutablePath } from "./update.js";

/**
 * Request checks that need no stored state. Each returns every violation it
 * finds, with the field path as the client wrote it, so one error names all
 * that is wrong.
 */

const CONVERSATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Identifiers and names: ids, roles, types, formats. */
const MAX_NAME_LENGTH = 256;
/** Free text that is not conversation content: last_error, end_reason. */
export const MAX_NOTE_LENGTH = 4096;

/*
 * Numbers: every integer a request carries is checked against the range the
 * sidecar can store and compute with exactly. int32 and int64 fields cannot
 * exceed their type on the wire, so only their lower bound is a check here,
 * but each violation names the whole range. A Duration is held to the range
 * its own spec allows (±10,000 years), within which it converts to a safe
 * JavaScript number of milliseconds, a cutoff that Date, a Redis score (a
 * double) and an SQLite integer all hold exactly; nothing is clamped.
 */
export const INT32_MAX = 2_147_483_647;
export const INT64_MAX = 2n ** 63n - 1n;
/** The largest google.protobuf.Duration: 10,000 years of seconds. */
export const MAX_DURATION_SECONDS = 315_576_000_000n;
const MAX_NANOS = 999_999_999;

/** A count or id that must lie in 0..max (int32 or int64). */
export function rangeViolations(value: number | bigint, field: string, max: number | bigint): FieldViolation[] {
  return value < 0 || value > max ? [{ field, description: `is ${value}; must be 0 to ${max}` }] : [];
}

/** A Duration that must not be negative nor beyond what google.protobuf.Duration allows. */
export function durationViolations(d: Duration, field: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (d.seconds < 0n || d.seconds > MAX_DURATION_SECONDS) {
    out.push({ field: `${field}.seconds`, description: `is ${d.seconds}; must be 0 to ${MAX_DURATION_SECONDS} (10,000 years)` });
  }
  if (d.nanos < 0 || d.nanos > MAX_NANOS) out.push({ field: `${field}.nanos`, description: `is ${d.nanos}; must be 0 to ${MAX_NANOS}` });
  return out;
}

/** A Duration that durationViolations accepted, in milliseconds (exact to the millisecond, never above 2^53). */
export function durationMs(d: Duration): number {
  return Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6);
}

export function conversationIdViolations(id: string, field: string): FieldViolation[] {
  if (id === "") return [{ field, description: "is required" }];
  if (id.length > 128) return [{ field, description: `is ${id.length} characters; at most 128 are allowed` }];
  if (!CONVERSATION_ID.test(id)) return [{ field, description: "may contain only letters, digits and . _ : -" }];
  return [];
}

function lengthViolations(values: Record<string, string>, max: number, prefix: string): FieldViolation[] {
  return Object.entries(values)
    .filter(([, value]) => value.length > max)
    .map(([name, value]) => ({ field: `${prefix}${name}`, description: `is ${value.length} characters; at most ${max} are allowed` }));
}

export function ownerIdViolations(ownerId: string, field: string): FieldViolation[] {
  return lengthViolations({ [field]: ownerId }, MAX_NAME_LENGTH, "");
}

export function viewViolations(view: number, field: string): FieldViolation[] {
  return view === SessionView.UNSPECIFIED || view === SessionView.BASIC || view === SessionView.FULL
    ? []
    : [{ field, description: `unknown view ${view}` }];
}

function headerViolations(s: Session, prefix: string): FieldViolation[] {
  return [
    ...lengthViolations(
      {
        session_id: s.sessionId,
        bridge_type: s.bridgeType,
        bot_name: s.botName,
        caller: s.caller,
        media_format: s.mediaFormat,
        openai_session_id: s.openaiSessionId,
        openai_conversation_id: s.openaiConversationId,
        active_response_id: s.activeResponseId,
      },
      MAX_NAME_LENGTH,
      prefix,
    ),
    ...lengthViolations({ last_error: s.lastError }, MAX_NOTE_LENGTH, prefix),
    ...rangeViolations(s.currentTurn, `${prefix}current_turn`, INT32_MAX),
    ...rangeViolations(s.errorCount, `${prefix}error_count`, INT32_MAX),
  ];
}

function historyViolations(items: readonly ConversationItem[], field: string): FieldViolation[] {
  return items.flatMap((item, i) =>
    lengthViolations({ item_id: item.itemId, role: item.role, type: item.type }, MAX_NAME_LENGTH, `${field}[${i}].`),
  );
}

function functionCallViolations(calls: readonly FunctionCall[], field: string): FieldViolation[] {
  return calls.flatMap((call, i) => [
    ...(call.callId === "" ? [{ field: `${field}[${i}].call_id`, description: "is required: function calls are upserted by call_id" }] : []),
    ...lengthViolations({ call_id: call.callId, function_name: call.functionName, status: call.status }, MAX_NAME_LENGTH, `${field}[${i}].`),
  ]);
}

/** The initial values of CreateSession / ResumeSession(create_if_missing). */
export function sessionInputViolations(s: Session | undefined, field: string, requireId: boolean): FieldViolation[] {
  if (!s) return requireId ? [{ field, description: "is required" }] : [];
  return [
    ...(requireId || s.conversationId !== "" ? conversationIdViolations(s.conversationId, `${field}.conversation_id`) : []),
    ...headerViolations(s, `${field}.`),
    ...historyViolations(s.conversationHistory, `${field}.conversation_history`),
    ...functionCallViolations(s.functionCalls, `${field}.function_calls`),
  ];
}

export function updateViolations(u: SessionUpdate, prefix: string): FieldViolation[] {
  const out: FieldViolation[] = [...conversationIdViolations(u.conversationId, `${prefix}conversation_id`)];
  out.push(...rangeViolations(u.ownerEpoch, `${prefix}owner_epoch`, INT64_MAX));
  out.push(...rangeViolations(u.seq, `${prefix}seq`, INT64_MAX));
  const paths = u.updateMask?.paths ?? [];
  for (const path of paths) {
    if (!isMutablePath(path)) {
      out.push({ field: `${prefix}update_mask`, description: `"${path}" is not a field an update may write` });
    }
  }
  if (paths.length > 0 && !u.session) out.push({ field: `${prefix}session`, description: "is required when update_mask names fields" });
  if (u.session) {
    if (u.session.conversationId !== "" && u.session.conversationId !== u.conversationId) {
      out.push({ field: `${prefix}session.conversation_id`, description: "differs from the update's conversation_id" });
    }
    if (paths.includes("status") && !isKnownStatus(u.session.status)) {
      out.push({ field: `${prefix}session.status`, description: `unknown status ${u.session.status}` });
    }
    out.push(...headerViolations(u.session, `${prefix}session.`));
  }
  out.push(...historyViolations(u.appendHistory, `${prefix}append_history`));
  out.push(...functionCallViolations(u.upsertFunctionCalls, `${prefix}upsert_function_calls`));
  out.push(...editViolations(u.editHistory, `${prefix}edit_history`, MAX_NAME_LENGTH));
  u.appendAudio.forEach((chunk, i) => {
    if (chunk.data.length === 0) out.push({ field: `${prefix}append_audio[${i}].data`, description: "is empty" });
  });
  return out;
}
