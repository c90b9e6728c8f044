import { Cluster } from "ioredis";
import type { RedisClient } from "./round.js";
import type { EventRelay } from "../store.js";

/**
 * The sidecars' event channel on Redis pub/sub. Publishing goes over the
 * store's own connection: one PUBLISH per committed group, queued with the
 * commands already in flight, and never awaited by a write. Receiving needs
 * a connection of its own (a subscribed connection can do nothing else),
 * duplicated from the store's so it reaches the same server with the same
 * credentials; ioredis subscribes it again after every reconnect. What is
 * published while it is disconnected is lost to this sidecar's watchers, as
 * pub/sub promises nothing more.
 */
export class RedisEventRelay implements EventRelay {
  private subscriber: RedisClient | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly channel: string,
  ) {}

  async publish(message: string): Promise<void> {
    await this.redis.publish(this.channel, message);
  }

  async subscribe(onMessage: (message: string) => void): Promise<void> {
    // On a Cluster, PUBLISH reaches every node, so the subscriber may listen on any of them.
    const subscriber = this.redis instanceof Cluster
      ? this.redis.duplicate(undefined, { lazyConnect: true, enableOfflineQueue: true })
      : this.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true });
    // Failures of this connection only delay events; ioredis reconnects it, and the store's connection reports Redis's state.
    subscriber.on("error", () => undefined);
    subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.channel) onMessage(message);
    });
    this.subscriber = subscriber;
    await subscriber.connect();
    await subscriber.subscribe(this.channel);
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber?.status === "ready") await subscriber.quit().catch(() => undefined);
    // Also after QUIT: only disconnect() closes the connections ioredis keeps to the Sentinels.
    subscriber?.disconnect();
  }
}
