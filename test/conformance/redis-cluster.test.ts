import { afterAll } from "vitest";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import { type RedisCluster, startRedisCluster } from "../support/redis-cluster.js";
import { runConformance } from "./suite.js";

// The same suite on a 3-primary Redis Cluster: a session's keys in its slot,
// the indexes in theirs, spread over the nodes. One cluster for the file, a
// key prefix per test's store.
let cluster: Promise<RedisCluster> | undefined;
let stores = 0;

afterAll(async () => {
  await (await cluster)?.stop();
});

runConformance("redis-cluster", async ({ rules, clock }) => {
  cluster ??= startRedisCluster();
  const { addresses } = await cluster;
  stores += 1;
  const store = await RedisStore.connect({ url: "redis://localhost", clusterNodes: addresses, keyPrefix: `conformance-${stores}:`, connectTimeoutMs: 5000, rules, clock });
  return { store, cleanup: () => store.close() };
});
