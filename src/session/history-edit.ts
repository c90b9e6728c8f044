import { clone } from "@bufbuild/protobuf";
import { type ConversationItem, ConversationItemSchema, type HistoryEdit } from "../gen/sessionstore/v1/session_store_pb.js";
import type { FieldViolation } from "./errors.js";

/**
 * Edits of stored history items by item_id (SessionUpdate.edit_history): a
 * late input transcript, an assistant item truncated at a barge-in.
 *
 * An edit names its item by item_id; when several items share one (item ids
 * are the bridge's, and nothing makes them unique), it is the newest. Each
 * backend finds that item through an index of its own and hands it to the
 * planner as a StoredItem; the planner merges the edit and gives the whole
 * item back with the same handle to be written in place. So an edit costs
 * the same whatever the length of the history, as an append does.
 */

/** The fields an edit may replace, and the item property behind each. */
const editablePaths = { text: "text", data: "data" } as const satisfies Record<string, keyof ConversationItem>;

/** A stored item as a backend found it: `ref` is the backend's own handle on it (a row id, a list index). */
export interface StoredItem {
  ref: number;
  item: ConversationItem;
}

/** The newest stored item of each item_id an update group edits; an id without one is absent. */
export type StoredItems = ReadonlyMap<string, StoredItem>;

/** Every item_id a group of updates edits, once each: what a backend looks up before planning. */
export function editedItemIds(updates: readonly { editHistory: readonly HistoryEdit[] }[]): string[] {
  const ids = new Set<string>();
  for (const update of updates) for (const edit of update.editHistory) ids.add(edit.itemId);
  return [...ids];
}

/** The item after the edit: the masked fields replaced, everything else (item_id, role, type, created_at) kept. */
export function editItem(item: ConversationItem, edit: HistoryEdit): ConversationItem {
  const paths = edit.updateMask?.paths ?? [];
  const next = clone(ConversationItemSchema, item);
  if (paths.includes(editablePaths.text)) next.text = edit.text;
  // The edit's Struct is taken as it is: nothing changes a message in place once it is decided on (see record.ts).
  if (paths.includes(editablePaths.data)) next.data = edit.data;
  return next;
}

/** Request checks of edit_history: an item_id to find, and a mask naming what to replace. */
export function editViolations(edits: readonly HistoryEdit[], field: string, maxNameLength: number): FieldViolation[] {
  return edits.flatMap((edit, i): FieldViolation[] => {
    const at = `${field}[${i}]`;
    const out: FieldViolation[] = [];
    if (edit.itemId === "") out.push({ field: `${at}.item_id`, description: "is required: an edit names the item it replaces" });
    else if (edit.itemId.length > maxNameLength) out.push({ field: `${at}.item_id`, description: `is ${edit.itemId.length} characters; at most ${maxNameLength} are allowed` });
    const paths = edit.updateMask?.paths ?? [];
    if (paths.length === 0) out.push({ field: `${at}.update_mask`, description: 'is required: name "text", "data" or both' });
    for (const path of paths) {
      if (!Object.hasOwn(editablePaths, path)) out.push({ field: `${at}.update_mask`, description: `"${path}" is not a field an edit may replace; only "text" and "data" are` });
    }
    return out;
  });
}
