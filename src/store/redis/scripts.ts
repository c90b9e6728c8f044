import type { Result } from "ioredis";
import { SESSION_KEY_COUNT } from "./keys.js";
import type { RedisClient } from "./round.js";

/**
 * The Lua scripts of the Redis store. None of them knows a session rule:
 * the rules run in TypeScript (src/session), and these scripts only read a
 * session atomically or apply writes already decided, after checking that
 * the header is still the version those decisions were made on. That check
 * is what makes every rule atomic across sidecars: a commit made on a stale
 * read changes nothing and reports a conflict, and the caller reads again and
 * decides again.
 *
 * Each script touches the keys of one slot only (one session, or one index
 * key), so all of them run unchanged on Redis Cluster; the commit, which
 * takes many sessions at once on one Redis, is called there once per session
 * (ssCommitOne).
 */

/** header, audio-sizes; ARGV: how many of the oldest chunk sizes to return (-1: all). */
const readHead = `
local want = tonumber(ARGV[1])
local sizes = {}
if want ~= 0 then sizes = redis.call('LRANGE', KEYS[2], 0, want < 0 and -1 or want - 1) end
return {redis.call('HGETALL', KEYS[1]), sizes, redis.call('LLEN', KEYS[2])}
`;

/** header, history, calls, calls-order, audio: the whole session as one snapshot. */
const readFull = `
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('LRANGE', KEYS[2], 0, -1),
  redis.call('LRANGE', KEYS[4], 0, -1),
  redis.call('HGETALL', KEYS[3]),
  redis.call('LRANGE', KEYS[5], 0, -1)
}
`;

/**
 * header, history, calls, calls-order, audio, history-ids: readFull with a
 * window of the history. ARGV: how many of the newest items to return at
 * most (-1: all), and the item_id they must come after ("": none). Returns
 * readFull's reply, or {header, 0} when no item has that item_id.
 */
const readWindow = `
local from = 0
if ARGV[2] ~= '' then
  local pos = redis.call('HGET', KEYS[6], ARGV[2])
  if not pos then return {redis.call('HGETALL', KEYS[1]), 0} end
  from = tonumber(pos) + 1
end
local limit = tonumber(ARGV[1])
if limit >= 0 then from = math.max(from, redis.call('LLEN', KEYS[2]) - limit) end
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('LRANGE', KEYS[2], from, -1),
  redis.call('LRANGE', KEYS[4], 0, -1),
  redis.call('HGETALL', KEYS[3]),
  redis.call('LRANGE', KEYS[5], 0, -1)
}
`;

/**
 * history, history-ids; ARGV: item_ids. For each, {index, item binary} of
 * the newest item with it, or false. An index costs a walk from the nearer
 * end of the list in nodes of several items each: next to nothing for the
 * recent items that edits are about.
 */
const readItems = `
local out = {}
for j = 1, #ARGV do
  local pos = redis.call('HGET', KEYS[2], ARGV[j])
  if pos then out[j] = {pos, redis.call('LINDEX', KEYS[1], pos)} else out[j] = false end
end
return out
`;

/**
 * Commits any number of sessions, each only if its header is still the
 * version its writes were decided on. KEYS: the seven keys of each session in
 * turn. ARGV: the number of sessions, then one argument per session, its
 * commit packed as length-prefixed fields (PackedArgs: a 4-byte big-endian
 * length, then the bytes), which are: expected version ("" = the session
 * must not exist), commit id, replace ("1" wipes the session first), then
 * counted runs — header field/value pairs; history items; function calls as
 * (call_id, created ms, binary) triples; audio chunks followed by their
 * sizes; how many of the oldest chunks to drop; the item_ids of the history
 * items appended (indexed in history-ids); and edited items as (index,
 * binary) pairs, written in place. One argument per session instead of its
 * ~25 fields is for the sidecar: the Redis client's cost is per argument,
 * and unpacking here costs Redis less than it saves the sidecar
 * (docs/BENCHMARKS.md). Returns one outcome per session: 1
 * when applied, 2 when this very commit was applied before (a resend), 0 on
 * a version conflict. One call commits a whole group at once, and
 * atomically: a script runs alone.
 */
