import type { Logger } from "pino";
import { Reason, type SessionError } from "../session/errors.js";
import { codeOf } from "./error-status.js";

type Level = "info" | "warn" | "error";

/**
 * How loud a refusal is, by what it says about the system:
 * - info: the answer a correct caller expects now and then and acts on
 *   (not found, exists, ended, a resume refused by its rules, a lost etag
 *   race, a status change the lifecycle forbids); a bridge works through
 *   these every day, and they are what an operator looks up by call.
 * - warn: something is misbehaving but the sidecar is fine: a fenced write
 *   (two bridges think they own a call), a malformed or invalid request (a
 *   client bug), auth failures, limits, overload, shutdown, a watcher too
 *   slow.
 * - error: the sidecar or its storage failed (internal, storage
 *   unavailable or full, damaged data); someone should look.
 */
const levelOf: Record<Reason, Level> = {
  [Reason.SessionNotFound]: "info",
  [Reason.HistoryItemNotFound]: "info",
  [Reason.SessionExists]: "info",
  [Reason.SessionEnded]: "info",
  [Reason.ResumeWindowExpired]: "info",
  [Reason.MaxResumesExceeded]: "info",
  [Reason.InvalidTransition]: "info",
  [Reason.EtagMismatch]: "info",
  [Reason.SessionFenced]: "warn",
  [Reason.InvalidArgument]: "warn",
  [Reason.InvalidPageToken]: "warn",
  [Reason.MalformedRequest]: "warn",
  [Reason.MessageTooLarge]: "warn",
  [Reason.MaxSessions]: "warn",
  [Reason.LimitExceeded]: "warn",
  [Reason.Unauthenticated]: "warn",
  [Reason.PermissionDenied]: "warn",
  [Reason.ShuttingDown]: "warn",
  [Reason.Overloaded]: "warn",
  [Reason.WatchTooSlow]: "warn",
  [Reason.StorageUnavailable]: "error",
  [Reason.StorageFull]: "error",
  [Reason.DataCorrupted]: "error",
  [Reason.Internal]: "error",
};

export interface FailedCall {
  /** The RPC's name, e.g. "ResumeSession". */
  method: string;
  /** Absent when the call failed before it was authenticated. */
  tenant: string | undefined;
  /** The session the call was about, when it named one. */
  conversationId: string | undefined;
  error: SessionError;
  /** From the call's start (or the update's arrival) to its refusal. */
  latencyMs?: number | undefined;
}

/**
 * The one log line of a failed call (or of one refused update on a stream):
 * method, gRPC code, ErrorInfo reason and metadata (epochs, limits: ids and
 * numbers only, as every SessionError's metadata is), tenant and
 * conversation id; never the request.
 */
export function logFailedCall(log: Logger, failed: FailedCall): void {
  const { error } = failed;
  log[levelOf[error.reason]](
    {
      method: failed.method,
      code: codeOf[error.reason],
      reason: error.reason,
      tenant: failed.tenant,
      conversation_id: failed.conversationId ?? error.metadata.conversation_id,
      ...(failed.latencyMs === undefined ? {} : { latency_ms: roundMs(failed.latencyMs) }),
      details: error.metadata,
    },
    `${failed.method} failed: ${error.message}`,
  );
}

export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
