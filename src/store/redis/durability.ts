import { Cluster, type Redis } from "ioredis";
import type { RedisClient } from "./round.js";
import type { Logger } from "../../runtime/logger.js";

/**
 * What an acknowledged write is worth on this Redis. The sidecar acknowledges
 * a write once Redis has answered it, so whether the write outlives Redis
 * itself is Redis's persistence setting: only `appendonly yes` with
 * `appendfsync always` fsyncs the append-only file before Redis answers.
 */
export type Durability =
  | { kind: "durable" }
  | { kind: "not-durable"; appendonly: string; appendfsync: string; meaning: string }
  | { kind: "unknown"; reason: string };

/**
 * Reads the persistence settings with CONFIG GET. Managed Redis services
 * often disable or rename CONFIG, or an ACL forbids it; the answer is then
 * "unknown", with why.
 */
export async function readDurability(redis: Redis): Promise<Durability> {
  let appendonly: string;
  let appendfsync: string;
  try {
    // One setting per call: CONFIG GET takes several only since Redis 7.
    appendonly = await configValue(redis, "appendonly");
    appendfsync = await configValue(redis, "appendfsync");
  } catch (err) {
    return { kind: "unknown", reason: err instanceof Error ? err.message : String(err) };
  }
  if (appendonly === "yes" && appendfsync === "always") return { kind: "durable" };
  return { kind: "not-durable", appendonly, appendfsync, meaning: meaningOf(appendonly, appendfsync) };
}

/** On a Cluster, every primary is asked: an ack is only as durable as the primary of its slot, so the weakest answer counts. */
async function weakest(redis: RedisClient): Promise<Durability> {
  if (!(redis instanceof Cluster)) return readDurability(redis);
  const answers = await Promise.all(redis.nodes("master").map(readDurability));
  return answers.find((d) => d.kind === "unknown") ?? answers.find((d) => d.kind === "not-durable") ?? { kind: "durable" };
}

async function configValue(redis: Redis, name: string): Promise<string> {
  const reply = (await redis.config("GET", name)) as unknown;
  // A flat [name, value] list; an empty one when this Redis does not know the setting.
  if (!Array.isArray(reply) || typeof reply[1] !== "string") throw new Error(`CONFIG GET ${name} returned no value`);
  return reply[1].toLowerCase();
}

/** What an acknowledgement promises under settings other than appendonly yes / appendfsync always. */
function meaningOf(appendonly: string, appendfsync: string): string {
  if (appendonly !== "yes") {
    return "an acknowledged write is in Redis's memory only: a Redis crash or restart loses every write since its last snapshot";
  }
  if (appendfsync === "everysec") {
    return "an acknowledged write survives a Redis crash, but power loss or a kernel crash on the Redis host can lose about the last second of writes";
  }
  return "an acknowledged write survives a Redis crash, but power loss or a kernel crash on the Redis host can lose whatever the OS had not yet written to disk (up to about 30 s)";
}

export interface DurabilityPolicy {
  /** Refuse to start unless Redis is known to be durable (--redis-require-durable). */
  require: boolean;
  /** Where Redis is, for messages: never with a password. */
  where: string;
  logger?: Logger;
}

/**
 * Checks once, at start, what an acknowledgement means on this Redis and
 * says so: a warning when it is less than "survives a Redis crash and power
 * loss", or a thrown Error, which stops the start, when the operator asked
 * for durability. When the settings cannot be read, the flag refuses too:
 * durability that cannot be checked was not checked; without the flag it
 * is logged and the sidecar starts, since Redis may well be durable.
 */
export async function checkDurability(redis: RedisClient, policy: DurabilityPolicy): Promise<void> {
  const durability = await weakest(redis);
  const fix = "set appendonly yes and appendfsync always on Redis";
  switch (durability.kind) {
    case "durable":
      policy.logger?.info({ redis: policy.where, appendonly: "yes", appendfsync: "always" }, "Redis fsyncs every write before answering: an acknowledged write survives a Redis crash and power loss");
      return;
    case "not-durable": {
      const settings = `appendonly ${durability.appendonly}, appendfsync ${durability.appendfsync}`;
      if (policy.require) {
        throw new Error(`Redis at ${policy.where} does not make acknowledged writes durable (${settings}): ${durability.meaning}; ${fix}, or start without --redis-require-durable`);
      }
      policy.logger?.warn(
        { redis: policy.where, appendonly: durability.appendonly, appendfsync: durability.appendfsync },
        `Redis does not fsync every write (${settings}): ${durability.meaning}; ${fix} for acknowledgements that survive both`,
      );
      return;
    }
    case "unknown":
      if (policy.require) {
        throw new Error(`cannot check that Redis at ${policy.where} makes acknowledged writes durable, as --redis-require-durable asks: CONFIG GET failed (${durability.reason}); allow CONFIG GET for the sidecar's user, or start without --redis-require-durable`);
      }
      policy.logger?.warn(
        { redis: policy.where, reason: durability.reason },
        "could not check whether Redis fsyncs every write (CONFIG GET failed, as on many managed services); an acknowledged write is as durable as Redis's persistence settings make it: appendonly yes and appendfsync always survive a crash and power loss",
      );
  }
}
