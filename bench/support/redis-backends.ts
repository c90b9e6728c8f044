import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { startRedisCluster } from "../../test/support/redis-cluster.js";
import { startRedisServer } from "../../test/support/redis-server.js";
import { startSentinelSet } from "../../test/support/redis-sentinel.js";

/**
 * The Redis deployments the call simulator compares, each started fresh on
 * loopback for one phase: what the sidecar is given to reach it, and the
 * redis-server processes whose CPU and memory the phase reports (the
 * primary's, where there is one).
 */
export type RedisBackend = "redis" | "redis-sentinel" | "redis-sentinel-ack" | "redis-cluster";

export interface StartedBackend {
  sidecarArgs: string[];
  /** The redis-server serving the writes (the primary; on a Cluster, the first of its three primaries). */
  serverPid: number;
  /** Every redis-server and Sentinel process of the deployment, for pinning to SIDECAR_CPUS. */
  allPids: number[];
  stop(): Promise<void>;
}


export async function startBackend(backend: RedisBackend): Promise<StartedBackend> {
  if (backend === "redis") {
    const redis = await startRedisServer();
    const pid = redisServerPid(redis.port);
    return { sidecarArgs: ["--storage", "redis", "--redis-url", redis.url], serverPid: pid, allPids: [pid], stop: () => redis.stop() };
  }
  if (backend === "redis-cluster") {
    const cluster = await startRedisCluster();
    const pids = cluster.nodes.map((n) => redisServerPid(n.port));
    return { sidecarArgs: cluster.sidecarArgs, serverPid: pids[0]!, allPids: pids, stop: () => cluster.stop() };
  }
  const set = await startSentinelSet();
  const primary = await set.primary();
  const ports = [...set.servers.map((s) => s.port), ...set.sentinels.map((s) => Number(s.split(":")[1]))];
  return {
    sidecarArgs: [...set.sidecarArgs, ...(backend === "redis-sentinel-ack" ? ["--redis-min-replicas", "1"] : [])],
    serverPid: redisServerPid(primary.port),
    allPids: ports.map(redisServerPid),
    stop: () => set.stop(),
  };
}

/** test/support's RedisServer does not expose its pid: find it by name and by the "host:port" redis-server puts in its process title. */
export function redisServerPid(port: number): number {
  const pids = execFileSync("pgrep", ["-x", "redis-server"], { encoding: "utf8" }).trim().split("\n").map(Number);
  const pid = pids.find((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").includes(`:${port}`));
  if (pid === undefined) throw new Error(`no redis-server process on port ${port}`);
  return pid;
}
