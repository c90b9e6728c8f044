import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "../../runtime/logger.js";
import { Reason, SessionError } from "../../session/errors.js";
import type { RedisClient } from "./round.js";
import { defineScripts } from "./scripts.js";

/** Where Sentinel mode finds the primary. */
export interface SentinelOptions {
  nodes: { host: string; port: number }[];
  /** The name the Sentinels monitor the primary under. */
  name: string;
  /** The Sentinels' own password; "" for none. */
  password: string;
}

export interface RedisConnectionOptions {
  /**
   * redis://[user:password@]host[:port][/db] or rediss://… for TLS. With
   * sentinels, only its user, password, database and scheme are used: the
   * Sentinels say where the primary is.
   */
  url: string;
  sentinels?: SentinelOptions;
  /** Redis Cluster: some of its nodes, from which the client learns the rest and the slots. */
  clusterNodes?: { host: string; port: number }[];
  /** Bounds connecting, and also each command: a Redis that hangs fails calls as one that is down does. */
  connectTimeoutMs: number;
  logger?: Logger;
}

/** Reconnect attempts back off to this and then keep trying at this pace, for as long as the sidecar runs. */
const MAX_RECONNECT_DELAY_MS = 1000;

/**
 * Opens the one connection a RedisStore uses, and resolves once it is ready.
 * Fails with an Error naming the server (never the password) when Redis
 * cannot be reached or refuses us within connectTimeoutMs, so a sidecar with
 * a wrong URL or password stops at start with a message that says so.
 *
 * Once open, a lost connection is re-established forever in the background,
 * and while it is down every command fails at once instead of queueing:
 * a bridge in a live call must hear "unavailable" now, not after a timeout.
 */
export async function connectRedis(options: RedisConnectionOptions): Promise<RedisClient> {
  const connection: RedisOptions = {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.connectTimeoutMs,
    // No queue while disconnected, and commands in flight when the connection
    // drops fail instead of being resent on the next one: the outcome of a
    // write is then unknown, which the caller learns as STORAGE_UNAVAILABLE
    // and settles by resending with the same seq.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    // After a failover the old primary answers writes with READONLY; reconnecting finds the new one.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
  };
  const redis: RedisClient = options.clusterNodes
    ? clusterClient(options.clusterNodes, options.url, connection)
    : new Redis(options.url, { ...(options.sentinels ? sentinelMode(options.sentinels, options.url, options.connectTimeoutMs) : {}), ...connection });
  defineScripts(redis);
  const where = describeServer(redis);

  // ioredis emits 'error' on every failed attempt, one a second while Redis
  // is down; the log gets one line per change of state instead.
  let up = false;
  let reported = false;
  let lastError: Error | undefined;
  redis.on("error", (err: Error) => {
    lastError = err;
    if (up || reported) return;
    reported = true;
    options.logger?.warn({ redis: where, err: { message: err.message } }, "cannot reach Redis; retrying");
  });
  redis.on("ready", () => {
    // Behind Sentinels, which server that is changes with every failover; the log says which one it is now.
    const stream = redis instanceof Redis ? (redis.stream as { remoteAddress?: string; remotePort?: number } | undefined) : undefined;
    const primary = options.sentinels && stream?.remoteAddress ? { primary: `${stream.remoteAddress}:${stream.remotePort}` } : {};
    options.logger?.info({ redis: where, ...primary }, "connected to Redis");
    up = true;
    reported = false;
  });
  redis.on("close", () => {
    // A close we asked for (quit, disconnect) ends the client right after this event; only a lost connection is worth a warning.
    if (up) setImmediate(() => redis.status !== "end" && options.logger?.warn({ redis: where }, "lost the connection to Redis; calls fail with UNAVAILABLE until it is back"));
    up = false;
  });

  try {
    // Behind Sentinels, ioredis asks them again and again until one names a primary it can reach: bound that at start.
    await withDeadline(redis.connect(), options.connectTimeoutMs);
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    // What went wrong (refused, timed out, wrong password) is in the last 'error'; the rejection only says "closed".
    const reason = lastError ?? err;
    throw new Error(`cannot connect to Redis at ${where}: ${messageOf(reason)}`, { cause: reason });
  }
  restartWhenEnded(redis, options.logger);
  return redis;
}

