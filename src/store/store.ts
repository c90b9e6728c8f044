import type { Session, SessionStatus, SessionUpdate, SessionView } from "../gen/sessionstore/v1/session_store_pb.js";
import type { SessionError } from "../session/errors.js";
import type { HistoryWindow } from "../session/history-window.js";
import type { ResumeVerdict } from "../session/resume.js";
import type { SessionStats } from "../session/stats.js";
import type { UpdateResult } from "../session/update-plan.js";

export type { UpdateResult } from "../session/update-plan.js";

/**
 * The storage contract every backend implements and test/conformance checks.
 *
 * Sessions are keyed by (tenant, conversation_id): nothing one tenant does can
 * read or change another's sessions. Inputs have passed the request checks of
 * session/validate.ts; rules that need stored state (fencing, seq, etag,
 * lifecycle, resume rules, max_sessions, the audio cap) are enforced here, by
 * the functions of src/session, inside one atomic step per call so that two
 * callers racing cannot both win.
 *
 * Time comes from the Clock the backend was given. A session whose
 * last_activity is older than max_session_age is expired: every read treats it
 * as absent, whether or not cleanup has removed it yet.
 *
 * Failures are SessionError: SESSION_NOT_FOUND, SESSION_EXISTS, MAX_SESSIONS,
 * SESSION_ENDED, RESUME_WINDOW_EXPIRED, MAX_RESUMES_EXCEEDED, SESSION_FENCED,
 * INVALID_TRANSITION, ETAG_MISMATCH, INVALID_ARGUMENT as each method says;
 * STORAGE_UNAVAILABLE when the backend cannot be reached. A failed call
 * changes nothing.
 */
export interface Store {
  /**
   * Stores a new session: status INITIATED, owner_epoch 1, resumed_count 0,
   * with the input's children as its first history, calls and audio.
   * SESSION_EXISTS when the id is taken by a session that has not expired
   * (ended ones included); an expired one is replaced. MAX_SESSIONS when the
   * tenant already holds max_sessions_per_tenant live sessions (when set) or
   * the store max_sessions, counted exactly without a scan of the store.
   * Returns the FULL session.
   */
  create(tenant: string, input: Session, ownerId: string): Promise<Session>;

  /** The session in the given view (UNSPECIFIED = FULL). SESSION_NOT_FOUND when absent or expired. No side effects. */
  get(tenant: string, conversationId: string, view: SessionView): Promise<Session>;

  /**
   * get in the FULL view, as the encoded Session: for a store that keeps
   * children as protobuf binary, so that a long call's history is sent as
   * stored rather than decoded and encoded again. Same rules and errors as get.
   */
  getFullEncoded?(tenant: string, conversationId: string): Promise<Uint8Array>;

  /**
   * get in the FULL view with a window of the history only (see
   * session/history-window.ts), read at a cost that follows the window, not
   * the history. HISTORY_ITEM_NOT_FOUND when after_item_id names no item.
   */
  getWindow(tenant: string, conversationId: string, window: HistoryWindow): Promise<WindowedRead>;

  /** getWindow, encoded (see getFullEncoded, and why). Same rules and errors. */
  getWindowEncoded?(tenant: string, conversationId: string, window: HistoryWindow): Promise<WindowedRead<Uint8Array>>;

  /**
   * Checks the resume rules and, when they pass, atomically adds one to
   * resumed_count, sets ACTIVE, adds one to owner_epoch and sets owner_id.
   * With createIfMissing a session that does not exist (or has expired) is
   * created ACTIVE from `initial` instead and `created` is true. A refusal
   * fails with the verdict's reason and counts in stats.failedResumes. With
   * a window, the FULL session carries that window of its history (as
   * getWindow reads it); when its after_item_id names no item the resume
   * fails with HISTORY_ITEM_NOT_FOUND and changes nothing.
   */
  resume(tenant: string, request: ResumeRequest): Promise<ResumeResult>;

