import { isDataCorrupted } from "./errors.js";
import { visibleRecord } from "./reads.js";
import type { SessionRecord } from "./record.js";
import type { SessionRules } from "./rules.js";
import { checkEtag } from "./update.js";

/**
 * DeleteSession: SESSION_NOT_FOUND when absent or expired, ETAG_MISMATCH on a
 * stale etag. Returns the record to remove, whose version a store with
 * optimistic commits checks again as it deletes.
 */
export function planDelete(stored: SessionRecord | undefined, conversationId: string, etag: string, now: Date, rules: SessionRules): SessionRecord {
  const record = visibleRecord(conversationId, stored, now, rules);
  checkEtag(record.session, etag);
  return record;
}

/**
 * Whether a delete goes ahead although reading the session's header failed
 * with `readError`. A damaged header cannot be checked against an etag or for
 * expiry, but a delete without an etag removes the session all the same:
 * short of a backup, it is the way out for the session and its id.
 */
export function deletesDespite(readError: unknown, etag: string): boolean {
  return isDataCorrupted(readError) && etag === "";
}