/** Clients closed by closeRedis: the only ones whose end is meant. */
const closing = new WeakSet<RedisClient>();

/**
 * Closes a client for good: QUIT lets replies in flight arrive first (with
 * Redis down there is nothing to wait for), and disconnect() also closes the
 * connections ioredis keeps to the Sentinels. Every client the store opens is
 * closed through here, so that restartWhenEnded knows this end is meant.
 */
export async function closeRedis(redis: RedisClient): Promise<void> {
  closing.add(redis);
  if (redis.status === "ready") await redis.quit().catch(() => undefined);
  redis.disconnect();
}

/**
 * A connected client that ends without closeRedis is connected again, and
 * then reconnects by itself as before. ioredis (5.11) can end a Sentinel
 * client of its own accord: when its failover detector hears +switch-master
 * while a reconnect is still asking a Sentinel for the primary, that
 * reconnect fails with "Connection is closed" and no further attempt is made,
 * so every call would fail with UNAVAILABLE until the sidecar restarts.
 */
export function restartWhenEnded(redis: RedisClient, logger?: Logger): void {
  // Said once until the client is ready again, should a restart end the same way.
  let told = false;
  redis.on("ready", () => (told = false));
  redis.on("end", () => {
    if (closing.has(redis)) return;
    if (!told) logger?.warn({ redis: describeServer(redis) }, "the Redis client stopped reconnecting by itself; connecting it again");
    told = true;
    setTimeout(() => {
      if (!closing.has(redis) && redis.status === "end") redis.connect().catch(() => undefined);
    }, MAX_RECONNECT_DELAY_MS).unref();
  });
}

/**
 * Sentinel mode for ioredis: the Sentinels are asked for the primary of
 * `name` at every (re)connect, and ioredis also subscribes to their
 * +switch-master so a failover is followed the moment it is announced
 * rather than when the old primary's connection times out. TLS (rediss://)
 * is spoken to the Sentinels and to the data nodes alike.
 */
