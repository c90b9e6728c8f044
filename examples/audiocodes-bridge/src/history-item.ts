import { randomUUID } from "node:crypto";
import type { UpdateParts } from "sessionstore-client";

/** A history item the bridge itself writes (a digit, an event, the DTMF bot's reply), with an id of its own. */
export type HistoryItem = NonNullable<UpdateParts["appendHistory"]>[number] & { itemId: string };

/**
 * Items of the platform's side of the call get a random id; the model's items keep the model's own
 * ids (see ModelCall), so later edits by id and a restore find them.
 */
export function historyItem(role: string, type: string, text: string, data: Record<string, string | number | boolean | null>): HistoryItem {
  return { itemId: randomUUID(), role, type, text, data };
}
