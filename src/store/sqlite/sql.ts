import type Database from "better-sqlite3";
import { nonEndedStatuses } from "../../session/reads.js";

/**
 * Every statement the SQLite store runs, prepared once per connection.
 * Parameters are always bound, never spliced; the one exception is the list
 * of live statuses below, which is a constant of this build.
 */

/** The header columns a write or read of one session needs. */
export interface HeaderRow {
  conversation_id: string;
  /** The status column, which the header must agree with. */
  status: number;
  version: number;
  audio_last_seq: number;
  audio_bytes: number;
  header: Buffer;
}

/** The named parameters that store a session's header row. */
export interface HeaderParams {
  tenant: string;
  conversationId: string;
  status: number;
  bridgeType: string;
  resumedCount: number;
  createdMs: number;
  lastActivityMs: number;
  version: number;
  audioLastSeq: bigint;
  audioBytes: number;
  header: Uint8Array;
}

export interface ListParams {
  tenant: string;
  after: string;
  cutoffMs: number;
  /** JSON array of SessionStatus numbers. */
  statuses: string;
  bridgeType: string;
  limit: number;
}

export interface ItemRow {
  id: number;
  item: Buffer;
}

export interface CallRow {
  created_ms: number;
  call: Buffer;
}

export interface AudioRow {
  seq: number;
  created_ms: number;
  data: Buffer;
}

export interface SessionKeyRow {
  tenant: string;
  conversation_id: string;
}

/** A session cleanup deleted. */
export interface DeletedRow {
  tenant: string;
  conversation_id: string;
  status: number;
}

interface StatusRow {
  status: number;
  sessions: number;
  resumed: number;
}

type Key = [tenant: string, conversationId: string];

// Spelled out as IN (…) rather than `status != ENDED` so the sessions_live
// index is searched per status instead of scanned.
const liveStatuses = nonEndedStatuses.join(", ");

const headerColumns = "conversation_id, status, version, audio_last_seq, audio_bytes, header";

