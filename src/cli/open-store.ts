import { systemClock } from "../runtime/clock.js";
import type { Config } from "../config/config.js";
import type { Logger } from "../runtime/logger.js";
import type { SessionRules } from "../session/rules.js";
import type { Store } from "../store/store.js";

/**
 * The store the configuration names, opened as `serve` opens it: for the
 * sidecar, and for export and import, which work on any backend through the
 * Store interface. Backends are imported when chosen, so a build whose native
 * SQLite module is broken can still serve from memory (or Redis).
 */
export async function openStore(config: Config, rules: SessionRules, logger: Logger): Promise<Store> {
  if (config.storage === "memory") {
    const { MemoryStore } = await import("../store/memory/memory-store.js");
    return new MemoryStore({ rules, clock: systemClock });
  }
  if (config.storage === "redis") {
    const { RedisStore } = await import("../store/redis/redis-store.js");
    return RedisStore.connect({
      url: config.redisUrl,
      keyPrefix: config.redisKeyPrefix,
      connectTimeoutMs: config.redisConnectTimeoutMs,
      requireDurable: config.redisRequireDurable,
      sentinels: config.redisSentinels.length > 0 ? { nodes: config.redisSentinels, name: config.redisSentinelName, password: config.redisSentinelPassword } : undefined,
      clusterNodes: config.redisClusterNodes.length > 0 ? config.redisClusterNodes : undefined,
      replicas: { min: config.redisMinReplicas, timeoutMs: config.redisMinReplicasTimeoutMs },
      rules,
      clock: systemClock,
      logger,
    });
  }
  const { SqliteStore } = await import("../store/sqlite/sqlite-store.js");
  return SqliteStore.open({ path: config.sqlitePath, synchronous: config.sqliteSynchronous, rules, clock: systemClock, logger });
}
