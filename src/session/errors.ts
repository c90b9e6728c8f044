/**
 * The closed set of reasons a sessionstore operation can fail for, and the one
 * error class that carries them. The reason is what clients see (as
 * google.rpc.ErrorInfo.reason); the cause is kept for logs and never sent.
 */
export const Reason = {
  InvalidArgument: "INVALID_ARGUMENT",
  InvalidPageToken: "INVALID_PAGE_TOKEN",
  MalformedRequest: "MALFORMED_REQUEST",
  MessageTooLarge: "MESSAGE_TOO_LARGE",
  SessionNotFound: "SESSION_NOT_FOUND",
  HistoryItemNotFound: "HISTORY_ITEM_NOT_FOUND",
  SessionExists: "SESSION_EXISTS",
  MaxSessions: "MAX_SESSIONS",
  LimitExceeded: "LIMIT_EXCEEDED",
  SessionEnded: "SESSION_ENDED",
  ResumeWindowExpired: "RESUME_WINDOW_EXPIRED",
  MaxResumesExceeded: "MAX_RESUMES_EXCEEDED",
  SessionFenced: "SESSION_FENCED",
  InvalidTransition: "INVALID_TRANSITION",
  EtagMismatch: "ETAG_MISMATCH",
  Unauthenticated: "UNAUTHENTICATED",
  PermissionDenied: "PERMISSION_DENIED",
  StorageUnavailable: "STORAGE_UNAVAILABLE",
  StorageFull: "STORAGE_FULL",
  ShuttingDown: "SHUTTING_DOWN",
  Overloaded: "OVERLOADED",
  WatchTooSlow: "WATCH_TOO_SLOW",
  DataCorrupted: "DATA_CORRUPTED",
  Internal: "INTERNAL",
} as const;

export type Reason = (typeof Reason)[keyof typeof Reason];

/** One invalid field of a request, reported as google.rpc.BadRequest. */
export interface FieldViolation {
  /** Path to the field, e.g. "update.session.status". */
  field: string;
  description: string;
}

export interface SessionErrorOptions {
  /** Facts for the client, sent as ErrorInfo.metadata (e.g. the current epoch). */
  metadata?: Record<string, string>;
  /** Invalid fields, for INVALID_ARGUMENT. */
  violations?: FieldViolation[];
  /** How long the client should wait before it retries (sent as google.rpc.RetryInfo). */
  retryAfterMs?: number;
  /** The underlying failure: logged, never sent to clients. */
  cause?: unknown;
}

export class SessionError extends Error {
  readonly reason: Reason;
  readonly metadata: Record<string, string>;
  readonly violations: FieldViolation[];
  readonly retryAfterMs: number | undefined;

