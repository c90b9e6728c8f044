import { SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "./errors.js";

/**
 * Where a bridge's update may move a session. ENDED is reached only through
 * EndSession (so it always carries an end reason) and never left; ERROR is
 * reachable from every live state and can be left again by a resume or an update.
 */
const allowed: Record<SessionStatus, readonly SessionStatus[]> = {
  [SessionStatus.UNSPECIFIED]: [],
  [SessionStatus.INITIATED]: [SessionStatus.ACTIVE, SessionStatus.PAUSED, SessionStatus.ERROR],
  [SessionStatus.ACTIVE]: [SessionStatus.PAUSED, SessionStatus.ERROR],
  [SessionStatus.PAUSED]: [SessionStatus.ACTIVE, SessionStatus.ERROR],
  [SessionStatus.ERROR]: [SessionStatus.ACTIVE, SessionStatus.PAUSED],
  [SessionStatus.ENDED]: [],
};

export function statusName(status: SessionStatus): string {
  return SessionStatus[status] ?? String(status);
}

export function isKnownStatus(status: number): status is SessionStatus {
  return status >= SessionStatus.INITIATED && status <= SessionStatus.ERROR;
}

/** Throws SESSION_ENDED or INVALID_TRANSITION unless an update may move `from` to `to`. */
export function checkTransition(conversationId: string, from: SessionStatus, to: SessionStatus): void {
  if (from === SessionStatus.ENDED) throw endedError(conversationId);
  if (from === to) return;
  if (to === SessionStatus.ENDED) {
    throw new SessionError(Reason.InvalidTransition, "use EndSession to end a session, so it records an end reason", {
      metadata: { from: statusName(from), to: statusName(to) },
    });
  }
  if (!allowed[from].includes(to)) {
    throw new SessionError(Reason.InvalidTransition, `a session cannot move from ${statusName(from)} to ${statusName(to)}`, {
      metadata: { from: statusName(from), to: statusName(to) },
    });
  }
}

export function endedError(conversationId: string): SessionError {
  return new SessionError(Reason.SessionEnded, `session "${conversationId}" has ended; it cannot be written or resumed`, {
    metadata: { conversation_id: conversationId },
  });
}
