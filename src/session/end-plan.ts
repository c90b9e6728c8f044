import { SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import { visibleRecord } from "./reads.js";
import { type SessionRecord, touched } from "./record.js";
import type { SessionRules } from "./rules.js";
import { checkEtag, checkFence } from "./update.js";

export interface EndInput {
  conversationId: string;
  reason: string;
  ownerEpoch: bigint;
  etag: string;
}

/** The header EndSession leaves; `changed` false when the session had already ended (nothing to write). */
export interface EndPlan {
  record: SessionRecord;
  changed: boolean;
}

/**
 * EndSession: SESSION_NOT_FOUND, then (unless already ended, which is
 * returned unchanged so that retrying is safe) SESSION_FENCED and
 * ETAG_MISMATCH as for an update; ENDED with the reason, "normal" when empty.
 */
export function planEnd(stored: SessionRecord | undefined, input: EndInput, now: Date, rules: SessionRules): EndPlan {
  const record = visibleRecord(input.conversationId, stored, now, rules);
  const s = record.session;
  if (s.status === SessionStatus.ENDED) return { record, changed: false };
  checkFence(s, input.ownerEpoch);
  checkEtag(s, input.etag);
  return { record: touched(record, { ...s, status: SessionStatus.ENDED, endReason: input.reason === "" ? "normal" : input.reason }, now), changed: true };
}
