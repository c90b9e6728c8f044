import Database from "better-sqlite3";
import { type FieldViolation, type Reason, SessionError } from "../../session/errors.js";

/**
 * Errors as they cross between a store's worker thread and the event loop.
 * Structured cloning keeps an Error's message but not its class or fields,
 * so a SessionError travels as its parts and is rebuilt on arrival; a
 * database failure travels as its code, which is all a client may learn of
 * it; anything else (a bug) as its message and stack, for the log.
 */
export type ThreadError =
  | { kind: "session"; reason: Reason; message: string; metadata: Record<string, string>; violations: FieldViolation[]; cause: string | undefined }
  | { kind: "sqlite"; code: string; message: string }
  | { kind: "other"; message: string; stack: string | undefined };

export function toThreadError(err: unknown): ThreadError {
  if (err instanceof SessionError) {
    // The cause only as text, for the log (a damaged record's decode error).
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    return { kind: "session", reason: err.reason, message: err.message, metadata: err.metadata, violations: err.violations, cause };
  }
  if (err instanceof Database.SqliteError) return { kind: "sqlite", code: err.code, message: err.message };
  return err instanceof Error ? { kind: "other", message: err.message, stack: err.stack } : { kind: "other", message: String(err), stack: undefined };
}

/** The error again, on this side: a SessionError, an SqliteError (so callers can branch on its code), or an Error. */
export function fromThreadError(error: ThreadError): Error {
  switch (error.kind) {
    case "session":
      return new SessionError(error.reason, error.message, {
        metadata: error.metadata,
        violations: error.violations,
        ...(error.cause === undefined ? {} : { cause: new Error(error.cause) }),
      });
    case "sqlite":
      return new Database.SqliteError(error.message, error.code);
    case "other": {
      const rebuilt = new Error(error.message);
      if (error.stack !== undefined) rebuilt.stack = error.stack;
      return rebuilt;
    }
  }
}

/** A verdict (a result, or the SessionError that refused it) as it crosses. */
export type ThreadSlot<T> = T | { threadError: ThreadError };

export function toThreadSlot<T>(slot: T | SessionError): ThreadSlot<T> {
  return slot instanceof SessionError ? { threadError: toThreadError(slot) } : slot;
}

export function fromThreadSlot<T extends object>(slot: ThreadSlot<T>): T | SessionError {
  return "threadError" in slot ? (fromThreadError(slot.threadError) as SessionError) : slot;
}
