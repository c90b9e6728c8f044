import type { SessionUpdate } from "../gen/sessionstore/v1/session_store_pb.js";
import { permissionDenied } from "../session/errors.js";
import type { Caller } from "./auth.js";

/**
 * What a bridge token may not do, written once for every backend and both
 * ways in (unary calls and update streams). A bridge runs its own calls: it
 * creates and resumes sessions (a resume is how a call moves to it, fencing
 * the previous owner), reads them, and writes and ends them with the epoch
 * its resume handed out. Whatever reaches past that fence needs an admin:
 *
 * - a write or end with owner_epoch 0, which overwrites whichever bridge owns
 *   the call now;
 * - DeleteSession and CleanupSessions, which remove calls outright;
 * - ListSessions, which shows every call of the tenant. A bridge knows its
 *   own calls; and owner_id is whatever the caller says, not something its
 *   token proves, so "list only your own" would be no boundary at all;
 * - WatchSessions without a conversation_id, for the same reason; watching
 *   one session shows no more than reading it.
 *
 * Returns the PERMISSION_DENIED error, or undefined when the call may go on.
 */
export function refusalOf(method: string, request: unknown, caller: Caller): ReturnType<typeof permissionDenied> | undefined {
  if (caller.role === "admin") return undefined;
  switch (method) {
    case "UpdateSession":
      return updateRefusal((request as { update?: SessionUpdate }).update, caller);
    case "EndSession":
      return (request as { ownerEpoch: bigint }).ownerEpoch === 0n ? permissionDenied("end a session without its owner_epoch", caller.role, "admin") : undefined;
    case "DeleteSession":
      return permissionDenied("delete sessions", caller.role, "admin");
    case "CleanupSessions":
      return permissionDenied("clean up sessions", caller.role, "admin");
    case "ListSessions":
      return permissionDenied("list the tenant's sessions", caller.role, "admin");
    case "WatchSessions":
      return (request as { conversationId: string }).conversationId === "" ? permissionDenied("watch every session of the tenant (name a conversation_id)", caller.role, "admin") : undefined;
    default:
      return undefined;
  }
}

/** The refusal for one update, unary or streamed: a bridge writes only with the session's owner_epoch. */
export function updateRefusal(update: SessionUpdate | undefined, caller: Caller): ReturnType<typeof permissionDenied> | undefined {
  if (caller.role === "admin" || update === undefined || update.ownerEpoch !== 0n) return undefined;
  return permissionDenied("write without the session's owner_epoch (owner_epoch 0 is the unfenced write)", caller.role, "admin");
}