const commit = `
local function unpacked(packed)
  local fields, at, size = {}, 1, #packed
  while at <= size do
    local length = struct.unpack('>I4', packed, at)
    fields[#fields + 1] = string.sub(packed, at + 4, at + 3 + length)
    at = at + 4 + length
  end
  return fields
end
local function push(command, key, A, from, to)
  -- In slices: unpack() of many thousands of values overflows Lua's stack.
  while from <= to do
    local last = math.min(to, from + 999)
    redis.call(command, key, unpack(A, from, last))
    from = last + 1
  end
end
local function commitOne(k, A)
  local i = 1
  local header, history, calls, callOrder, audio, sizes, ids = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6], KEYS[k + 7]
  local current = redis.call('HGET', header, 'version')
  local matches
  if A[i] == '' then matches = not current else matches = current == A[i] end
  if not matches then
    if current and redis.call('HGET', header, 'commit') == A[i + 1] then return 2 end
    return 0
  end
  if A[i + 2] == '1' then redis.call('DEL', header, history, calls, callOrder, audio, sizes, ids) end
  i = i + 3
  local n = tonumber(A[i])
  push('HSET', header, A, i + 1, i + n)
  i = i + n + 1
  n = tonumber(A[i])
  push('RPUSH', history, A, i + 1, i + n)
  i = i + n + 1
  n = tonumber(A[i])
  for j = i + 1, i + 3 * n, 3 do
    if redis.call('HSETNX', calls, 't:' .. A[j], A[j + 1]) == 1 then redis.call('RPUSH', callOrder, A[j]) end
    redis.call('HSET', calls, 'b:' .. A[j], A[j + 2])
  end
  i = i + 3 * n + 1
  n = tonumber(A[i])
  push('RPUSH', audio, A, i + 1, i + n)
  push('RPUSH', sizes, A, i + n + 1, i + 2 * n)
  i = i + 2 * n + 1
  local drop = tonumber(A[i])
  if drop > 0 then
    redis.call('LTRIM', audio, drop, -1)
    redis.call('LTRIM', sizes, drop, -1)
  end
  i = i + 1
  n = tonumber(A[i])
  local base = redis.call('LLEN', history) - n
  for j = 1, n do
    if A[i + j] ~= '' then redis.call('HSET', ids, A[i + j], base + j - 1) end
  end
  i = i + n + 1
  n = tonumber(A[i])
  for j = i + 1, i + 2 * n, 2 do redis.call('LSET', history, A[j], A[j + 1]) end
  return 1
end
local outcomes = {}
for s = 1, tonumber(ARGV[1]) do
  outcomes[s] = commitOne((s - 1) * 7, unpacked(ARGV[s + 1]))
end
return outcomes
`;

/**
 * The seven session keys. ARGV: "version" and the version the caller checked
 * (DeleteSession), or "idle" and a cutoff in ms (cleanup: only a session last
 * active before it). Returns {1, live token} when deleted, {0, last activity
 * ms} when kept, {-1} when there is no such session.
 */
const remove = `
local h = redis.call('HMGET', KEYS[1], 'version', 'last_activity', 'live_token')
if not h[1] then return {-1} end
if ARGV[1] == 'version' then
  if h[1] ~= ARGV[2] then return {0, h[2]} end
elseif tonumber(h[2]) >= tonumber(ARGV[2]) then
  return {0, h[2]}
end
redis.call('DEL', unpack(KEYS))
return {1, h[3] or ''}
`;

