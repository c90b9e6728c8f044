import type { ChainableCommander } from "ioredis";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import type { StoredItems } from "../../session/history-edit.js";
import { cutWindow, type HistoryWindow, windowFetchLimit } from "../../session/history-window.js";
import { type StoredHeader, headerFromHash, hashOf, storedItemsOf } from "./codec.js";
import { parseFull, type RedisContext } from "./session-io.js";

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

/** Queues the read of the newest stored item of each item_id; parse the reply with storedItemsOf. */
export function queueReadItems(chain: ChainableCommander, ctx: RedisContext, tenant: string, id: string, itemIds: readonly string[]): void {
  const keys = ctx.layout.session(tenant, id);
  chain.ssReadItemsBuffer(keys.history, keys.historyIds, ...itemIds);
}

export function parseItems(reply: unknown, itemIds: readonly string[], id: string): StoredItems {
  return storedItemsOf(reply as ([Buffer, Buffer] | null)[], itemIds, id);
}
