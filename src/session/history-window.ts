import type { ConversationItem, HistoryWindow as HistoryWindowMessage } from "../gen/sessionstore/v1/session_store_pb.js";
import { SessionView } from "../gen/sessionstore/v1/session_store_pb.js";
import { type FieldViolation, historyItemNotFound } from "./errors.js";
import { isFullView } from "./reads.js";

/**
 * A window of a session's history (GetSession / ResumeSession
 * history_window): the newest items, the items after one the reader has,
 * or the newest of those. Every backend reads it the same way, at a cost
 * that follows the window: it finds the start (the newest item with
 * after_item_id, through the same index edits use), then reads at most
 * windowFetchLimit items from the end backwards, and cutWindow decides
 * what is returned and whether older items were left out.
 */
export interface HistoryWindow {
  /** At most this many of the newest items; 0: no limit. */
  lastItems: number;
  /** Only items after the newest one with this item_id; "": from the first. */
  afterItemId: string;
}

/** The request's window; undefined when it asks for the whole history. */
export function historyWindowOf(message: HistoryWindowMessage | undefined): HistoryWindow | undefined {
  if (!message) return undefined;
  return { lastItems: message.lastItems, afterItemId: message.afterItemId };
}

/** A window needs the FULL view (BASIC has no history to cut) and a count that is not negative. */
export function windowViolations(window: HistoryWindowMessage | undefined, view: SessionView, field: string): FieldViolation[] {
  if (!window) return [];
  const out: FieldViolation[] = [];
  if (!isFullView(view, SessionView.FULL)) out.push({ field, description: "needs the FULL view: a BASIC read has no history" });
  if (window.lastItems < 0) out.push({ field: `${field}.last_items`, description: `is ${window.lastItems}; must be 0 (no limit) or more` });
  return out;
}

/**
 * How many items, counted back from the newest, a backend reads after the
 * window's start: one more than the window holds, which tells whether an
 * older one was left out; undefined means all of them.
 */
export function windowFetchLimit(window: HistoryWindow): number | undefined {
  return window.lastItems > 0 ? window.lastItems + 1 : undefined;
}

/**
 * The window from what a backend read: `items`, oldest first, are the
 * items after the start, or the newest windowFetchLimit of them. Older
 * items were left out when the window started after an item, or when more
 * were read than it holds.
 */
export function cutWindow<T>(items: T[], window: HistoryWindow): { items: T[]; truncated: boolean } {
  if (window.lastItems > 0 && items.length > window.lastItems) return { items: items.slice(items.length - window.lastItems), truncated: true };
  return { items, truncated: window.afterItemId !== "" };
}

/** Where the window's after_item_id is named in a request, as HISTORY_ITEM_NOT_FOUND reports it. */
export const AFTER_ITEM_FIELD = "history_window.after_item_id";

/**
 * The window of a history held as an array (the memory store; a session
 * created with its initial history). `indexOf` finds the newest item with an
 * item_id (the memory store keeps an index; a new session's few items are
 * searched from the end). Slices only what cutWindow needs.
 */
export function windowOfArray(
  conversationId: string,
  history: readonly ConversationItem[],
  window: HistoryWindow,
  indexOf: (itemId: string) => number | undefined = (itemId) => newestIndexOf(history, itemId),
): { items: ConversationItem[]; truncated: boolean } {
  let after = -1;
  if (window.afterItemId !== "") {
    const found = indexOf(window.afterItemId);
    if (found === undefined) throw historyItemNotFound(conversationId, window.afterItemId, AFTER_ITEM_FIELD);
    after = found;
  }
  const limit = windowFetchLimit(window);
  const from = Math.max(after + 1, limit === undefined ? 0 : history.length - limit);
  return cutWindow(history.slice(from), window);
}

function newestIndexOf(history: readonly ConversationItem[], itemId: string): number | undefined {
  for (let i = history.length - 1; i >= 0; i--) if (history[i]!.itemId === itemId) return i;
  return undefined;
}
