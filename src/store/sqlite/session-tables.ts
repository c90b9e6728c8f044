import type Database from "better-sqlite3";
import { toBinary } from "@bufbuild/protobuf";
import { type Session, SessionSchema, SessionStatus } from "../../gen/sessionstore/v1/session_store_pb.js";
import { concatBytes, concatFields } from "../../grpc/length-delimited.js";
import { checkStoredFraming } from "../stored-records.js";
import type { NewSession } from "../../session/create-plan.js";
import { lastActivityMs, type SessionChildren, type SessionRecord } from "../../session/record.js";
import { encodedHeader } from "../../session/encoded-header.js";
import { countSessions, emptyStats } from "../../session/stats.js";
import type { SessionWrite } from "../../session/update-plan.js";
import { historyItemNotFound } from "../../session/errors.js";
import type { StoredItem, StoredItems } from "../../session/history-edit.js";
import { AFTER_ITEM_FIELD, cutWindow, type HistoryWindow, windowFetchLimit } from "../../session/history-window.js";
import type { StoreStats } from "../store.js";
import {
  audioChunkFromRow,
  encodeFunctionCall,
  encodeHistoryItem,
  functionCallFromRow,
  headerParams,
  historyItemFromRow,
  millisOf,
  recordFromRow,
} from "./rows.js";
import { Counter, type DeletedRow, type HeaderRow, type ListParams, prepareStatements, type SessionKeyRow, type Statements } from "./sql.js";

/**
 * The store's tables as records and messages: each method is one or a few
 * prepared statements and the conversion around them. It decides nothing —
 * the rules live in src/session — and runs inside whatever transaction its
 * caller holds.
 */
export class SessionTables {
  private readonly sql: Statements;

  constructor(db: Database.Database) {
    this.sql = prepareStatements(db);
  }

  ping(): void {
    this.sql.ping.get();
  }

  /** A secret made with the file (see migrations.ts); throws when the row is missing. */
  secret(name: string): Uint8Array {
    const value = this.sql.selectSecret.get(name);
    if (value === undefined) throw new Error(`the session database has no secret ${JSON.stringify(name)}; it was damaged or edited by hand`);
    return new Uint8Array(value);
  }

  /** The header of one session, expired or not; undefined when there is no row. */
  read(tenant: string, conversationId: string): SessionRecord | undefined {
    const row = this.sql.getHeader.get(tenant, conversationId);
    return row && recordFromRow(row);
  }

  insert(tenant: string, { record, children }: NewSession): void {
    this.sql.insertHeader.run(headerParams(tenant, record));
    this.addChildren(tenant, record.session.conversationId, children);
  }

  /** Writes the header of an existing session. */
  save(tenant: string, record: SessionRecord): void {
    this.sql.updateHeader.run(headerParams(tenant, record));
  }

  /**
   * A planned write of an existing session whose row holds `stored`: header,
   * children, edited items, and the oldest audio dropped.
   */
  write(tenant: string, stored: SessionRecord, write: SessionWrite): void {
    const id = write.record.session.conversationId;
    if (sameColumnsBesideActivity(stored, write.record)) this.touch(tenant, write.record);
    else this.save(tenant, write.record);
    for (const { ref, item } of write.historyEdits) this.sql.replaceItem.run(encodeHistoryItem(item), ref);
    this.addChildren(tenant, id, { history: write.history, functionCalls: write.functionCalls, audio: write.audio });
    if (write.dropStoredAudio > 0) this.sql.dropOldestAudio.run({ tenant, conversationId: id, count: write.dropStoredAudio });
  }

  /** Writes the header of an existing session whose status, bridge type and resume count are as stored. */
  private touch(tenant: string, record: SessionRecord): void {
    const s = record.session;
    this.sql.touchHeader.run(lastActivityMs(s), record.version, record.audioLastSeq, record.audioBytes, encodedHeader(s), tenant, s.conversationId);
  }

  /** Deletes one session; its children go with it (ON DELETE CASCADE). Returns the status column of the row deleted, if there was one. */
  remove(tenant: string, conversationId: string): number | undefined {
    return this.sql.deleteSession.get(tenant, conversationId);
  }

