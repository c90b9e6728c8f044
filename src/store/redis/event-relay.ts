import { Cluster } from "ioredis";
import { closeRedis, restartWhenEnded } from "./connection.js";
import type { RedisClient } from "./round.js";
import type { EventRelay, RelayChannel } from "../store.js";

/**
 * The sidecars' channels on Redis pub/sub. Publishing goes over the store's
 * own connection, queued with the commands already in flight. Receiving
 * needs a connection of its own (a subscribed connection can do nothing
 * else), duplicated from the store's so it reaches the same server with the
 * same credentials; ioredis subscribes it again after every reconnect. What
 * is published while it is disconnected is lost to this sidecar, as pub/sub
 * promises nothing more.
 */
export class RedisEventRelay implements EventRelay {
  private subscriber: Promise<RedisClient> | undefined;
  private readonly handlers = new Map<string, (message: string) => void>();
  private readonly resubscribed: Array<() => void> = [];

  constructor(
    private readonly redis: RedisClient,
    /** The Redis channel of each relay channel. */
    private readonly names: Readonly<Record<RelayChannel, string>>,
  ) {}

  async publish(channel: RelayChannel, message: string): Promise<number | undefined> {
    const received = await this.redis.publish(this.names[channel], message);
    // On a Cluster, PUBLISH reaches every node but counts only the subscribers of the node that took it.
    return this.redis instanceof Cluster ? undefined : received;
  }

  async subscribe(channel: RelayChannel, onMessage: (message: string) => void): Promise<void> {
    const subscriber = await this.connected();
    this.handlers.set(this.names[channel], onMessage);
    await subscriber.subscribe(this.names[channel]);
  }

  async unsubscribe(channel: RelayChannel): Promise<void> {
    this.handlers.delete(this.names[channel]);
    await (await this.subscriber)?.unsubscribe(this.names[channel]);
  }

  onResubscribed(listener: () => void): void {
    this.resubscribed.push(listener);
  }

  async close(): Promise<void> {
    const subscriber = await this.subscriber?.catch(() => undefined);
    this.subscriber = undefined;
    if (subscriber) await closeRedis(subscriber);
  }

  private connected(): Promise<RedisClient> {
    this.subscriber ??= this.connect();
    return this.subscriber;
  }

  private async connect(): Promise<RedisClient> {
    // On a Cluster, PUBLISH reaches every node, so the subscriber may listen on any of them.
    const subscriber = this.redis instanceof Cluster
      ? this.redis.duplicate(undefined, { lazyConnect: true, enableOfflineQueue: true })
      : this.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true });
    // Failures of this connection only delay messages; ioredis reconnects it, and the store's connection reports Redis's state.
    subscriber.on("error", () => undefined);
    subscriber.on("message", (channel: string, message: string) => this.handlers.get(channel)?.(message));
    try {
      await subscriber.connect();
    } catch (err) {
      subscriber.disconnect();
      this.subscriber = undefined;
      throw err;
    }
    restartWhenEnded(subscriber);
    // Registered after the first "ready", so it hears only the reconnects. ioredis emits "ready"
    // before it sends the subscriptions again; a PING sent after them answers once they hold.
    subscriber.on("ready", () => {
      setImmediate(() => {
        subscriber.ping().then(
          () => this.resubscribed.forEach((listener) => listener()),
          () => undefined,
        );
      });
    });
    return subscriber;
  }
}
