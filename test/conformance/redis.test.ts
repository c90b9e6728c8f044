import { afterAll } from "vitest";
import { RedisStore } from "../../src/store/redis/redis-store.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { runConformance } from "./suite.js";

// One redis-server for the file; each test's store gets a key prefix of its
// own, so tests share the server but never a key.
let server: Promise<RedisServer> | undefined;
let stores = 0;

afterAll(async () => {
  await (await server)?.stop();
});

runConformance("redis", async ({ rules, clock }) => {
  server ??= startRedisServer();
  const { url } = await server;
  stores += 1;
  const store = await RedisStore.connect({ url, keyPrefix: `conformance-${stores}:`, connectTimeoutMs: 5000, rules, clock });
  return { store, cleanup: () => store.close() };
});
