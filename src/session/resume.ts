import { type Session, SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "./errors.js";
import { isExpired, lastActivityMs } from "./record.js";
import type { SessionRules } from "./rules.js";

/** The plan's reason strings; bridges and their tests match on them exactly. */
export const ResumeReasonText = {
  valid: "Valid resume request",
  notFound: "Session not found",
  ended: "Session already ended",
  tooOld: "Session too old to resume",
  tooManyResumes: "Maximum resume attempts exceeded",
} as const;

export interface ResumeVerdict {
  valid: boolean;
  /** One of ResumeReasonText. */
  reason: string;
  /** The ErrorInfo reason a refused resume fails with; "" when valid. */
  code: Reason | "";
}

/**
 * The resume rules, in the plan's order: not found, ended, idle longer than
 * the resume window, resumed too often. A session past the resume window is
 * reported as too old even when it is also past its expiry and merely not
 * swept yet, so a late reconnect learns why rather than "not found"; one that
 * passes every rule but has expired (a resume window longer than the session
 * lifetime) is absent, as it is to every read.
 */
export function checkResume(session: Session | undefined, now: Date, rules: SessionRules): ResumeVerdict {
  if (!session) return { valid: false, reason: ResumeReasonText.notFound, code: Reason.SessionNotFound };
  if (session.status === SessionStatus.ENDED) return { valid: false, reason: ResumeReasonText.ended, code: Reason.SessionEnded };
  if (now.getTime() - lastActivityMs(session) > rules.maxResumeAgeMs) {
    return { valid: false, reason: ResumeReasonText.tooOld, code: Reason.ResumeWindowExpired };
  }
  if (session.resumedCount >= rules.maxResumeAttempts) {
    return { valid: false, reason: ResumeReasonText.tooManyResumes, code: Reason.MaxResumesExceeded };
  }
  if (isExpired(session, now, rules)) return checkResume(undefined, now, rules);
  return { valid: true, reason: ResumeReasonText.valid, code: "" };
}

/** The error a refused resume fails with: the plan's reason text plus facts to act on. */
export function resumeRefused(verdict: ResumeVerdict, conversationId: string, session: Session | undefined, rules: SessionRules): SessionError {
  const metadata: Record<string, string> = { conversation_id: conversationId };
  if (verdict.code === Reason.MaxResumesExceeded && session) {
    metadata.resumed_count = String(session.resumedCount);
    metadata.max_resume_attempts = String(rules.maxResumeAttempts);
  }
  if (verdict.code === Reason.ResumeWindowExpired) metadata.max_resume_age_seconds = String(rules.maxResumeAgeMs / 1000);
  const reason = verdict.code === "" ? Reason.Internal : verdict.code;
  return new SessionError(reason, verdict.reason, { metadata });
}
