import { afterAll } from "vitest";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import { type SentinelSet, startSentinelSet } from "../support/redis-sentinel.js";
import { runConformance } from "./suite.js";

// The same suite on a primary with two replicas behind three Sentinels, the
// store finding the primary through them and acknowledging a write only once
// a replica has it: one set for the file, a key prefix per test's store.
let set: Promise<SentinelSet> | undefined;
let stores = 0;

afterAll(async () => {
  await (await set)?.stop();
});

runConformance("redis-sentinel", async ({ rules, clock }) => {
  set ??= startSentinelSet();
  const { name, sentinels } = await set;
  stores += 1;
  const store = await RedisStore.connect({
    url: "redis://localhost",
    sentinels: { nodes: sentinels.map((s) => ({ host: "127.0.0.1", port: Number(s.split(":")[1]) })), name, password: "" },
    replicas: { min: 1, timeoutMs: 2000 },
    keyPrefix: `conformance-${stores}:`,
    connectTimeoutMs: 5000,
    rules,
    clock,
  });
  return { store, cleanup: () => store.close() };
});
