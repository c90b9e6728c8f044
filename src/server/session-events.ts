import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import {
  type Session,
  SessionEventType,
  SessionSchema,
  type SessionStatus,
  type WatchSessionsResponse,
  WatchSessionsResponseSchema,
} from "../gen/sessionstore/v1/session_store_pb.js";
import { withEncodedField } from "../grpc/encoded-message.js";
import { encodedHeader } from "../session/encoded-header.js";
import { withoutChildren } from "../session/record.js";
import type { EventRelay } from "../store/store.js";
import { RelayLink } from "./relay-link.js";

/** One event of one tenant's session, as watchers get it. */
export interface TenantEvent {
  tenant: string;
  event: WatchSessionsResponse;
}

/** What a watcher asked for (WatchSessionsRequest). */
export interface WatchFilter {
  tenant: string;
  /** "" for every session. */
  conversationId: string;
  /** Empty for every status. */
  statuses: readonly SessionStatus[];
}

export type EventSink = (event: WatchSessionsResponse) => void;

/** One watcher's subscription (SessionEvents.watch). */
export interface Subscription {
  /** Resolves once events committed on other sidecars from then on reach this watcher too. */
  relayed: Promise<void>;
  stop(): void;
}

/**
 * An event on the wire: its session's header bytes as the store encoded them
 * (encodedHeader), beside the type and time, instead of the whole session
 * encoded again for every event a group publishes.
 */
function encodedEvent(event: WatchSessionsResponse): Uint8Array {
  if (!event.session) return toBinary(WatchSessionsResponseSchema, event);
  const { type, time } = event;
  return withEncodedField(WatchSessionsResponseSchema, { type, time }, WatchSessionsResponseSchema.field.session.number, encodedHeader(event.session)).bytes;
}

/** A session event at `timeMs`, its session BASIC (a FULL one is stripped here, so no caller can send children). */
export function sessionEvent(type: SessionEventType, session: Session, timeMs: number): WatchSessionsResponse {
  return create(WatchSessionsResponseSchema, { type, session: withoutChildren(session), time: timestampFromMs(timeMs) });
}

/** The event of a session that is gone: only its id is left to tell. */
export function goneEvent(type: SessionEventType.DELETED | SessionEventType.EXPIRED, conversationId: string, timeMs: number): WatchSessionsResponse {
  return create(WatchSessionsResponseSchema, { type, session: create(SessionSchema, { conversationId }), time: timestampFromMs(timeMs) });
}

function matches(filter: WatchFilter, tenant: string, event: WatchSessionsResponse): boolean {
  if (tenant !== filter.tenant) return false;
  const session = event.session;
  if (filter.conversationId !== "" && session?.conversationId !== filter.conversationId) return false;
  if (filter.statuses.length === 0) return true;
  // A session that is gone had some status; a watcher of any status must learn that it is gone.
  if (event.type === SessionEventType.DELETED || event.type === SessionEventType.EXPIRED) return true;
  return session !== undefined && filter.statuses.includes(session.status);
}

/**
 * Where the server layer publishes what committed and watchers subscribe:
 * one place, whatever the backend. Local watchers get an event in the same
 * turn it is published, synchronously and in publish order. With a relay
 * (Redis pub/sub), each published batch is also sent, as one message, to the
 * other sidecars of the same data that may listen, and their batches are
 * delivered here while it has watchers (RelayLink decides both); a batch
 * carries its sidecar's random id so that this sidecar's own batches, which
 * come back from the relay too, are not delivered twice.
 *
 * Publishing never waits: a sink only queues (WatchSessionsCall bounds its
 * queue), and the relay's send is fire-and-forget.
 */
export class SessionEvents {
  private readonly watchers = new Set<{ filter: WatchFilter; sink: EventSink }>();
  private readonly origin = randomBytes(8).toString("hex");
  private link: RelayLink | undefined;
  private relayFailing = false;

  constructor(private readonly log: Logger) {}

  /** Starts sharing events through `relay` with the other sidecars that use it. */
  async connect(relay: EventRelay): Promise<void> {
    const link = new RelayLink(relay, this.origin, (message) => this.received(message), this.log);
    await link.open();
    this.link = link;
  }

  /** Stops sharing; local watchers keep their events until they end. */
  async disconnect(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    await link?.close();
  }

  /** Delivers the events to the matching local watchers and, through the relay, to the other sidecars that may listen. */
  publish(events: readonly TenantEvent[]): void {
    if (events.length === 0) return;
    this.deliver(events);
    if (this.link?.othersMayListen) this.send(this.link, events);
  }

  /** Whether a published event would reach anyone: a local watcher, or another sidecar through the relay. */
  get listened(): boolean {
    return this.watchers.size > 0 || this.link?.othersMayListen === true;
  }

  /** Subscribes `sink` to the events that match `filter`. */
  watch(filter: WatchFilter, sink: EventSink): Subscription {
    const watcher = { filter, sink };
    this.watchers.add(watcher);
    return {
      relayed: this.link?.listen() ?? Promise.resolve(),
      stop: () => {
        if (this.watchers.delete(watcher) && this.watchers.size === 0) this.link?.idle();
      },
    };
  }

  private deliver(events: readonly TenantEvent[]): void {
    if (this.watchers.size === 0) return;
    for (const { tenant, event } of events) {
      for (const { filter, sink } of this.watchers) {
        if (!matches(filter, tenant, event)) continue;
        try {
          sink(event);
        } catch (err) {
          // A watcher's failure is its own: the write has committed, and the other watchers still get the event.
          this.log.error({ err }, "a watcher failed to take an event");
        }
      }
    }
  }

  private send(link: RelayLink, events: readonly TenantEvent[]): void {
    const frame = JSON.stringify({
      origin: this.origin,
      events: events.map(({ tenant, event }) => [tenant, Buffer.from(encodedEvent(event)).toString("base64")]),
    });
    link.send(frame).then(
      () => {
        if (this.relayFailing) this.log.info("session events reach the other sidecars again");
        this.relayFailing = false;
      },
      (err: unknown) => {
        // Once per outage: the writes themselves are committed, only other sidecars' watchers miss these events.
        if (!this.relayFailing) this.log.warn({ err }, "cannot send session events to the other sidecars; their watchers miss them until this passes");
        this.relayFailing = true;
      },
    );
  }

  private received(message: string): void {
    // Between the last watcher and the unsubscribe (RelayLink.idle) there is no one to decode for.
    if (this.watchers.size === 0) return;
    let frame: { origin?: unknown; events?: unknown };
    try {
      frame = JSON.parse(message) as typeof frame;
    } catch (err) {
      this.log.warn({ err }, "ignoring a session-event message that is not JSON");
      return;
    }
    if (frame.origin === this.origin || !Array.isArray(frame.events)) return;
    const events: TenantEvent[] = [];
    for (const entry of frame.events as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "string") continue;
      try {
        events.push({ tenant: entry[0], event: fromBinary(WatchSessionsResponseSchema, Buffer.from(entry[1], "base64")) });
      } catch (err) {
        this.log.warn({ err }, "ignoring a session event that cannot be decoded");
      }
    }
    this.deliver(events);
  }
}
