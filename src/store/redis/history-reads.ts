import type { ChainableCommander } from "ioredis";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { StoredItems } from "../../session/history-edit.js";
import { historyItemNotFound } from "../../session/errors.js";
import { AFTER_ITEM_FIELD, cutWindow, type HistoryWindow, windowFetchLimit } from "../../session/history-window.js";
import { visibleRecord } from "../../session/reads.js";
import type { WindowedRead } from "../store.js";
import { type StoredHeader, headerFromHash, hashOf, storedItemsOf } from "./codec.js";
import { parseFull, readFull, readHead, type RedisContext } from "./session-io.js";

/*
 * The Redis store's reads of part of a history: the items an update group
 * edits, and a window for GetSession / ResumeSession. Both find items through
 * the session's history-ids hash (item_id → index), so neither walks the
 * history list from its start.
 */

/** What readWindow found: the header, and the session with its window, or why there is none. */
export type WindowRead =
  | { kind: "absent" }
  | { kind: "no-item"; header: StoredHeader }
  | { kind: "found"; header: StoredHeader; session: Session; truncated: boolean };

/** The FULL session with only `window` of its history, as one snapshot. */
export async function readWindow(ctx: RedisContext, tenant: string, id: string, window: HistoryWindow): Promise<WindowRead> {
  const keys = ctx.layout.session(tenant, id);
  const reply = await ctx.redis.ssReadWindowBuffer(
    keys.header, keys.history, keys.calls, keys.callOrder, keys.audio, keys.historyIds,
    windowFetchLimit(window) ?? -1, window.afterItemId,
  );
  if (reply[1] === 0) {
    const header = headerFromHash(hashOf(reply[0]), id);
    return header ? { kind: "no-item", header } : { kind: "absent" };
  }
  const full = parseFull(reply, id);
  if (!full) return { kind: "absent" };
  const cut = cutWindow(full.session.conversationHistory, window);
  return { kind: "found", header: full.header, session: { ...full.session, conversationHistory: cut.items }, truncated: cut.truncated };
}

/** Store.getWindow: SESSION_NOT_FOUND as for any read, then HISTORY_ITEM_NOT_FOUND for an unknown after_item_id. */
export async function getWindow(ctx: RedisContext, tenant: string, id: string, window: HistoryWindow): Promise<WindowedRead> {
  const read = await readWindow(ctx, tenant, id, window);
  visibleRecord(id, read.kind === "absent" ? undefined : read.header.record, ctx.clock.now(), ctx.rules);
  if (read.kind !== "found") throw historyItemNotFound(id, window.afterItemId, AFTER_ITEM_FIELD);
  return { session: read.session, historyTruncated: read.truncated };
}

/** What a resume decides on: the header, with the children (or their window) when the view is FULL; undefined when absent. */
export async function readForResume(
  ctx: RedisContext,
  tenant: string,
  id: string,
  full: boolean,
  window: HistoryWindow | undefined,
): Promise<{ header: StoredHeader | undefined; session?: Session; truncated?: boolean; missingItem?: boolean } | undefined> {
  if (full && window) {
    const read = await readWindow(ctx, tenant, id, window);
    if (read.kind === "absent") return undefined;
    if (read.kind === "no-item") return { header: read.header, missingItem: true };
    return { header: read.header, session: read.session, truncated: read.truncated };
  }
  if (full) return readFull(ctx, tenant, id);
  return { header: (await readHead(ctx, tenant, id)).header };
}

/** Queues the read of the newest stored item of each item_id; parse the reply with storedItemsOf. */
export function queueReadItems(chain: ChainableCommander, ctx: RedisContext, tenant: string, id: string, itemIds: readonly string[]): void {
  const keys = ctx.layout.session(tenant, id);
  chain.ssReadItemsBuffer(keys.history, keys.historyIds, ...itemIds);
}

export function parseItems(reply: unknown, itemIds: readonly string[], id: string): StoredItems {
  return storedItemsOf(reply as ([Buffer, Buffer] | null)[], itemIds, id);
}
