import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.js";
import { type Session, SessionEventType, SessionSchema, WatchSessionsResponseSchema } from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../session/errors.js";
import type { TenantUpdate, UpdateResult } from "../store/store.js";
import { logFailedCall, roundMs } from "./call-log.js";
import { goneEvent, sessionEvent, type SessionEvents, type TenantEvent } from "./session-events.js";

/** Counts since the last summary line (ActivitySummary). */
export interface ActivityCounts {
  created: number;
  resumed: number;
  resumesRefused: number;
  updatesApplied: number;
  updatesDuplicate: number;
  updatesRefused: number;
  fenced: number;
  ended: number;
  deleted: number;
  expired: number;
  callsFailed: number;
}

export function zeroCounts(): ActivityCounts {
  return { created: 0, resumed: 0, resumesRefused: 0, updatesApplied: 0, updatesDuplicate: 0, updatesRefused: 0, fenced: 0, ended: 0, deleted: 0, expired: 0, callsFailed: 0 };
}

/**
 * What the server layer tells once a write has committed, or a call has
 * been refused: the handlers, the group committer and the sweeper report
 * here, whatever the backend, and this turns it into WatchSessions events,
 * log lines and the counts of the summary line. Reports carry ids, epochs
 * and BASIC sessions, never children or request payloads.
 */
export class SessionActivity {
  counts = zeroCounts();

  constructor(
    private readonly events: SessionEvents,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Takes the counts so far and starts new ones. */
  takeCounts(): ActivityCounts {
    const counts = this.counts;
    this.counts = zeroCounts();
    return counts;
  }

  created(tenant: string, session: Session): void {
    this.counts.created += 1;
    this.publish([{ tenant, event: sessionEvent(SessionEventType.CREATED, session, this.now()) }]);
  }

  /** A resume that took the session over (or created it, with create_if_missing). */
  resumed(tenant: string, session: Session, created: boolean, latencyMs: number): void {
    if (created) {
      this.counts.created += 1;
    } else {
      this.counts.resumed += 1;
      // Each resume fences the owner before it: writes with the previous epoch are refused from now on.
      this.log.info(
        {
          method: "ResumeSession",
          tenant,
          conversation_id: session.conversationId,
          owner_epoch: String(session.ownerEpoch),
          fenced_epoch: String(session.ownerEpoch - 1n),
          resumed_count: session.resumedCount,
          latency_ms: roundMs(latencyMs),
        },
        "session resumed; the previous owner is fenced",
      );
    }
    this.publish([{ tenant, event: sessionEvent(created ? SessionEventType.CREATED : SessionEventType.RESUMED, session, this.now()) }]);
  }

  /**
   * A committed group of updates, with each one's result: one UPDATED per
   * session that had an update applied (its state after the group's last),
   * one FENCED per refused write of a replaced owner.
   */
  updatesCommitted(group: readonly TenantUpdate[], results: readonly (UpdateResult | SessionError)[]): void {
    // Events are built only for someone to get them: at thousands of updates a second they are not free.
    const listened = this.events.listened;
    const now = this.now();
    const updated = new Map<string, TenantEvent>();
    const fenced: TenantEvent[] = [];
    results.forEach((result, i) => {
      const { tenant } = group[i]!;
      if (result instanceof SessionError) {
        // Counted, and logged, by the stream that acks it (updateRefused).
        if (result.reason === Reason.SessionFenced) fenced.push(this.fencedEvent(tenant, result, now));
        return;
      }
      if (!result.applied) {
        this.counts.updatesDuplicate += 1;
        return;
      }
      this.counts.updatesApplied += 1;
      if (!listened) return;
      const key = `${tenant}\u0000${result.session.conversationId}`;
      // Deleted and set again so that the map's order is that of each session's last update.
      updated.delete(key);
      updated.set(key, { tenant, event: sessionEvent(SessionEventType.UPDATED, result.session, now) });
    });
    this.publish([...updated.values(), ...fenced]);
  }

  ended(tenant: string, session: Session): void {
    this.counts.ended += 1;
    this.publish([{ tenant, event: sessionEvent(SessionEventType.ENDED, session, this.now()) }]);
  }

  /** Sessions removed by DeleteSession or CleanupSessions. */
  deleted(tenant: string, conversationIds: readonly string[]): void {
    this.counts.deleted += conversationIds.length;
    const now = this.now();
    this.publish(conversationIds.map((id) => ({ tenant, event: goneEvent(SessionEventType.DELETED, id, now) })));
  }

  /** Sessions removed by the sweeper for being idle past max_session_age. */
  expired(tenant: string, conversationIds: readonly string[]): void {
    this.counts.expired += conversationIds.length;
    const now = this.now();
    this.publish(conversationIds.map((id) => ({ tenant, event: goneEvent(SessionEventType.EXPIRED, id, now) })));
  }

  /** A failed unary call, or a stream that ended with an error: its log line, its counts, and FENCED when a write was fenced. */
  callFailed(method: string, tenant: string | undefined, conversationId: string | undefined, error: SessionError, latencyMs?: number): void {
    logFailedCall(this.log, { method, tenant, conversationId, error, latencyMs });
    this.counts.callsFailed += 1;
    if (method === "ResumeSession") this.counts.resumesRefused += 1;
    if (method === "UpdateSession") this.counts.updatesRefused += 1;
    if (error.reason === Reason.SessionFenced && tenant !== undefined) this.publish([this.fencedEvent(tenant, error, this.now())]);
  }

  /**
   * One update refused on a stream (its FENCED event comes with its group,
   * from updatesCommitted). OVERLOADED refusals are counted but not logged
   * one by one: past capacity they come by the thousand a second, and the
   * committer's shedding is what the summary line shows.
   */
  updateRefused(method: string, tenant: string, conversationId: string, error: SessionError, latencyMs: number): void {
    this.counts.updatesRefused += 1;
    if (error.reason !== Reason.Overloaded) logFailedCall(this.log, { method, tenant, conversationId, error, latencyMs });
  }

  private fencedEvent(tenant: string, error: SessionError, timeMs: number): TenantEvent {
    this.counts.fenced += 1;
    const session = create(SessionSchema, {
      conversationId: error.metadata.conversation_id ?? "",
      ownerEpoch: BigInt(error.metadata.owner_epoch ?? "0"),
      ownerId: error.metadata.owner_id ?? "",
    });
    return { tenant, event: create(WatchSessionsResponseSchema, { type: SessionEventType.FENCED, session, time: timestampFromMs(timeMs) }) };
  }

  private publish(events: TenantEvent[]): void {
    this.events.publish(events);
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}
