import { type Session, SessionStatus, SessionView } from "../gen/sessionstore/v1/session_store_pb.js";
import { notFound } from "./errors.js";
import { isExpired, type SessionRecord } from "./record.js";
import type { SessionRules } from "./rules.js";

/**
 * What reads may see, decided once for every backend: an expired session is
 * absent whether or not cleanup has reached it, a read's default view is its
 * RPC's, and a list shows every status but ENDED unless asked otherwise.
 */

/** The record a read or write may act on: SESSION_NOT_FOUND when there is none or it has expired. */
export function visibleRecord(conversationId: string, record: SessionRecord | undefined, now: Date, rules: SessionRules): SessionRecord {
  if (!record || isExpired(record.session, now, rules)) throw notFound(conversationId);
  return record;
}

/** Whether a read in `view` returns the children; `fallback` is the RPC's default (UNSPECIFIED). */
export function isFullView(view: SessionView, fallback: SessionView): boolean {
  return (view === SessionView.UNSPECIFIED ? fallback : view) === SessionView.FULL;
}

/** Every status but ENDED: what counts against max_sessions, and what a list shows by default. */
export const nonEndedStatuses: readonly SessionStatus[] = [SessionStatus.INITIATED, SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ERROR];

/** The statuses a ListSessions request selects: empty means every status but ENDED. */
export function listedStatuses(statuses: readonly SessionStatus[]): readonly SessionStatus[] {
  return statuses.length === 0 ? nonEndedStatuses : statuses;
}

export interface ListFilter {
  statuses: readonly SessionStatus[];
  /** "" means any. */
  bridgeType: string;
}

/** Whether a stored session belongs in a list with this filter at `now`. */
export function isListed(session: Session, filter: ListFilter, now: Date, rules: SessionRules): boolean {
  if (isExpired(session, now, rules)) return false;
  if (!listedStatuses(filter.statuses).includes(session.status)) return false;
  return filter.bridgeType === "" || session.bridgeType === filter.bridgeType;
}
