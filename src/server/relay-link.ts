import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { EventRelay } from "../store/store.js";

/** How long a watch waits for the other sidecars to say they heard that this one listens. */
const ANNOUNCE_WAIT_MS = 1_000;
/** How long a watch waits in all, when even subscribing waits (Redis unreachable): then it gets this sidecar's events alone. */
const LISTEN_WAIT_MS = 2 * ANNOUNCE_WAIT_MS;
/** How long this sidecar stays subscribed to the events after its last watcher ends: a watcher that comes back soon pays no new announcement. */
const UNLISTEN_AFTER_MS = 30_000;

/** What sidecars say on the notices channel. */
interface Notice {
  origin?: unknown;
  /** "I listen to the events now": every other sidecar publishes again, and answers with `heard`. */
  listening?: unknown;
  heard?: unknown;
}

/** Resolves when `promise` settles or `ms` have passed, whichever is first; never rejects. */
async function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

interface Announcement {
  answers: number;
  /** How many other sidecars got it: known once its PUBLISH answers. */
  expected: number | undefined;
  done: () => void;
}

/**
 * This sidecar's side of the event relay: it publishes events only while
 * some other sidecar may listen, and listens only while it has watchers of
 * its own. At thousands of updates a second, events published to nobody
 * cost the sidecar CPU and share the Redis connection with the commits
 * (docs/BENCHMARKS.md), and every sidecar receiving every other's grows
 * with the number of sidecars.
 *
 * A sidecar publishes until a PUBLISH of events reaches no subscriber; it
 * starts again when another says on the notices channel that it listens, or
 * when its own subscriptions come back from a lost connection (what it heard
 * meanwhile is unknown). A sidecar that gets its first watcher subscribes to
 * the events, then announces itself and waits (up to ANNOUNCE_WAIT_MS) until
 * every other sidecar on the notices channel has answered: each answers only
 * after it publishes again, so events committed anywhere after the wait
 * reach the watcher. A reply of no subscribers clears the publishing only if
 * no announcement came after that PUBLISH was sent, since the two travel on
 * different connections. Where the backend cannot count subscribers (a
 * Cluster), every sidecar publishes all along.
 */
export class RelayLink {
  private othersListen = true;
  /** Counts what made othersListen true, so a late "no subscribers" reply for a PUBLISH sent before cannot clear it. */
  private heardAt = 0;
  private listening: Promise<void> | undefined;
  private settling: Promise<void> = Promise.resolve();
  private unlistenTimer: NodeJS.Timeout | undefined;
  /** This sidecar's announcements still waiting for answers, by nonce. */
  private readonly pending = new Map<string, Announcement>();

  constructor(
    private readonly relay: EventRelay,
    private readonly origin: string,
    private readonly onEvents: (message: string) => void,
    private readonly log: Logger,
  ) {}

  /** Subscribes to the notices, for as long as the sidecar runs. */
  async open(): Promise<void> {
    await this.relay.subscribe("notices", (message) => this.noticed(message));
    this.relay.onResubscribed(() => {
      this.heardOfListeners();
      if (this.listening) void this.announce().catch(() => undefined);
    });
  }

  /** Whether an event published now may reach another sidecar. */
  get othersMayListen(): boolean {
    return this.othersListen;
  }

  /** Publishes a frame of events; fire-and-forget, so the returned promise only tells whether Redis took it. */
  send(frame: string): Promise<void> {
    const sentAt = this.heardAt;
    return this.relay.publish("events", frame).then((received) => {
      if (received === 0 && sentAt === this.heardAt) this.othersListen = false;
    });
  }

  /**
   * Resolves once events that other sidecars commit from now on reach this
   * one: at once while it listens already, else after it has subscribed and
   * the others have answered (or ANNOUNCE_WAIT_MS has passed), and after
   * LISTEN_WAIT_MS at the latest.
   */
  listen(): Promise<void> {
    clearTimeout(this.unlistenTimer);
    this.unlistenTimer = undefined;
    if (!this.listening) {
      const listening = this.settling.then(async () => {
        await this.relay.subscribe("events", this.onEvents);
        await this.announce();
      });
      // A failed subscription is tried again by the next watcher; this one gets what this sidecar publishes.
      listening.catch((err: unknown) => {
        if (this.listening === listening) this.listening = undefined;
        this.log.warn({ err }, "cannot listen to the other sidecars' session events; watchers here see only this sidecar's");
      });
      this.listening = listening;
    }
    return settledWithin(this.listening, LISTEN_WAIT_MS);
  }

  /** The last watcher has ended: stop listening unless another comes within UNLISTEN_AFTER_MS. */
  idle(): void {
    if (!this.listening || this.unlistenTimer) return;
    this.unlistenTimer = setTimeout(() => {
      this.unlistenTimer = undefined;
      const listening = this.listening;
      this.listening = undefined;
      this.settling = (listening ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => this.relay.unsubscribe("events"))
        .catch((err: unknown) => this.log.warn({ err }, "cannot unsubscribe from the other sidecars' session events"));
    }, UNLISTEN_AFTER_MS).unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.unlistenTimer);
    for (const { done } of this.pending.values()) done();
    this.pending.clear();
    await this.relay.close();
  }

  private heardOfListeners(): void {
    this.heardAt += 1;
    this.othersListen = true;
  }

  private async announce(): Promise<void> {
    const nonce = randomBytes(8).toString("hex");
    const waiting: Announcement = { answers: 0, expected: undefined, done: () => undefined };
    const answered = new Promise<void>((resolve) => (waiting.done = resolve));
    this.pending.set(nonce, waiting);
    try {
      const received = await this.relay.publish("notices", JSON.stringify({ origin: this.origin, listening: nonce }));
      // Uncounted (a Cluster): every sidecar publishes all along, so none needs to hear this.
      if (received === undefined) return;
      // Every sidecar subscribes to the notices, this one included; answers may have come before the count.
      waiting.expected = received - 1;
      if (waiting.answers >= waiting.expected) return;
      await settledWithin(answered, ANNOUNCE_WAIT_MS);
      const unanswered = waiting.expected - waiting.answers;
      if (unanswered > 0) this.log.warn({ unanswered }, "some sidecars did not answer that this one listens to their session events; their events may not reach its watchers");
    } finally {
      this.pending.delete(nonce);
    }
  }

  private noticed(message: string): void {
    let notice: Notice;
    try {
      notice = JSON.parse(message) as Notice;
    } catch (err) {
      this.log.warn({ err }, "ignoring a relay notice that is not JSON");
      return;
    }
    if (notice.origin === this.origin) return;
    if (typeof notice.listening === "string") {
      this.heardOfListeners();
      this.relay.publish("notices", JSON.stringify({ origin: this.origin, heard: notice.listening })).catch(() => undefined);
      return;
    }
    if (typeof notice.heard === "string") {
      const waiting = this.pending.get(notice.heard);
      if (!waiting) return;
      waiting.answers += 1;
      if (waiting.expected !== undefined && waiting.answers >= waiting.expected) waiting.done();
    }
  }
}
