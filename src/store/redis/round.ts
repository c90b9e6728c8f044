import { type ChainableCommander, Cluster, type Redis } from "ioredis";

/** The store's client: one Redis (standalone, or the primary Sentinel names), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

type Queue = (chain: ChainableCommander) => unknown;
/** One command, or (on a Cluster) several whose array replies are joined into one. */
type Entry = Queue | Queue[];

/**
 * Commands sent to Redis together: a MULTI/EXEC transaction (all or nothing,
 * in order, with nothing else in between) or a plain pipeline. `add` returns
 * the position whose reply `run` gives back.
 *
 * On Redis Cluster neither spans slots: a transaction or a pipeline there
 * may only hold keys of one node, and the store's rounds mix a session's
 * keys with index keys in other slots. So on a Cluster a round sends each
 * command on its own (ioredis routes it to its slot's node, follows MOVED
 * and ASK, and with auto-pipelining batches those of one tick per node), and
 * keeps the one promise the store's rounds rely on, their order:
 *  - a transaction's commands run one after another, each once the one before
 *    it was answered: in order, but no longer all or nothing across slots;
 *  - a pipeline's commands run all at once, except across a barrier(): those
 *    after it are sent once those before it were answered.
 * A single connection keeps that order without waiting (Redis runs one
 * connection's commands in the order sent), so barrier() costs nothing there.
 */
export class Round {
  private readonly chain: ChainableCommander | undefined;
  /** On a Cluster: the commands, in waves that run one after another; each entry one reply position. */
  private readonly waves: Entry[][] = [[]];
  private size = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly transaction: boolean,
  ) {
    if (!(redis instanceof Cluster)) this.chain = transaction ? redis.multi() : redis.pipeline();
  }

  /** True on a Cluster, where one script call may only touch the keys of one slot. */
  get perSlot(): boolean {
    return this.chain === undefined;
  }

  get length(): number {
    return this.size;
  }

  add(queue: Queue): number {
    if (this.chain) queue(this.chain);
    else if (this.transaction) this.waves.push([queue]);
    else this.waves.at(-1)!.push(queue);
    return this.size++;
  }

  /**
   * Cluster only: commands sent at once whose replies (arrays) come back
   * joined at one position, as if one command had answered them all.
   */
  addJoined(queues: Queue[]): number {
    if (this.chain) throw new Error("addJoined is for Redis Cluster rounds only");
    if (this.transaction) this.waves.push([queues]);
    else this.waves.at(-1)!.push(queues);
    return this.size++;
  }

  /** What is added after this is sent only once what was added before it has been answered. */
  barrier(): void {
    if (!this.chain && this.waves.at(-1)!.length > 0) this.waves.push([]);
  }

  /** The replies in order; an error reply of any command rejects the round. */
  async run(): Promise<unknown[]> {
    if (this.size === 0) return [];
    if (!this.chain) return this.runPerCommand();
    const replies = await this.chain.exec();
    if (replies === null) throw new Error("Redis discarded the transaction");
    return replies.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  private async runPerCommand(): Promise<unknown[]> {
    const client = this.redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const replies: unknown[] = [];
    for (const wave of this.waves) {
      // Every command of a wave is waited for, so none is left failing unobserved when another fails.
      const settled = await Promise.allSettled(wave.map((entry) => (typeof entry === "function" ? sent(entry, client) : joined(entry, client))));
      for (const outcome of settled) {
        if (outcome.status === "rejected") throw outcome.reason;
        replies.push(outcome.value);
      }
    }
    return replies;
  }
}

/**
 * Sends the one command a queued step issues, straight on the Cluster client,
 * and returns its reply's promise. The step is handed a stand-in for a chain
 * that records the command, so a step that returns nothing (as pipeline code
 * may) works here too.
 */
function sent(queue: Queue, client: Record<string, (...args: unknown[]) => Promise<unknown>>): Promise<unknown> {
  let reply: Promise<unknown> | undefined;
  const recorder: ChainableCommander = new Proxy({} as ChainableCommander, {
    get: (_, command: string) => (...args: unknown[]) => {
      if (reply !== undefined) throw new Error("a step of a Redis round issued two commands; each add() takes one");
      reply = client[command]!.apply(client, args);
      return recorder;
    },
  });
  queue(recorder);
  if (reply === undefined) throw new Error("a step of a Redis round issued no command");
  return reply;
}

async function joined(queues: Queue[], client: Record<string, (...args: unknown[]) => Promise<unknown>>): Promise<unknown[]> {
  const settled = await Promise.allSettled(queues.map((queue) => sent(queue, client) as Promise<unknown[]>));
  return settled.flatMap((outcome) => {
    if (outcome.status === "rejected") throw outcome.reason;
    return outcome.value;
  });
}
