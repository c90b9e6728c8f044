import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { SessionEventType, type WatchSessionsRequest, type WatchSessionsResponse } from "../gen/sessionstore/v1/session_store_pb.js";
import { type SessionError, watchTooSlow } from "../session/errors.js";
import { toServiceError } from "./error-status.js";
import type { SessionEvents, WatchFilter } from "./session-events.js";

/**
 * Events a watcher may fall behind by, beyond what the transport holds (an
 * HTTP/2 window, 64 KiB: some hundreds of BASIC sessions), before it is cut
 * off. A monitor that reads at all keeps up with thousands of calls; one
 * that stopped reading costs at most this much memory, and never a writer's
 * time.
 */
export const WATCH_BUFFER_EVENTS = 1024;

interface Buffered {
  event: WatchSessionsResponse;
}

/**
 * One WatchSessions stream: subscribed to the events that match its
 * request, written as fast as the client reads them. While the transport
 * is full, events wait in a bounded queue, where an UPDATED of a session
 * whose newest queued event is also an UPDATED replaces it (the watcher
 * learns the newer state, and nothing of the order between sessions
 * changes). When the queue is full the stream ends with RESOURCE_EXHAUSTED
 * (WATCH_TOO_SLOW): publishing never waits for a watcher.
 */
export class WatchSessionsCall {
  private readonly queue: Buffered[] = [];
  /** Per conversation id, its newest queued event. */
  private readonly newest = new Map<string, Buffered>();
  private writable = true;
  private ended = false;
  private readonly unsubscribe: () => void;
  /** Resolves once events committed on other sidecars from then on reach this watch too (Subscription.relayed). */
  readonly relayed: Promise<void>;
  private resolveDone!: () => void;
  /** Resolves when the stream has ended, however. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly call: ServerWritableStream<WatchSessionsRequest, WatchSessionsResponse>,
    filter: WatchFilter,
    events: SessionEvents,
    private readonly log: Logger,
    /** Told when the watcher is cut off for being too slow: its failed-call line. */
    private readonly onCutOff: (error: SessionError) => void,
    private readonly bufferEvents = WATCH_BUFFER_EVENTS,
  ) {
    const subscription = events.watch(filter, (event) => this.offer(event));
    this.unsubscribe = subscription.stop;
    this.relayed = subscription.relayed;
    call.on("drain", () => {
      this.writable = true;
      this.flush();
    });
    call.on("cancelled", () => this.finish());
    call.on("error", () => this.finish());
  }

  /** Whether the stream goes on (it has not ended, however). */
  get open(): boolean {
    return !this.ended;
  }

  /** Ends the stream with `error` (after nothing more: events still queued are dropped, and the client must re-list anyway). */
  end(error: SessionError): void {
    if (this.ended) return;
    this.finish();
    this.call.emit("error", toServiceError(error, this.log));
  }

  private offer(event: WatchSessionsResponse): void {
    if (this.ended) return;
    if (this.writable && this.queue.length === 0) {
      this.writable = this.call.write(event);
      return;
    }
    const id = event.session?.conversationId ?? "";
    const newest = this.newest.get(id);
    if (newest && newest.event.type === SessionEventType.UPDATED && event.type === SessionEventType.UPDATED) {
      newest.event = event;
      return;
    }
    if (this.queue.length >= this.bufferEvents) {
      const error = watchTooSlow(this.queue.length);
      this.onCutOff(error);
      this.end(error);
      return;
    }
    const entry = { event };
    this.queue.push(entry);
    this.newest.set(id, entry);
  }

  private flush(): void {
    while (this.writable && this.queue.length > 0 && !this.ended) {
      const entry = this.queue.shift()!;
      const id = entry.event.session?.conversationId ?? "";
      if (this.newest.get(id) === entry) this.newest.delete(id);
      this.writable = this.call.write(entry.event);
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.unsubscribe();
    this.queue.length = 0;
    this.newest.clear();
    this.resolveDone();
  }
}
