import { SessionStatus } from "../gen/sessionstore/v1/session_store_pb.js";
import { isExpired, lastActivityMs, type SessionRecord, touched } from "./record.js";
import type { SessionRules } from "./rules.js";

/**
 * Abandoned calls: a session left PAUSED (its bridge lost the platform
 * socket and no reconnect came) for longer than pause_grace is ended by the
 * sweeper, so it stops holding a max_sessions place for the whole resume
 * window. Off when pause_grace is 0, the default: a PAUSED call then waits
 * for a resume until it expires, as before.
 */

/** The end_reason the sweeper gives an abandoned call. */
export const ABANDONED_REASON = "abandoned";

/** Sessions PAUSED with their last activity before this instant are abandoned; undefined when the rule is off. */
export function abandonCutoffMs(now: Date, rules: SessionRules): number | undefined {
  return rules.pauseGraceMs > 0 ? now.getTime() - rules.pauseGraceMs : undefined;
}

/**
 * The header an abandoned session is ended with (ENDED, end_reason
 * "abandoned", a new version and last activity, as EndSession leaves it), or
 * undefined when the stored session is not abandoned (any more): absent,
 * expired (the sweeper deletes it instead), not PAUSED, or active again
 * within the grace. A store finds candidates through an index and decides on
 * each with this, inside the step that writes it.
 */
export function planAbandon(stored: SessionRecord | undefined, now: Date, rules: SessionRules): SessionRecord | undefined {
  const cutoff = abandonCutoffMs(now, rules);
  if (cutoff === undefined || !stored) return undefined;
  const s = stored.session;
  if (s.status !== SessionStatus.PAUSED || isExpired(s, now, rules) || lastActivityMs(s) >= cutoff) return undefined;
  return touched(stored, { ...s, status: SessionStatus.ENDED, endReason: ABANDONED_REASON }, now);
}