  /** resume, with the session in the request's view encoded (see getFullEncoded, and why). Same rules and errors as resume. */
  resumeEncoded?(tenant: string, request: ResumeRequest): Promise<ResumeResult<Uint8Array>>;

  /** The resume rules' verdict, read-only. */
  validateResume(tenant: string, conversationId: string): Promise<ResumeVerdict>;

  /**
   * Applies one update (see session/update.ts for the order of checks).
   * Idempotent by seq: a duplicate returns applied false and changes nothing.
   * Costs the same whatever the size of the stored history and audio.
   * Returns the BASIC session after the write.
   */
  update(tenant: string, update: SessionUpdate): Promise<UpdateResult>;

  /**
   * Group commit: applies many updates, possibly of many tenants and
   * sessions, in as few durable commits as the backend allows (one SQLite
   * transaction; one Redis pipeline). Each update is judged on its own, as by
   * update(): a refused one yields its SessionError in its slot and neither
   * stops nor undoes the others. Updates of one session are applied in input
   * order, each seeing the ones before it. Resolves, with results in input
   * order, only once every applied update is durable; rejects (as a whole)
   * only when the backend itself fails, and then, of each session, either
   * all of its updates in the group are kept or none (SQLite and memory keep
   * none of the group), so that a replay never finds a later update of a
   * session applied where an earlier one was not.
   */
  updateMany(items: readonly TenantUpdate[]): Promise<(UpdateResult | SessionError)[]>;

  /**
   * How many updateMany calls a caller may have running at once; absent
   * means one. More than one only when the backend commits them in the order
   * they were made and, once one has failed, fails every call made before
   * the failure was reported, so that no later update of a session is kept
   * when an earlier one was not.
   */
  readonly groupsInFlight?: number;

  /**
   * Moves the session to ENDED with the given reason ("normal" when empty).
   * Ending an ended session returns it unchanged. SESSION_FENCED /
   * ETAG_MISMATCH as for update. Returns the BASIC session.
   */
  end(tenant: string, request: EndRequest): Promise<Session>;

  /** Removes the session and all its children. SESSION_NOT_FOUND, ETAG_MISMATCH. */
  delete(tenant: string, conversationId: string, etag: string): Promise<void>;

  /**
   * Unexpired sessions ordered by conversation_id, after `after` (exclusive),
   * at most `pageSize`; `more` tells whether another page follows.
   */
  list(tenant: string, query: ListQuery): Promise<{ sessions: Session[]; more: boolean }>;

  /**
   * Deletes sessions (with their children) whose last_activity is before
   * `cutoff`, at most batchSize per transaction, using an index so the cost
   * follows what is deleted. `tenant` undefined means every tenant (the
   * sweeper). With dryRun only counts. Returns how many were (or would be)
   * deleted; deletions count in stats.cleanupCount of their tenant.
   */
  cleanup(request: CleanupRequest): Promise<number>;

  /**
   * Ends the abandoned sessions of every tenant (session/abandon-plan.ts:
   * PAUSED for longer than pause_grace) with end_reason "abandoned", at most
   * batchSize per transaction, found through an index so the cost follows
   * what is due, not what is stored; each is decided again by planAbandon
   * inside the step that ends it. Nothing when pause_grace is 0. Returns how
   * many were ended.
   */
  endAbandoned(request: AbandonRequest): Promise<number>;

  /**
   * Stores a session exactly as given, with its children (see
   * session/import-plan.ts for what is checked): `sessionstore import`, and
   * so every backend can take what another exported. SESSION_EXISTS when the
   * id is held by a session that has not expired, unless `replace`, which
   * wipes the stored one first; MAX_SESSIONS as for create when the session
   * is live; INVALID_ARGUMENT naming the field of a session no store could
   * have written. Resolves with whether a stored session was replaced.
   */
  importSession(tenant: string, session: Session, replace: boolean): Promise<{ replaced: boolean }>;

  /**
   * Every tenant that holds stored sessions (or may: Redis keeps the
   * tenants that ever created one), sorted: with list, what an export walks.
   */
  tenants(): Promise<string[]>;

