import type { AudioChunk, ConversationItem, FunctionCall, Session, SessionUpdate } from "../gen/sessionstore/v1/session_store_pb.js";
import { trimRing } from "./audio-ring.js";
import { SessionError } from "./errors.js";
import type { StoredItem, StoredItems } from "./history-edit.js";
import { visibleRecord } from "./reads.js";
import type { SessionRecord } from "./record.js";
import type { SessionRules } from "./rules.js";
import { applyUpdate } from "./update.js";

/** What one update answers: the BASIC session as it left it, and whether it was applied (false: a duplicate seq). */
export interface UpdateResult {
  session: Session;
  applied: boolean;
}

/** Everything a store writes for one session after a group of its updates. */
export interface SessionWrite {
  /** The header after the last applied update. */
  record: SessionRecord;
  history: ConversationItem[];
  /** Upserts by call_id, in order. */
  functionCalls: FunctionCall[];
  /** Chunks to append, oldest first: those the ring would drop again at once are left out. */
  audio: AudioChunk[];
  /** Oldest stored chunks to delete. */
  dropStoredAudio: number;
  /** Stored history items to overwrite in place, each once, as the group's edits left it (see history-edit.ts). */
  historyEdits: StoredItem[];
}

export interface UpdatesPlan {
  /** One per update, in input order: its result, or the SessionError that refused it. */
  results: (UpdateResult | SessionError)[];
  /** undefined when no update was applied: nothing to write. */
  write: SessionWrite | undefined;
}

/**
 * A group of updates of one session, decided on the header as read: each
 * update is judged as if applied alone, in input order, seeing the ones
 * before it; a refused one takes its error into its slot and changes nothing
 * for the ones after it. The result is one write for the whole group — the
 * header once, the children in order, the ring trimmed once — which is what
 * makes a group cheaper than its updates one by one.
 *
 * `stored` is the header as read (undefined: no such session, and every
 * update is SESSION_NOT_FOUND); `storedAudioSizes` the sizes of the stored
 * ring, oldest first, read only as far as trimming needs (see trimRing).
 * `storedItems` holds the newest stored item of each item_id the updates
 * edit (editedItemIds), as the backend found it; an edit of an item appended
 * earlier in the group changes that append instead, so the backend only ever
 * overwrites items it already holds.
 * Errors other than refusals (a bug, or the store's sizes iterator giving up)
 * propagate and nothing is decided.
 */
export function planUpdates(
  conversationId: string,
  stored: SessionRecord | undefined,
  updates: readonly SessionUpdate[],
  storedAudioSizes: Iterable<number>,
  now: Date,
  rules: SessionRules,
  storedItems: StoredItems = new Map(),
): UpdatesPlan {
  let record: SessionRecord;
  try {
    record = visibleRecord(conversationId, stored, now, rules);
  } catch (err) {
    if (!(err instanceof SessionError)) throw err;
    return { results: updates.map(() => err), write: undefined };
  }
  const history: ConversationItem[] = [];
  const functionCalls: FunctionCall[] = [];
  const audio: AudioChunk[] = [];
  // The newest item of each item_id appended by the group (its index in `history`), and stored items edited by it.
  const appended = new Map<string, number>();
  const edits = new Map<string, StoredItem>();
  const lookup = (itemId: string) => {
    const own = appended.get(itemId);
    if (own !== undefined) return history[own];
    return (edits.get(itemId) ?? storedItems.get(itemId))?.item;
  };
  let applied = false;
  const results = updates.map((update): UpdateResult | SessionError => {
    let outcome: ReturnType<typeof applyUpdate>;
    try {
      outcome = applyUpdate(record, update, now, rules, lookup);
    } catch (err) {
      if (err instanceof SessionError) return err;
      throw err;
    }
    if (!outcome.applied) return { session: record.session, applied: false };
    record = outcome.record;
    // Loops rather than push(...items): spreading a large batch would overflow the argument stack.
    for (const item of outcome.children.history) {
      if (item.itemId !== "") appended.set(item.itemId, history.length);
      history.push(item);
    }
    for (const { itemId, item } of outcome.edited) {
      const own = appended.get(itemId);
      if (own !== undefined) history[own] = item;
      else edits.set(itemId, { ref: storedItems.get(itemId)!.ref, item });
    }
    for (const call of outcome.children.functionCalls) functionCalls.push(call);
    for (const chunk of outcome.children.audio) audio.push(chunk);
    applied = true;
    return { session: record.session, applied: true };
  });
  if (!applied) return { results, write: undefined };
  const trim = trimRing(record.audioBytes, storedAudioSizes, audio.map((c) => c.data.length), rules);
  return {
    results,
    write: {
      record: { ...record, audioBytes: trim.bytes },
      history,
      functionCalls,
      audio: audio.slice(trim.dropAdded),
      dropStoredAudio: trim.dropStored,
      historyEdits: [...edits.values()],
    },
  };
}
