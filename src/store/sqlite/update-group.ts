import type { Clock } from "../../clock.js";
import type { Session } from "../../gen/sessionstore/v1/session_store_pb.js";
import { notFound, SessionError } from "../../session/errors.js";
import { isExpired, type SessionRecord } from "../../session/record.js";
import type { SessionRules } from "../../session/rules.js";
import { applyUpdate } from "../../session/update.js";
import type { TenantUpdate, UpdateResult } from "../store.js";
import type { SessionTables } from "./session-tables.js";

/** A session touched by the group: its header as the group's updates leave it. */
interface Touched {
  tenant: string;
  conversationId: string;
  /** undefined when there is no row: every update of it is SESSION_NOT_FOUND. */
  record: SessionRecord | undefined;
  /** Whether an update was applied, so the header must be written back. */
  changed: boolean;
}

/**
 * The body of a group commit, run inside the group's one transaction.
 *
 * A group under load holds several updates of the same call (ten audio
 * appends a second each), and per update the header work — SELECT, decode,
 * encode, UPDATE of the row and its two indexes, and the look at the audio
 * ring's oldest chunks — was most of the cost. So each session's header is
 * read once per group, the group's updates of it are applied to that one
 * record in input order (each seeing the ones before it, as update() would),
 * and the header is written and the ring trimmed once at the end. The
 * children are still inserted per update, in input order, so rows and their
 * ids are the same as one update at a time would have made them.
 *
 * Refusals: applyUpdate checks every rule before it changes the record, so a
 * refused update leaves the record — and the updates after it — exactly as
 * if it had not been in the group; it needs no savepoint (savepoints were a
 * quarter of a group's time). Anything else thrown (the database failing)
 * leaves this function and rolls the whole group back. Trimming once at the end keeps the same
 * chunks as trimming after each update: both keep the longest run of newest
 * chunks that fits the ring.
 */
export function applyUpdateGroup(
  tables: SessionTables,
  items: readonly TenantUpdate[],
  rules: SessionRules,
  clock: Clock,
): (UpdateResult | SessionError)[] {
  // Keyed by tenant, then conversation id: the same id in two tenants is two sessions.
  const touched = new Map<string, Map<string, Touched>>();
  const results = items.map(({ tenant, update }): UpdateResult | SessionError => {
    const { conversationId } = update;
    let ofTenant = touched.get(tenant);
    if (ofTenant === undefined) touched.set(tenant, (ofTenant = new Map()));
    let entry = ofTenant.get(conversationId);
    if (entry === undefined) {
      entry = { tenant, conversationId, record: tables.read(tenant, conversationId), changed: false };
      ofTenant.set(conversationId, entry);
    }
    const now = clock.now();
    const { record } = entry;
    if (!record || isExpired(record.session, now, rules)) return notFound(conversationId);
    try {
      const outcome = applyUpdate(record, update, now, rules);
      if (outcome.applied) {
        tables.addChildren(tenant, conversationId, outcome.children);
        entry.changed = true;
      }
      return { session: snapshot(record.session), applied: outcome.applied };
    } catch (err) {
      if (err instanceof SessionError) return err;
      throw err;
    }
  });
  for (const ofTenant of touched.values()) {
    for (const { tenant, conversationId, record, changed } of ofTenant.values()) {
      if (!record || !changed) continue;
      tables.trimAudio(tenant, conversationId, record, rules);
      tables.save(tenant, record);
    }
  }
  return results;
}

/**
 * The header as this update left it. applyUpdate and touch replace fields
 * rather than change the objects they hold, so a shallow copy stays true to
 * that moment while later updates of the group go on with the record.
 */
function snapshot(session: Session): Session {
  return { ...session };
}
