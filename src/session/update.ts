import { clone } from "@bufbuild/protobuf";
import {
  type ConversationItem,
  ConversationItemSchema,
  type FunctionCall,
  FunctionCallSchema,
  type HistoryEdit,
  type Session,
  SessionStatus,
  type SessionUpdate,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { numberAudio } from "./audio-ring.js";
import { movedOnly } from "./encoded-header.js";
import { historyItemNotFound, Reason, SessionError } from "./errors.js";
import { editItem } from "./history-edit.js";
import { checkTransition, endedError } from "./lifecycle.js";
import { checkHeaderBytes, checkHistoryBytes, entryBytes } from "./limits.js";
import { type SessionChildren, type SessionRecord, touched } from "./record.js";
import type { SessionRules } from "./rules.js";
import { timestampAt } from "./timestamp-at.js";

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

/** A history item as an update's edits left it, under the item_id the edits named. */
export interface EditedItem {
  itemId: string;
  item: ConversationItem;
}

/**
 * The current content of the newest item with an item_id, as the updates
 * before this one left it (stored, appended earlier in the group, or
 * edited); undefined when the session has none.
 */
export type ItemLookup = (itemId: string) => ConversationItem | undefined;

export type UpdateOutcome =
  | { applied: false }
  | {
      applied: true;
      record: SessionRecord;
      children: SessionChildren;
      /** Items appended before this update, as its edits leave them, in edit order (an item edited twice appears twice). */
      edited: EditedItem[];
    };

/**
 * One update on top of a record, in this order: fencing, duplicate seq,
 * ended, etag, lifecycle, then the masked fields, the appends and the
 * history edits (see applyEdits). Returns the
 * new record and the children to store, or throws the SessionError that
 * refuses it; the record given is never changed, so a refusal leaves nothing
 * behind. A duplicate (seq at or below last_seq) reports applied false, so a
 * bridge can replay what it has not seen acknowledged. Only the header is
 * involved, so the cost is that of the update alone; the audio ring is
 * trimmed by the caller (trimRing), once per group.
 */
export function applyUpdate(record: SessionRecord, update: SessionUpdate, now: Date, rules: SessionRules, lookup: ItemLookup = () => undefined): UpdateOutcome {
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
  const edited = applyEdits(s.conversationId, history, update.editHistory, lookup);
  const added = entryBytes(history, functionCalls, UPDATE_ENTRIES, rules, edited.measured);
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
  else movedOnly(after.session, s);
  return { applied: true, record: after, children: { history, functionCalls, audio: audio.chunks }, edited: edited.earlier };
}

const UPDATE_ENTRIES = { history: "append_history", calls: "upsert_function_calls", edits: "edit_history" };

/**
 * The update's edits, in order, after its appends: an edit of an item the
 * update itself appends changes `history` in place (it is stored once, as
 * edited); any other is of an item from before the update, found through
 * `lookup`. HISTORY_ITEM_NOT_FOUND when an item_id has no item. `measured`
 * is every edit's result, for the limits.
 */
function applyEdits(conversationId: string, history: ConversationItem[], edits: readonly HistoryEdit[], lookup: ItemLookup): { earlier: EditedItem[]; measured: ConversationItem[] } {
  const earlier: EditedItem[] = [];
  const measured: ConversationItem[] = [];
  if (edits.length === 0) return { earlier, measured };
  const appended = new Map<string, number>();
  history.forEach((item, i) => appended.set(item.itemId, i));
  const editedEarlier = new Map<string, ConversationItem>();
  edits.forEach((edit, i) => {
    const own = appended.get(edit.itemId);
    if (own !== undefined) {
      history[own] = editItem(history[own]!, edit);
      measured.push(history[own]!);
      return;
    }
    const current = editedEarlier.get(edit.itemId) ?? lookup(edit.itemId);
    if (current === undefined) throw historyItemNotFound(conversationId, edit.itemId, `edit_history[${i}].item_id`);
    const item = editItem(current, edit);
    editedEarlier.set(edit.itemId, item);
    earlier.push({ itemId: edit.itemId, item });
    measured.push(item);
  });
  return { earlier, measured };
}

/** Appended history items as stored: copies stamped with the time they were stored. */
export function stampHistory(items: readonly ConversationItem[], now: Date): ConversationItem[] {
  const createdAt = timestampAt(now);
  return items.map((item) => ({ ...clone(ConversationItemSchema, item), createdAt }));
}

/** Upserted function calls as stored; a store keeps the first created_at when a call is replaced. */
export function stampFunctionCalls(calls: readonly FunctionCall[], now: Date): FunctionCall[] {
  const createdAt = timestampAt(now);
  return calls.map((call) => ({ ...clone(FunctionCallSchema, call), createdAt }));
}
