import { create } from "@bufbuild/protobuf";
import { type Session, SessionSchema, SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import type { SessionError } from "./errors.js";
import { type CreatePlan, type NewSessionOptions, planCreate } from "./create-plan.js";
import { type SessionRecord, isExpired, touched } from "./record.js";
import { checkResume, resumeRefused } from "./resume.js";

export interface ResumeInput {
  conversationId: string;
  ownerId: string;
  createIfMissing: boolean;
  /** Initial values when created; its conversation_id is ignored. */
  initial: Session | undefined;
}

export type ResumePlan =
  /** Nothing to resume and create_if_missing: store a new ACTIVE session (checkCapacity first). */
  | { kind: "create"; create: CreatePlan }
  /** The new header: one more resume, ACTIVE, the next fencing epoch, the new owner. */
  | { kind: "resume"; record: SessionRecord }
  /** The rules refuse: count a failed resume, write nothing else, fail with `error`. */
  | { kind: "refuse"; error: SessionError };

/**
 * ResumeSession on the header as read (undefined: none stored). Creating
 * happens only for a session that is absent or expired; one that exists is
 * resumed or refused by the resume rules whatever create_if_missing says.
 */
export function planResume(stored: SessionRecord | undefined, input: ResumeInput, options: Omit<NewSessionOptions, "ownerId" | "status">): ResumePlan {
  const { now, rules } = options;
  if (input.createIfMissing && (!stored || isExpired(stored.session, now, rules))) {
    const initial = { ...(input.initial ?? create(SessionSchema)), conversationId: input.conversationId };
    return { kind: "create", create: planCreate(stored, initial, { ...options, ownerId: input.ownerId, status: SessionStatus.ACTIVE }) };
  }
  const verdict = checkResume(stored?.session, now, rules);
  if (!stored || !verdict.valid) return { kind: "refuse", error: resumeRefused(verdict, input.conversationId, stored?.session, rules) };
  const s = stored.session;
  return {
    kind: "resume",
    record: touched(stored, { ...s, resumedCount: s.resumedCount + 1, status: SessionStatus.ACTIVE, ownerEpoch: s.ownerEpoch + 1n, ownerId: input.ownerId }, now),
  };
}
