/**
 * Where the Redis store keeps what, for one key prefix.
 *
 * Every key of one session carries the hash tag {tenant:conversation_id}, so
 * on Redis Cluster they all live in one slot and the scripts that read or
 * commit a session (scripts.ts) may touch them together. Neither part can
 * contain a brace or break the tag: tenants are [A-Za-z0-9._-] (config) and
 * conversation ids [A-Za-z0-9._:-] (validate.ts), and the key prefix is
 * refused when it holds a brace. A tenant has no ":", so the first ":" inside
 * the tag ends the tenant and the tag names one session only.
 *
 * The indexes span sessions and so live in slots of their own: a tenant's
 * under {tenant}, the store-wide ones under {global}. They are hints that are
 * never trusted alone: each answer drawn from them is checked against the
 * session's header.
 *
 * Redis Cluster: a session's keys share one slot and each script touches one
 * slot. The indexes (ids, activity, live, tenants) are in other slots, so they
 * are written beside the session's commit rather than inside its script, as
 * hints that may run ahead of the data but never behind it; readers check
 * every hint against the header. On one Redis (standalone, or the primary
 * Sentinel names) a commit and its hints go in one MULTI/EXEC or pipeline;
 * on a Cluster, where neither can span slots, the hints go first, to their
 * own slots, and the commits once they are answered, one script call per
 * session (round.ts): one more round trip for a stream's group, a few for a
 * create or resume (whose steps go one after another there), and each
 * session's writes still commit all together or not at all.
 *
 *   {p}session:{t:id}:header       hash   see HeaderField
 *   {p}session:{t:id}:history      list   ConversationItem, protobuf binary, oldest first
 *   {p}session:{t:id}:history-ids  hash   item_id → index in history of the newest item with it: edits, windows
 *   {p}session:{t:id}:calls        hash   "b:<call_id>" → FunctionCall binary, "t:<call_id>" → first created_at ms
 *   {p}session:{t:id}:calls-order  list   call_ids in first-upsert order
 *   {p}session:{t:id}:audio        list   AudioChunk binary, oldest first: the ring
 *   {p}session:{t:id}:audio-sizes  list   byte size of each chunk of the ring, same order
 *   {p}tenant:{t}:ids              zset   conversation_id, score 0: keyset paging with ZRANGEBYLEX
 *   {p}tenant:{t}:activity         zset   conversation_id → last_activity ms: cleanup
 *   {p}tenant:{t}:counters         hash   failed_resumes, cleanup_count
 *   {p}tenant:{t}:paused           zset   conversation_id → last activity ms when a commit left it PAUSED:
 *                                         abandoned calls (abandoned-sweep.ts)
 *   {p}global:{global}:live        zset   live token → last_activity ms: the max_sessions count
 *   {p}global:{global}:live:<t>    zset   the same for one tenant's sessions: the max_sessions_per_tenant count
 *                                         (in the global slot, so one script reserves a place in both)
 *   {p}global:{global}:tenants     set    every tenant that ever created a session: the sweeper's list
 *   {p}global:{global}:page-token-key string  32 random bytes that sign page tokens, set once by the first sidecar
 *   {p}global:{global}:events      pub/sub channel (no key): WatchSessions' events among the sidecars
 *   {p}global:{global}:notices     pub/sub channel (no key): which sidecars listen to those events
 */

/** The fields of a session's header hash. */
export const HeaderField = {
  /** The Session without its children, protobuf binary. */
  session: "session",
  /** SessionRecord.version: compared by every commit, and the source of the etag. */
  version: "version",
  audioSeq: "audio_seq",
  audioBytes: "audio_bytes",
  /** Copies of session fields, so scans for stats and cleanup need not decode the binary. */
  status: "status",
  lastActivity: "last_activity",
  resumedCount: "resumed_count",
  /** This session's member in the live zset; "" once it has ended. */
  liveToken: "live_token",
  /** Random id of the commit that wrote the header last, which makes a resent commit idempotent. */
  commit: "commit",
} as const;

/** The keys of one session, in the order the scripts take them as KEYS. */
export interface SessionKeys {
  header: string;
  history: string;
  calls: string;
  callOrder: string;
  audio: string;
  audioSizes: string;
  historyIds: string;
}

export interface TenantKeys {
  ids: string;
  activity: string;
  counters: string;
  paused: string;
}

export interface GlobalKeys {
  live: string;
  tenants: string;
  pageTokenKey: string;
  /** A pub/sub channel, not a key. */
  events: string;
  /** A pub/sub channel, not a key. */
  notices: string;
}

/** Names of the fields of a tenant's counters hash. */
export const Counter = {
  failedResumes: "failed_resumes",
  cleanupCount: "cleanup_count",
} as const;

export class KeyLayout {
  readonly global: GlobalKeys;

  constructor(private readonly prefix: string) {
    if (/[{}]/.test(prefix)) throw new Error(`the Redis key prefix ${JSON.stringify(prefix)} must not contain { or }: they would change which slot keys hash to`);
    this.global = {
      live: `${prefix}global:{global}:live`,
      tenants: `${prefix}global:{global}:tenants`,
      pageTokenKey: `${prefix}global:{global}:page-token-key`,
      events: `${prefix}global:{global}:events`,
      notices: `${prefix}global:{global}:notices`,
    };
  }

  session(tenant: string, conversationId: string): SessionKeys {
    const base = `${this.prefix}session:{${tenant}:${conversationId}}:`;
    return {
      header: `${base}header`,
      history: `${base}history`,
      calls: `${base}calls`,
      callOrder: `${base}calls-order`,
      audio: `${base}audio`,
      audioSizes: `${base}audio-sizes`,
      historyIds: `${base}history-ids`,
    };
  }

  /** A tenant's live tokens: beside the global live zset (same slot), since a reservation checks both at once. */
  tenantLive(tenant: string): string {
    return `${this.global.live}:${tenant}`;
  }

  tenant(tenant: string): TenantKeys {
    const base = `${this.prefix}tenant:{${tenant}}:`;
    return { ids: `${base}ids`, activity: `${base}activity`, counters: `${base}counters`, paused: `${base}paused` };
  }
}

/** The session keys as a script's KEYS array, in SessionKeys order. */
export function sessionKeyList(keys: SessionKeys): string[] {
  return [keys.header, keys.history, keys.calls, keys.callOrder, keys.audio, keys.audioSizes, keys.historyIds];
}

/** How many keys a session has, as sessionKeyList gives them: the width of one session in a commit's KEYS. */
export const SESSION_KEY_COUNT = sessionKeyList(new KeyLayout("").session("t", "i")).length;
