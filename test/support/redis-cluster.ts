import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "./redis-server.js";
import { toolPath } from "./tools.js";

/**
 * A real Redis Cluster for tests: three primaries (no replicas) on free
 * loopback ports, each fsyncing every write, created with
 * `redis-cli --cluster create`, the 16384 slots split among them. A node can
 * be killed and restarted on its port and data (nodes.conf included, so it
 * rejoins with its slots), and slots can be moved while traffic runs.
 */
export interface RedisCluster {
  nodes: RedisServer[];
  /** The sidecar's flags for this cluster. */
  sidecarArgs: string[];
  /** host/port of each node, for RedisStore.connect. */
  addresses: { host: string; port: number }[];
  /** Moves `slots` slots from the node at index `from` to the one at `to` with redis-cli --cluster reshard, keys and all. */
  reshard(from: number, to: number, slots: number): Promise<void>;
  /** Resolves once every running node reports cluster_state:ok. */
  healthy(): Promise<void>;
  stop(): Promise<void>;
}

const run = promisify(execFile);
/** How long a node may be silent before the others mark it failed (and the cluster, lacking replicas, goes down). */
const NODE_TIMEOUT_MS = 1000;

export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startRedisServer({ extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", String(NODE_TIMEOUT_MS)] }));
    }
    await run(toolPath("redis-cli"), ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"]);
    const cluster: RedisCluster = {
      nodes,
      addresses: nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
      sidecarArgs: ["--storage", "redis", "--redis-cluster-nodes", nodes.map((n) => `127.0.0.1:${n.port}`).join(",")],
      async reshard(from, to, slots) {
        const [source, target] = await Promise.all([nodeId(nodes[from]!), nodeId(nodes[to]!)]);
        await run(toolPath("redis-cli"), [
          "--cluster", "reshard", `127.0.0.1:${nodes[from]!.port}`,
          "--cluster-from", source, "--cluster-to", target, "--cluster-slots", String(slots), "--cluster-yes",
        ], { maxBuffer: 64 * 1024 * 1024 });
      },
      async healthy() {
        const deadline = Date.now() + 30_000;
        for (const node of nodes) {
          while (!(await clusterOk(node))) {
            if (Date.now() > deadline) throw new Error(`cluster node ${node.port} is not cluster_state:ok after 30 s`);
            await sleep(50);
          }
        }
      },
      stop,
    };
    await cluster.healthy();
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function nodeId(node: RedisServer): Promise<string> {
  const redis = new Redis(node.url);
  try {
    return String(await redis.call("CLUSTER", "MYID"));
  } finally {
    redis.disconnect();
  }
}

async function clusterOk(node: RedisServer): Promise<boolean> {
  const redis = new Redis(node.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return /^cluster_state:ok/m.test(String(await redis.call("CLUSTER", "INFO")));
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