  constructor(reason: Reason, message: string, options: SessionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SessionError";
    this.reason = reason;
    this.metadata = options.metadata ?? {};
    this.violations = options.violations ?? [];
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** An INVALID_ARGUMENT error listing every violation, or nothing when there is none. */
export function throwIfInvalid(violations: FieldViolation[]): void {
  if (violations.length === 0) return;
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  throw new SessionError(Reason.InvalidArgument, `invalid request: ${summary}`, { violations });
}

export function notFound(conversationId: string): SessionError {
  return new SessionError(Reason.SessionNotFound, `session "${conversationId}" not found`, {
    metadata: { conversation_id: conversationId },
  });
}

/**
 * A history edit or a history window named an item the session does not
 * hold: the write or read is refused as a whole, since applying the rest
 * would leave the bridge's idea of the history and the store's apart.
 */
export function historyItemNotFound(conversationId: string, itemId: string, field: string): SessionError {
  return new SessionError(Reason.HistoryItemNotFound, `session "${conversationId}" has no history item "${itemId}" (${field}); nothing was applied`, {
    metadata: { conversation_id: conversationId, item_id: itemId, field },
  });
}

export function sessionExists(conversationId: string, status: string): SessionError {
  return new SessionError(Reason.SessionExists, `session "${conversationId}" already exists; resume it, or delete it first`, {
    metadata: { conversation_id: conversationId, status },
  });
}

/**
 * The store-wide cap is reached. The message and metadata name only the
 * configured cap: how many sessions other tenants hold is theirs to know.
 */
export function maxSessionsReached(maxSessions: number): SessionError {
  return new SessionError(
    Reason.MaxSessions,
    `the sidecar holds as many live sessions as it may (max_sessions ${maxSessions}, shared by every tenant); retry later, or raise max_sessions`,
    { metadata: { limit: "max_sessions", max_sessions: String(maxSessions) } },
  );
}

/** The caller's tenant holds its cap of live sessions: its own figures only. */
export function tenantMaxSessionsReached(live: number, maxSessionsPerTenant: number): SessionError {
  return new SessionError(
    Reason.MaxSessions,
    `this tenant already holds ${live} live sessions, its limit (max_sessions_per_tenant ${maxSessionsPerTenant}); end or delete some of its sessions, or raise max_sessions_per_tenant`,
    { metadata: { limit: "max_sessions_per_tenant", max_sessions_per_tenant: String(maxSessionsPerTenant), tenant_live_sessions: String(live) } },
  );
}

/** The caller's token may not do this: `needed` is the role that may, `role` the token's. */
export function permissionDenied(action: string, role: string, needed: string): SessionError {
  return new SessionError(Reason.PermissionDenied, `a token with role ${role} may not ${action}; that takes a token with role ${needed} in this tenant`, {
    metadata: { role, required_role: needed },
  });
}

/**
 * The disk under the database has no room for a write: it was not applied,
 * and writes succeed again once an operator frees space. Not UNAVAILABLE,
 * which clients retry at once: nothing changes until someone acts.
 */
export function storageFull(cause: unknown): SessionError {
  return new SessionError(Reason.StorageFull, "the disk holding the session database is full: no write is applied until space is freed, and this one was not", { cause });
}

/** Why an open update stream is ended while the sidecar stops: everything acknowledged on it is stored. */
export function shuttingDown(): SessionError {
  return new SessionError(Reason.ShuttingDown, "the sidecar is shutting down; reconnect and resend what was not acknowledged");
}

/**
 * A WatchSessions stream whose reader fell so far behind that its buffer
 * filled: it is ended rather than let grow or slow the writers, and the
 * watcher has missed events, so it must list again before it watches again.
 */
export function watchTooSlow(bufferedEvents: number): SessionError {
  return new SessionError(
    Reason.WatchTooSlow,
    `this watcher fell ${bufferedEvents} events behind and was cut off; events were missed: ListSessions to catch up, then WatchSessions again`,
    { metadata: { buffered_events: String(bufferedEvents) } },
  );
}

/**
 * An update that waited longer than the queue timeout for its commit: it
 * was not applied, nor was any later update of its session on the same
 * stream, and the client should send them again, in order, after a pause.
 */
export function overloaded(queueTimeoutMs: number, retryAfterMs: number): SessionError {
  return new SessionError(
    Reason.Overloaded,
    `the sidecar is overloaded: this update waited more than ${queueTimeoutMs} ms for its commit and was not applied; resend it, and the session's updates after it, in ${retryAfterMs} ms or later`,
    { metadata: { queue_timeout_ms: String(queueTimeoutMs) }, retryAfterMs },
  );
}

/** The parts of a stored session that can be found damaged, as DATA_CORRUPTED names them. */
export type StoredPart = "header" | "history" | "function_call" | "audio";

/**
 * A stored record of the session that cannot be read back: undecodable, or
 * decoded into something the store never writes. Retrying cannot help, so it
 * is DATA_LOSS rather than INTERNAL; the session stays damaged until it is
 * deleted or restored, and no other session is affected.
 */
export function dataCorrupted(conversationId: string, part: StoredPart, cause: unknown): SessionError {
  return new SessionError(
    Reason.DataCorrupted,
    `the stored ${part.replace("_", " ")} of session "${conversationId}" is damaged and cannot be read; delete the session or restore the store from a backup`,
    { metadata: { conversation_id: conversationId, part }, cause },
  );
}

export function isDataCorrupted(err: unknown): err is SessionError {
  return err instanceof SessionError && err.reason === Reason.DataCorrupted;
}

/** Where an undecodable message was, on an update stream: the message's index on the stream, and the update's in a batch. */
export interface MessagePosition {
  /** Index of the message on the stream, counting from 0. */
  frame?: number;
  /** Index of the update within a StreamUpdateBatches message, counting from 0. */
  element?: number;
}

/**
 * A request whose bytes are not a message of its type (truncated, a wrong
 * wire type, invalid UTF-8 in a string, nested too deep): nothing of it is
 * applied, and sending it again cannot succeed.
 */
export function malformedRequest(typeName: string, problem: string, at: MessagePosition = {}): SessionError {
  const metadata: Record<string, string> = { message_type: typeName };
  let what = `the request (${typeName})`;
  if (at.frame !== undefined) {
    metadata.frame_index = String(at.frame);
    what = `message ${at.frame} of the stream (counting from 0; ${typeName})`;
  }
  if (at.element !== undefined) {
    metadata.update_index = String(at.element);
    what += `, update ${at.element} in it,`;
  }
  return new SessionError(Reason.MalformedRequest, `${what} could not be decoded: ${problem}`, { metadata });
}

/** A request larger than the sidecar accepts; grpc-js refused it before it was read, so none of it is applied. */
export function messageTooLarge(maxMessageBytes: number, problem: string): SessionError {
  return new SessionError(Reason.MessageTooLarge, `the request is larger than max_message_bytes (${maxMessageBytes} bytes): ${problem}`, {
    metadata: { max_message_bytes: String(maxMessageBytes) },
  });
}
