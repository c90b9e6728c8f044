import { toBinary } from "@bufbuild/protobuf";
import {
  type ConversationItem,
  ConversationItemSchema,
  type FunctionCall,
  FunctionCallSchema,
  type Session,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { encodedHeader } from "./encoded-header.js";
import { type FieldViolation, Reason, SessionError } from "./errors.js";
import type { SessionRules } from "./rules.js";

/**
 * The size limits of a session, checked by the planners so that every
 * backend refuses the same writes before anything is stored. Sizes are of
 * the protobuf encoding as stored (server-set created_at included), the
 * form every backend keeps, so a limit means the same bytes everywhere.
 *
 * One write too large in itself (too many entries, one entry too big) is
 * INVALID_ARGUMENT: sending it again can never succeed. A write that is fine
 * alone but would take the session past a limit is RESOURCE_EXHAUSTED
 * (LIMIT_EXCEEDED). Either way ErrorInfo.metadata names the limit by its
 * setting and gives its value.
 */

/** Each limit under the name of its setting, as ErrorInfo.metadata["limit"] carries it. */
export const LimitName = {
  historyBytes: "max_history_bytes",
  itemsPerUpdate: "max_items_per_update",
  itemBytes: "max_item_bytes",
  headerBytes: "max_header_bytes",
} as const;

/** Where a write's entries sit in its request: append_history / upsert_function_calls (/ edit_history), or a create's own fields. */
export interface EntryFields {
  history: string;
  calls: string;
  edits?: string;
}

/**
 * The encoded bytes that a write's history items and function calls (already
 * stamped) add to the session, with the items as its edits leave them, each
 * counted in full as an upserted call is. Refuses more entries than
 * max_items_per_update and any entry over max_item_bytes, naming each.
 */
export function entryBytes(
  history: readonly ConversationItem[],
  calls: readonly FunctionCall[],
  fields: EntryFields,
  rules: SessionRules,
  edited: readonly ConversationItem[] = [],
): number {
  const count = history.length + calls.length + edited.length;
  if (count > rules.maxItemsPerUpdate) {
    throw tooLarge(
      `one write may carry at most ${rules.maxItemsPerUpdate} history items and function calls together; this one has ${count}`,
      [{ field: history.length > 0 ? fields.history : fields.calls, description: `${fields.history} and ${fields.calls} hold ${count} entries together; at most ${rules.maxItemsPerUpdate} are allowed` }],
      LimitName.itemsPerUpdate,
      rules.maxItemsPerUpdate,
    );
  }
  const violations: FieldViolation[] = [];
  let total = 0;
  const measure = (bytes: number, field: string) => {
    if (bytes > rules.maxItemBytes) violations.push({ field, description: `is ${bytes} bytes encoded; at most ${rules.maxItemBytes} are allowed` });
    total += bytes;
  };
  history.forEach((item, i) => measure(toBinary(ConversationItemSchema, item).length, `${fields.history}[${i}]`));
  calls.forEach((call, i) => measure(toBinary(FunctionCallSchema, call).length, `${fields.calls}[${i}]`));
  edited.forEach((item, i) => measure(toBinary(ConversationItemSchema, item).length, `${fields.edits}[${i}]`));
  if (violations.length > 0) {
    throw tooLarge(`${violations.length} entries exceed ${rules.maxItemBytes} bytes each`, violations, LimitName.itemBytes, rules.maxItemBytes);
  }
  return total;
}

/** LIMIT_EXCEEDED unless `added` more bytes of history fit beside what the session holds (Session.history_bytes). */
export function checkHistoryBytes(session: Session, added: number, rules: SessionRules): void {
  const held = Number(session.historyBytes);
  if (held + added <= rules.maxHistoryBytes) return;
  throw new SessionError(
    Reason.LimitExceeded,
    `session "${session.conversationId}" has ${held} bytes of history and function calls; this write adds ${added}, more than the ${rules.maxHistoryBytes} a session may hold (${LimitName.historyBytes}); nothing was stored`,
    { metadata: { conversation_id: session.conversationId, limit: LimitName.historyBytes, value: String(rules.maxHistoryBytes), history_bytes: String(held) } },
  );
}

/** LIMIT_EXCEEDED when the header as it would be stored is larger than max_header_bytes. */
export function checkHeaderBytes(header: Session, rules: SessionRules): void {
  const bytes = encodedHeader(header).length;
  if (bytes <= rules.maxHeaderBytes) return;
  throw new SessionError(
    Reason.LimitExceeded,
    `session "${header.conversationId}" would have a header of ${bytes} bytes (metadata, audio_metadata and the other fields, encoded), more than the ${rules.maxHeaderBytes} allowed (${LimitName.headerBytes}); nothing was stored`,
    { metadata: { conversation_id: header.conversationId, limit: LimitName.headerBytes, value: String(rules.maxHeaderBytes), header_bytes: String(bytes) } },
  );
}

function tooLarge(message: string, violations: FieldViolation[], limit: string, value: number): SessionError {
  return new SessionError(Reason.InvalidArgument, `invalid request: ${message} (${limit}); nothing was stored`, {
    violations,
    metadata: { limit, value: String(value) },
  });
}
