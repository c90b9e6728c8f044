import type { SessionUpdate } from "../gen/sessionstore/v1/session_store_pb.js";
import { Reason, SessionError } from "../session/errors.js";
import type { UpdateResult, UpdatesPlan } from "../session/update-plan.js";
import type { Store, TenantUpdate } from "./store.js";

/**
 * Store.updateMany, shared by every backend: a group of updates split by
 * session, each session's updates decided together by planUpdates on one
 * read of its header, and the verdicts put back in input order. A backend
 * supplies only the read and the write (decide), or, when it must retry
 * sessions on its own (Redis), uses sessionGroups and placeResults directly.
 */

/** One session's share of a group: its updates in input order, and where each sits in the input. */
export interface SessionGroup {
  tenant: string;
  conversationId: string;
  updates: SessionUpdate[];
  positions: number[];
}

/** The group split by session, in order of first appearance. The same id in two tenants is two sessions. */
export function sessionGroups(items: readonly TenantUpdate[]): SessionGroup[] {
  const byTenant = new Map<string, Map<string, SessionGroup>>();
  const groups: SessionGroup[] = [];
  items.forEach(({ tenant, update }, position) => {
    let ofTenant = byTenant.get(tenant);
    if (ofTenant === undefined) byTenant.set(tenant, (ofTenant = new Map()));
    let group = ofTenant.get(update.conversationId);
    if (group === undefined) {
      group = { tenant, conversationId: update.conversationId, updates: [], positions: [] };
      ofTenant.set(update.conversationId, group);
      groups.push(group);
    }
    group.updates.push(update);
    group.positions.push(position);
  });
  return groups;
}

/** Puts one session's verdicts into their slots of the group's results. */
export function placeResults(results: (UpdateResult | SessionError)[], group: SessionGroup, verdicts: readonly (UpdateResult | SessionError)[]): void {
  group.positions.forEach((position, i) => (results[position] = verdicts[i]!));
}

/**
 * The verdicts of a whole group, deciding (and writing) one session at a
 * time with `decide`, synchronously: inside one SQLite transaction, or on
 * the memory store's maps. An exception from `decide` propagates, and the
 * caller's transaction decides what survives it.
 */
export function decideGroups(items: readonly TenantUpdate[], decide: (group: SessionGroup) => UpdatesPlan): (UpdateResult | SessionError)[] {
  const results: (UpdateResult | SessionError)[] = new Array(items.length);
  for (const group of sessionGroups(items)) placeResults(results, group, decide(group).results);
  return results;
}

/** Store.update as a group of one, on the same path as the update stream's group commit. */
export async function updateAlone(store: Pick<Store, "updateMany">, tenant: string, update: SessionUpdate): Promise<UpdateResult> {
  const [result] = await store.updateMany([{ tenant, update }]);
  if (result instanceof SessionError) throw result;
  return result!;
}

/** The verdict for every update of a session whose decision failed for a reason that is not a rule (a bug). */
export function internalFailure(group: SessionGroup, cause: unknown): UpdatesPlan {
  const error = new SessionError(Reason.Internal, "internal error in the sidecar; its log has the details", { cause });
  return { results: group.updates.map(() => error), write: undefined };
}
