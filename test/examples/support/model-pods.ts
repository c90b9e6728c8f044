import { type MockRealtimeServer, startMockRealtimeServer } from "../../support/mock-realtime-server.js";
import { type RedisServer, startRedisServer } from "../../support/redis-server.js";
import { type Sidecar, startSidecar } from "../../support/sidecar-process.js";
import { type BridgeProcessOptions, type BridgeProcess, startBridgeProcess } from "./bridge-process.js";

/** Two pods, each a bridge with its own sidecar, both sidecars on one Redis, and one mock Realtime endpoint for both. */
export interface ModelPods {
  model: MockRealtimeServer;
  sidecars: Sidecar[];
  bridges: BridgeProcess[];
  stop(): Promise<void>;
}

export const MODEL_API_KEY = "test-model-key";

/**
 * Starts the pods named `owners`: a call can move between them as it would
 * between Kubernetes pods, and the model endpoint records what each model
 * session of either bridge is given.
 */
export async function startModelPods(
  owners: string[],
  bridge: Pick<BridgeProcessOptions, "platform"> & { modelUrl?: (url: string) => string } = {},
): Promise<ModelPods> {
  const redis: RedisServer = await startRedisServer();
  const model = await startMockRealtimeServer({ apiKey: MODEL_API_KEY });
  const pods: ModelPods = {
    model,
    sidecars: [],
    bridges: [],
    async stop() {
      await Promise.all(pods.bridges.map((b) => b.stop()));
      await Promise.all(pods.sidecars.map((s) => s.stop()));
      await model.close();
      await redis.stop();
    },
  };
  try {
    for (const ownerId of owners) {
      const sidecar = await startSidecar({ args: ["--storage", "redis", "--redis-url", redis.url] });
      pods.sidecars.push(sidecar);
      const modelUrl = bridge.modelUrl ? bridge.modelUrl(model.url) : model.url;
      pods.bridges.push(await startBridgeProcess({ ...(bridge.platform ? { platform: bridge.platform } : {}), sidecar: sidecar.address, ownerId, modelUrl, modelApiKey: MODEL_API_KEY }));
    }
  } catch (err) {
    await pods.stop();
    throw err;
  }
  return pods;
}