  /**
   * Sizes of the stored audio chunks, oldest first, read from a cursor as the
   * caller asks for them. The caller must be done with it (leave its loop,
   * which closes the cursor) before the next statement on the connection.
   */
  *audioSizes(tenant: string, conversationId: string): Generator<number> {
    yield* this.sql.audioSizes.iterate(tenant, conversationId);
  }

  /** The newest stored item of each of these item_ids, found through history_by_item; the ref is the row's id. */
  storedItems(tenant: string, conversationId: string, itemIds: readonly string[]): StoredItems {
    const found = new Map<string, StoredItem>();
    for (const itemId of itemIds) {
      const row = this.sql.findItem.get(tenant, conversationId, itemId);
      if (row) found.set(itemId, { ref: row.id, item: historyItemFromRow(row.item, conversationId) });
    }
    return found;
  }

  /**
   * The stored bytes of a window of the history, oldest first, and whether
   * older items were left out: the start item is found by item_id, then at
   * most windowFetchLimit rows are walked back from the newest.
   */
  historyWindow(tenant: string, conversationId: string, window: HistoryWindow): { items: Buffer[]; truncated: boolean } {
    let after = 0;
    if (window.afterItemId !== "") {
      const start = this.sql.findItem.get(tenant, conversationId, window.afterItemId);
      if (!start) throw historyItemNotFound(conversationId, window.afterItemId, AFTER_ITEM_FIELD);
      after = start.id;
    }
    const newestFirst = this.sql.historyWindow.all({ tenant, conversationId, after, limit: windowFetchLimit(window) ?? -1 });
    return cutWindow(newestFirst.reverse(), window);
  }

  /** withChildren with a window of the history only. */
  withWindow(tenant: string, session: Session, window: HistoryWindow): { session: Session; historyTruncated: boolean } {
    const id = session.conversationId;
    const cut = this.historyWindow(tenant, id, window);
    const full = this.withChildren(tenant, { ...session }, false);
    return { session: { ...full, conversationHistory: cut.items.map((item) => historyItemFromRow(item, id)) }, historyTruncated: cut.truncated };
  }

  /** encodedWithChildren with a window of the history only. */
  encodedWithWindow(tenant: string, session: Session, window: HistoryWindow): { session: Uint8Array; historyTruncated: boolean } {
    const cut = this.historyWindow(tenant, session.conversationId, window);
    return { session: this.encodeWith(tenant, session, cut.items), historyTruncated: cut.truncated };
  }

  /** Fills in the session's history, function calls and audio, each in stored order. */
  withChildren(tenant: string, session: Session, history = true): Session {
    const id = session.conversationId;
    const key = [tenant, id] as const;
    return {
      ...session,
      conversationHistory: history ? this.sql.selectHistory.all(...key).map((item) => historyItemFromRow(item, id)) : [],
      functionCalls: this.sql.selectCalls.all(...key).map((row) => functionCallFromRow(row, id)),
      audioBuffer: this.sql.selectAudio.all(...key).map(audioChunkFromRow),
    };
  }

  /**
   * withChildren, encoded: the history items go as they are stored (most of
   * a long call's bytes and all of its item count), after the rest of the
   * session. Fields may come in any order on the wire and a repeated field's
   * elements keep theirs, so a decoder reads the same Session. Each item's
   * framing is checked (checkStoredFraming), so damage that would break the
   * client's decode is DATA_CORRUPTED here, as it is for withChildren.
   */
  encodedWithChildren(tenant: string, session: Session): Uint8Array {
    return this.encodeWith(tenant, session, this.sql.selectHistory.all(tenant, session.conversationId));
  }

