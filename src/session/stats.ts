import { SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";

/** GetStats for one tenant: counts over its unexpired sessions, and counters that outlive them. */
export interface SessionStats {
  activeSessions: number;
  totalSessions: number;
  resumedSessions: number;
  failedResumes: number;
  cleanupCount: number;
  byStatus: Map<SessionStatus, number>;
}

export function emptyStats(): SessionStats {
  return { activeSessions: 0, totalSessions: 0, resumedSessions: 0, failedResumes: 0, cleanupCount: 0, byStatus: new Map() };
}

/** Counts `sessions` unexpired sessions in `status`, `resumed` of which were resumed at least once. */
export function countSessions(stats: SessionStats, status: SessionStatus, sessions: number, resumed: number): void {
  stats.totalSessions += sessions;
  if (status !== SessionStatus.ENDED) stats.activeSessions += sessions;
  stats.resumedSessions += resumed;
  stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + sessions);
}