/**
 * The live zsets: KEYS the store's and the tenant's. ARGV: expiry cutoff ms,
 * max_sessions, max_sessions_per_tenant (0: none), a new live token, now ms.
 * Forgets expired members, then adds the token to both only while both have
 * room. Returns {1} when reserved, {0, "tenant", the tenant's count} when the
 * tenant is full, {0, "store"} when the store is.
 */
const reserve = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
local own = redis.call('ZCARD', KEYS[2])
if tonumber(ARGV[3]) > 0 and own >= tonumber(ARGV[3]) then return {0, 'tenant', own} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {0, 'store'} end
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
return {1}
`;

/**
 * A tenant's ids and activity zsets. ARGV: (conversation_id, ms) pairs. Drops
 * each id from both unless its activity score is ms or later, which means a
 * write indexed it again (a re-create) after the caller decided to drop it.
 */
const unindex = `
local removed = 0
for j = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[j])
  if not score or tonumber(score) < tonumber(ARGV[j + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[j])
    redis.call('ZREM', KEYS[2], ARGV[j])
    removed = removed + 1
  end
end
return removed
`;

/**
 * A tenant's paused zset. ARGV: conversation_id, the score the caller read.
 * Drops the member unless its score has risen since (a commit paused the
 * session again after the caller looked).
 */
const unindexPaused = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`;

type Arg = string | Buffer | number;

// ioredis adds a method per defined command (and a "…Buffer" twin that keeps
// binary replies) to the client and to its pipelines and transactions.
declare module "ioredis" {
  interface RedisCommander<Context> {
    ssReadHeadBuffer(...args: Arg[]): Result<[Buffer[], Buffer[], number], Context>;
    ssReadFullBuffer(...args: Arg[]): Result<[Buffer[], Buffer[], Buffer[], Buffer[], Buffer[]], Context>;
    ssReadWindowBuffer(...args: Arg[]): Result<[Buffer[], Buffer[] | 0, Buffer[]?, Buffer[]?, Buffer[]?], Context>;
    ssReadItemsBuffer(...args: Arg[]): Result<([Buffer, Buffer] | null)[], Context>;
    ssCommit(args: Arg[]): Result<number[], Context>;
    ssCommitOne(args: Arg[]): Result<number[], Context>;
    ssRemove(...args: Arg[]): Result<[number, string?], Context>;
    ssReserve(...args: Arg[]): Result<[number, ("tenant" | "store")?, number?], Context>;
    ssUnindex(...args: Arg[]): Result<number, Context>;
    ssUnindexPaused(...args: Arg[]): Result<number, Context>;
  }
}

/** Commit outcomes, as the commit script returns them. */
export const Committed = { conflict: 0, applied: 1, alreadyApplied: 2 } as const;

/** Teaches the client the scripts; ioredis sends them by SHA and loads them again after a Redis restart. */
export function defineScripts(redis: RedisClient): void {
  redis.defineCommand("ssReadHead", { numberOfKeys: 2, lua: readHead });
  redis.defineCommand("ssReadFull", { numberOfKeys: 5, lua: readFull });
  redis.defineCommand("ssReadWindow", { numberOfKeys: 6, lua: readWindow });
  redis.defineCommand("ssReadItems", { numberOfKeys: 2, lua: readItems });
  // The number of keys is given with each call (first argument): seven per session.
  redis.defineCommand("ssCommit", { lua: commit });
  // The same script for one session, with its keys declared: on a Cluster each call goes to that
  // session's node (ioredis auto-pipelining, were it on, would route by the first argument, so a key comes first).
  redis.defineCommand("ssCommitOne", { numberOfKeys: SESSION_KEY_COUNT, lua: commit });
  redis.defineCommand("ssRemove", { numberOfKeys: SESSION_KEY_COUNT, lua: remove });
  redis.defineCommand("ssReserve", { numberOfKeys: 2, lua: reserve });
  redis.defineCommand("ssUnindex", { numberOfKeys: 2, lua: unindex });
  redis.defineCommand("ssUnindexPaused", { numberOfKeys: 1, lua: unindexPaused });
}