export function prepareStatements(db: Database.Database) {
  return {
    ping: db.prepare<[], number>("SELECT 1").pluck(),

    // --- one session's header row
    getHeader: db.prepare<Key, HeaderRow>(`SELECT ${headerColumns} FROM sessions WHERE tenant = ? AND conversation_id = ?`),
    insertHeader: db.prepare<HeaderParams>(`
      INSERT INTO sessions (tenant, conversation_id, status, bridge_type, resumed_count, created_ms,
                            last_activity_ms, version, audio_last_seq, audio_bytes, header)
      VALUES (@tenant, @conversationId, @status, @bridgeType, @resumedCount, @createdMs,
              @lastActivityMs, @version, @audioLastSeq, @audioBytes, @header)`),
    // created_ms never changes; it is bound only so both writes take the same parameters.
    updateHeader: db.prepare<HeaderParams>(`
      UPDATE sessions
         SET status = @status, bridge_type = @bridgeType, resumed_count = @resumedCount,
             created_ms = @createdMs, last_activity_ms = @lastActivityMs, version = @version,
             audio_last_seq = @audioLastSeq, audio_bytes = @audioBytes, header = @header
       WHERE tenant = @tenant AND conversation_id = @conversationId`),
    // What an update that leaves status, bridge type and resume count alone changes (every audio
    // append and history item): 7 parameters bound by position where updateHeader binds 11 by name
    // (better-sqlite3 reads a property per named parameter; the writer's profile in BENCHMARKS.md).
    touchHeader: db.prepare<[lastActivityMs: number, version: number, audioLastSeq: bigint, audioBytes: number, header: Uint8Array, tenant: string, conversationId: string]>(`
      UPDATE sessions
         SET last_activity_ms = ?, version = ?, audio_last_seq = ?, audio_bytes = ?, header = ?
       WHERE tenant = ? AND conversation_id = ?`),
    // The children go with it through ON DELETE CASCADE.
    deleteSession: db.prepare<Key, number>("DELETE FROM sessions WHERE tenant = ? AND conversation_id = ? RETURNING status").pluck(),
    countLive: db
      .prepare<[cutoffMs: number], number>(`SELECT count(*) FROM sessions WHERE status IN (${liveStatuses}) AND last_activity_ms >= ?`)
      .pluck(),
    // The primary key's tenant prefix bounds this to the tenant's rows.
    countLiveOfTenant: db
      .prepare<[tenant: string, cutoffMs: number], number>(`SELECT count(*) FROM sessions WHERE tenant = ? AND status IN (${liveStatuses}) AND last_activity_ms >= ?`)
      .pluck(),
    // From each tenant to the next through the primary key: one index seek per
    // tenant, where DISTINCT would walk every session's entry.
    tenants: db
      .prepare<[], string>(`
        WITH RECURSIVE next (tenant) AS (
          SELECT min(tenant) FROM sessions
          UNION ALL
          SELECT (SELECT min(tenant) FROM sessions WHERE tenant > next.tenant) FROM next WHERE next.tenant IS NOT NULL)
        SELECT tenant FROM next WHERE tenant IS NOT NULL`)
      .pluck(),
    countNotEndedByTenant: db.prepare<[], { tenant: string; count: number }>(`SELECT tenant, count(*) AS count FROM sessions WHERE status IN (${liveStatuses}) GROUP BY tenant`),

    // --- children
    insertHistory: db.prepare<[...Key, itemId: string, item: Uint8Array]>("INSERT INTO history (tenant, conversation_id, item_id, item) VALUES (?, ?, ?, ?)"),
    // The newest item of an item_id, through history_by_item.
    findItem: db.prepare<[...Key, itemId: string], ItemRow>(
      "SELECT id, item FROM history WHERE tenant = ? AND conversation_id = ? AND item_id = ? ORDER BY id DESC LIMIT 1",
    ),
    // item_id is not written: an edit keeps it.
    replaceItem: db.prepare<[item: Uint8Array, id: number]>("UPDATE history SET item = ? WHERE id = ?"),
    // A history window: items after row `after` (0: all), newest first, at most `limit` (-1: no limit),
    // walked backwards on history_by_session so the cost follows the window.
    historyWindow: db
      .prepare<{ tenant: string; conversationId: string; after: number; limit: number }, Buffer>(`
        SELECT item FROM history WHERE tenant = @tenant AND conversation_id = @conversationId AND id > @after
         ORDER BY id DESC LIMIT @limit`)
      .pluck(),
    upsertCall: db.prepare<[...Key, callId: string, createdMs: number, call: Uint8Array]>(`
      INSERT INTO function_calls (tenant, conversation_id, call_id, created_ms, call) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (tenant, conversation_id, call_id) DO UPDATE SET call = excluded.call`),
    insertAudio: db.prepare<[...Key, seq: bigint, createdMs: number, data: Uint8Array]>(
      "INSERT INTO audio (tenant, conversation_id, seq, created_ms, data) VALUES (?, ?, ?, ?, ?)",
    ),
    // length() of a BLOB is read from the record header, so this does not load the audio itself.
    audioSizes: db
      .prepare<Key, number>("SELECT length(data) FROM audio WHERE tenant = ? AND conversation_id = ? ORDER BY seq")
      .pluck(),
    // Everything before the (count+1)-th oldest chunk: a walk of the primary key, where an
    // IN (SELECT … LIMIT) would build a temporary table on every trim. Run after the new chunks
    // are in, so that chunk always exists.
    dropOldestAudio: db.prepare<{ tenant: string; conversationId: string; count: number }>(`
      DELETE FROM audio WHERE tenant = @tenant AND conversation_id = @conversationId AND seq < (
        SELECT seq FROM audio WHERE tenant = @tenant AND conversation_id = @conversationId ORDER BY seq LIMIT 1 OFFSET @count)`),
    selectHistory: db.prepare<Key, Buffer>("SELECT item FROM history WHERE tenant = ? AND conversation_id = ? ORDER BY id").pluck(),
    selectCalls: db.prepare<Key, CallRow>("SELECT created_ms, call FROM function_calls WHERE tenant = ? AND conversation_id = ? ORDER BY id"),
    selectAudio: db.prepare<Key, AudioRow>("SELECT seq, created_ms, data FROM audio WHERE tenant = ? AND conversation_id = ? ORDER BY seq"),

    // --- many sessions
    // Keyset pagination on the primary key; expired rows are skipped here,
    // whether or not cleanup has reached them.
    listPage: db.prepare<ListParams, HeaderRow>(`
      SELECT ${headerColumns} FROM sessions
       WHERE tenant = @tenant AND conversation_id > @after AND last_activity_ms >= @cutoffMs
         AND status IN (SELECT value FROM json_each(@statuses))
         AND (@bridgeType = '' OR bridge_type = @bridgeType)
       ORDER BY conversation_id
       LIMIT @limit`),
    statsByStatus: db.prepare<[tenant: string, cutoffMs: number], StatusRow>(`
      SELECT status, count(*) AS sessions, total(resumed_count > 0) AS resumed
        FROM sessions WHERE tenant = ? AND last_activity_ms >= ? GROUP BY status`),
    deleteInactive: db.prepare<[cutoffMs: number, limit: number], DeletedRow>(`
        DELETE FROM sessions WHERE rowid IN (
          SELECT rowid FROM sessions WHERE last_activity_ms < ? ORDER BY last_activity_ms LIMIT ?)
        RETURNING tenant, conversation_id, status`),
    // Left to itself the planner walks the tenant's whole primary key here;
    // the activity index keeps the cost to the sessions that are inactive.
    deleteTenantInactive: db.prepare<[tenant: string, cutoffMs: number, limit: number], DeletedRow>(`
        DELETE FROM sessions WHERE rowid IN (
          SELECT rowid FROM sessions INDEXED BY sessions_by_activity
           WHERE tenant = ? AND last_activity_ms < ? ORDER BY last_activity_ms LIMIT ?)
        RETURNING tenant, conversation_id, status`),
    // PAUSED and idle since before the grace, unexpired: a range of the sessions_live index.
    pausedBefore: db.prepare<{ paused: number; cutoffMs: number; expiryMs: number; limit: number }, SessionKeyRow>(`
      SELECT tenant, conversation_id FROM sessions
       WHERE status = @paused AND last_activity_ms < @cutoffMs AND last_activity_ms >= @expiryMs
       ORDER BY last_activity_ms LIMIT @limit`),
    countInactive: db.prepare<[cutoffMs: number], number>("SELECT count(*) FROM sessions WHERE last_activity_ms < ?").pluck(),
    countTenantInactive: db
      .prepare<[tenant: string, cutoffMs: number], number>(
        "SELECT count(*) FROM sessions INDEXED BY sessions_by_activity WHERE tenant = ? AND last_activity_ms < ?",
      )
      .pluck(),

    // --- secrets
    selectSecret: db.prepare<[name: string], Buffer>("SELECT value FROM secrets WHERE name = ?").pluck(),

    // --- counters
    selectCounters: db.prepare<[tenant: string], { name: string; value: number }>("SELECT name, value FROM counters WHERE tenant = ?"),
    addToCounter: db.prepare<[tenant: string, name: string, amount: number]>(`
      INSERT INTO counters (tenant, name, value) VALUES (?, ?, ?)
      ON CONFLICT (tenant, name) DO UPDATE SET value = value + excluded.value`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Names of the rows in the counters table. */
export const Counter = {
  failedResumes: "failed_resumes",
  cleanupCount: "cleanup_count",
} as const;