  /** Counts for one tenant; expired sessions are not counted. */
  stats(tenant: string): Promise<StoreStats>;

  /**
   * The key that signs ListSessions page tokens: at least 32 random bytes,
   * the same for every sidecar sharing this store's data (and across their
   * restarts), so a token one issues is accepted by all and forged by none.
   * Kept with the data (SQLite: in the file; Redis: in one key); the memory
   * store makes one per process.
   */
  readonly pageTokenKey: Uint8Array;

  /**
   * For a store that many sidecars share (Redis): a channel to them all, on
   * which WatchSessions' events travel. Absent when only one process holds
   * the data.
   */
  openEventRelay?(): EventRelay;

  /** Resolves when the backend can serve requests; fails with STORAGE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;

  /** Finishes pending work and releases the backend. Idempotent. */
  close(): Promise<void>;
}

export interface TenantUpdate {
  tenant: string;
  update: SessionUpdate;
  /**
   * The same update as protobuf binary, when the caller has it (as received): a backend may use it rather than copy or encode
   * the update. It may hold unknown fields that `update` was decoded without: a backend reads it with REQUEST_READ_OPTIONS,
   * never stores it as it is.
   */
  encoded?: Uint8Array | undefined;
}

export interface ResumeRequest {
  conversationId: string;
  ownerId: string;
  createIfMissing: boolean;
  /** Initial values when created; its conversation_id is ignored. */
  initial: Session | undefined;
  view: SessionView;
  /** Part of the history only, in the FULL view; undefined for all of it. */
  window?: HistoryWindow | undefined;
}

/** A FULL read with a window of the history: whether older items were left out. */
export interface WindowedRead<S = Session> {
  session: S;
  historyTruncated: boolean;
}

export interface ResumeResult<S = Session> extends WindowedRead<S> {
  created: boolean;
}

export interface EndRequest {
  conversationId: string;
  reason: string;
  ownerEpoch: bigint;
  etag: string;
}

export interface ListQuery {
  pageSize: number;
  /** conversation_id of the last session of the previous page; "" for the first page. */
  after: string;
  /** Empty means every status except ENDED. */
  statuses: SessionStatus[];
  /** "" means any. */
  bridgeType: string;
  view: SessionView;
}

export interface CleanupRequest {
  tenant: string | undefined;
  cutoff: Date;
  dryRun: boolean;
  batchSize: number;
  /** Called after each committed batch with the ids it deleted, of one tenant per call (not on a dry run). */
  onDeleted?: ((tenant: string, conversationIds: string[]) => void) | undefined;
}

export interface AbandonRequest {
  batchSize: number;
  /** Called after each committed batch with the sessions it ended (BASIC), of one tenant per call: where their ENDED events come from. */
  onEnded?: ((tenant: string, sessions: Session[]) => void) | undefined;
}

/**
 * Broadcast channels among the sidecars of one store: every message
 * published on a channel by any of them reaches every subscriber of that
 * channel, the publisher's own included, in the order each publisher sent
 * them. Delivery is best effort (messages sent while a subscriber is
 * disconnected are lost to it). `events` carries the session events;
 * `notices` what the sidecars tell each other about who listens to them.
 */
export interface EventRelay {
  /** Resolves with how many subscribers got the message, or undefined where the backend cannot count them all (a Redis Cluster counts its own node's). */
  publish(channel: RelayChannel, message: string): Promise<number | undefined>;
  /** Resolves once subscribed: messages published on `channel` after that are delivered. */
  subscribe(channel: RelayChannel, onMessage: (message: string) => void): Promise<void>;
  unsubscribe(channel: RelayChannel): Promise<void>;
  /** `listener` runs each time the subscriptions are back after a lost connection: what was published meanwhile is lost to them. */
  onResubscribed(listener: () => void): void;
  close(): Promise<void>;
}

export type RelayChannel = "events" | "notices";

/** Counts for one tenant (see SessionStats). */
export type StoreStats = SessionStats;