function sentinelMode(sentinels: SentinelOptions, url: string, timeoutMs: number): RedisOptions {
  const tls = url.startsWith("rediss:");
  return {
    sentinels: sentinels.nodes.map(({ host, port }) => ({ host, port })),
    name: sentinels.name,
    sentinelPassword: sentinels.password === "" ? undefined : sentinels.password,
    enableTLSForSentinelMode: tls,
    sentinelTLS: tls ? {} : undefined,
    sentinelCommandTimeout: timeoutMs,
    failoverDetector: true,
    // Once every Sentinel was tried: the same pace as reconnecting to a lone Redis, forever.
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    // The failover detector's own subscriptions to the Sentinels reconnect the same way.
    sentinelReconnectStrategy: (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
  };
}

/**
 * A Redis Cluster client. The URL gives the nodes' user, password and TLS;
 * ioredis learns the slots from the nodes given, follows MOVED and ASK (a
 * resharding), and refreshes the slots when a node fails. The store's rounds
 * become commands sent one by one on a Cluster (see Round). A node that is down fails
 * its slots' commands after a few quick redirection attempts, as an outage.
 */
function clusterClient(nodes: { host: string; port: number }[], url: string, connection: RedisOptions): Cluster {
  const parsed = new URL(url);
  const cluster = new Cluster(nodes.map(({ host, port }) => ({ host, port })), {
    lazyConnect: true,
    enableOfflineQueue: false,
    // Off: a pipeline in which some commands meet ASK (a slot halfway through a resharding) and others do not comes back with the
    // ASK errors unfollowed; commands sent one by one are each redirected by the client. They still go out without waiting for each other.
    enableAutoPipelining: false,
    enableReadyCheck: true,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    // A few redirections cover a resharding (MOVED, then ASK while a slot moves) and a failover; more would only delay the UNAVAILABLE of a node that is gone.
    maxRedirections: 6,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: connection.connectTimeout,
    redisOptions: {
      // The Cluster client owns queueing and reconnecting (enableOfflineQueue, clusterRetryStrategy above).
      ...perNode(connection),
      username: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
      password: parsed.password === "" ? undefined : decodeURIComponent(parsed.password),
      tls: parsed.protocol === "rediss:" ? {} : undefined,
    },
  });
  clusterNodes.set(cluster, nodes.map((n) => `${n.host}:${n.port}`).join(","));
  return cluster;
}

function perNode(connection: RedisOptions): RedisOptions {
  const { enableOfflineQueue: _queue, retryStrategy: _retry, lazyConnect: _lazy, ...rest } = connection;
  return rest;
}

/** The nodes each Cluster client was given, for describeServer. */
const clusterNodes = new WeakMap<Cluster, string>();

/** Where the client connects, as ioredis parsed the URL (or the Sentinels it asks, or the Cluster's nodes): never a password. */
export function describeServer(redis: RedisClient): string {
  if (redis instanceof Cluster) {
    const tls = redis.options.redisOptions?.tls !== undefined;
    const nodes = clusterNodes.get(redis) ?? "";
    return `${tls ? "rediss" : "redis"}+cluster://${nodes}`;
  }
  const { host, port, db, tls, sentinels, name } = redis.options;
  if (sentinels && sentinels.length > 0) {
    const nodes = sentinels.map((s) => `${s.host}:${s.port}`).join(",");
    return `${tls ? "rediss" : "redis"}+sentinel://${nodes}/${name ?? ""}/${db ?? 0}`;
  }
  return `${tls ? "rediss" : "redis"}://${host}:${port}/${db ?? 0}`;
}

// Replies that mean "Redis cannot serve right now", as opposed to a reply
// that a bug of ours provoked.
// MOVED and ASK are followed by the Cluster client; one that reaches us means the slots moved more often than it follows.
const UNAVAILABLE_REPLIES = ["OOM", "READONLY", "LOADING", "MASTERDOWN", "BUSY", "NOAUTH", "WRONGPASS", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "NOREPLICAS", "MOVED", "ASK"];

/**
 * Any failure of a Redis call as the SessionError a client gets. Connection
 * trouble (down, reconnecting, timed out, refusing writes) is
 * STORAGE_UNAVAILABLE with a message saying what to do; an error reply of
 * another kind means a bug, and is INTERNAL. The cause is kept for the log.
 */
export function storageError(err: unknown, closed: boolean): SessionError {
  if (err instanceof SessionError) return err;
  if (closed) return new SessionError(Reason.StorageUnavailable, "the session store is closed", { cause: err });
  // ioredis types its ReplyError as any; the name is what it sets on every error reply.
  if (err instanceof Error && err.name === "ReplyError") {
    // A transaction Redis refused to queue (EXECABORT) fails for the reason of the command it refused.
    const refused = (err as { previousErrors?: Error[] }).previousErrors?.[0] ?? err;
    const code = refused.message.split(" ", 1)[0] ?? "";
    if (!UNAVAILABLE_REPLIES.includes(code)) {
      return new SessionError(Reason.Internal, "internal error in the sidecar; its log has the details", { cause: err });
    }
    return new SessionError(Reason.StorageUnavailable, `Redis cannot serve the session store right now (${code}); retry shortly`, { cause: err });
  }
  // With no offline queue, ioredis refuses a command at once, before sending it, while the connection is down.
  if (err instanceof Error && err.message.includes("enableOfflineQueue")) {
    return new SessionError(Reason.StorageUnavailable, "Redis, where sessions are stored, is not reachable; retry once it is back", { cause: err });
  }
  return new SessionError(
    Reason.StorageUnavailable,
    "Redis, where sessions are stored, did not answer in time or dropped the connection; the call may or may not have taken effect: retry it (an update with a seq is applied once)",
    { cause: err },
  );
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