  /** The session encoded with its calls and audio, and `items` (stored history bytes) as its history. */
  private encodeWith(tenant: string, session: Session, items: readonly Buffer[]): Uint8Array {
    const id = session.conversationId;
    const key = [tenant, id] as const;
    const rest = toBinary(SessionSchema, {
      ...session,
      functionCalls: this.sql.selectCalls.all(...key).map((row) => functionCallFromRow(row, id)),
      audioBuffer: this.sql.selectAudio.all(...key).map(audioChunkFromRow),
    });
    for (const item of items) checkStoredFraming(item, id, "history");
    const history = concatFields(SessionSchema.field.conversationHistory.number, items);
    return concatBytes(rest, history);
  }

  /** Non-ENDED sessions of every tenant last active at or after cutoffMs. */
  countLive(cutoffMs: number): number {
    return this.sql.countLive.get(cutoffMs) ?? 0;
  }

  /** Non-ENDED sessions of one tenant last active at or after cutoffMs. */
  countLiveOfTenant(tenant: string, cutoffMs: number): number {
    return this.sql.countLiveOfTenant.get(tenant, cutoffMs) ?? 0;
  }

  /** One page of header rows, in id order; each row decoded by the caller, so that a damaged one costs only itself. */
  listPage(params: ListParams): HeaderRow[] {
    return this.sql.listPage.all(params);
  }

  /** A tenant's counts over the sessions last active at or after cutoffMs, and its counters. */
  stats(tenant: string, cutoffMs: number): StoreStats {
    const stats = emptyStats();
    for (const row of this.sql.statsByStatus.all(tenant, cutoffMs)) countSessions(stats, row.status, row.sessions, row.resumed);
    for (const { name, value } of this.sql.selectCounters.all(tenant)) {
      if (name === Counter.failedResumes) stats.failedResumes = value;
      if (name === Counter.cleanupCount) stats.cleanupCount = value;
    }
    return stats;
  }

  addToCounter(tenant: string, name: string, amount: number): void {
    this.sql.addToCounter.run(tenant, name, amount);
  }

  /** Tenants that hold at least one session row. */
  tenants(): string[] {
    return this.sql.tenants.all();
  }

  /** Sessions that have not ended, expired or not, per tenant. */
  countNotEndedByTenant(): { tenant: string; count: number }[] {
    return this.sql.countNotEndedByTenant.all();
  }

  /** Deletes at most `limit` sessions last active before cutoffMs, oldest first; returns each one deleted. */
  deleteInactive(tenant: string | undefined, cutoffMs: number, limit: number): DeletedRow[] {
    return tenant === undefined ? this.sql.deleteInactive.all(cutoffMs, limit) : this.sql.deleteTenantInactive.all(tenant, cutoffMs, limit);
  }

  /** At most `limit` sessions PAUSED with their last activity in [expiryMs, cutoffMs), oldest first. */
  pausedBefore(cutoffMs: number, expiryMs: number, limit: number): SessionKeyRow[] {
    return this.sql.pausedBefore.all({ paused: SessionStatus.PAUSED, cutoffMs, expiryMs, limit });
  }

  countInactive(tenant: string | undefined, cutoffMs: number): number {
    return (tenant === undefined ? this.sql.countInactive.get(cutoffMs) : this.sql.countTenantInactive.get(tenant, cutoffMs)) ?? 0;
  }

  /** Appends history and audio and upserts function calls; costs what is added, whatever is stored. */
  private addChildren(tenant: string, id: string, children: SessionChildren): void {
    for (const item of children.history) this.sql.insertHistory.run(tenant, id, item.itemId, encodeHistoryItem(item));
    for (const call of children.functionCalls) {
      this.sql.upsertCall.run(tenant, id, call.callId, millisOf(call.createdAt), encodeFunctionCall(call));
    }
    for (const chunk of children.audio) this.sql.insertAudio.run(tenant, id, chunk.seq, millisOf(chunk.createdAt), chunk.data);
  }
}

/** Whether a record's status, bridge type and resume count (the header columns an ordinary update leaves alone) are those of the stored one. */
function sameColumnsBesideActivity(stored: SessionRecord, next: SessionRecord): boolean {
  const a = stored.session;
  const b = next.session;
  return a.status === b.status && a.bridgeType === b.bridgeType && a.resumedCount === b.resumedCount;
}
