/** The limits that decide what a session may do; all configurable, defaults from the plan. */
export interface SessionRules {
  /** Live (non-ENDED, unexpired) sessions the store holds at most. */
  maxSessions: number;
  /** Live sessions one tenant may hold; 0: only maxSessions applies. */
  maxSessionsPerTenant: number;
  /** A session whose last activity is older than this is expired: hidden from reads, swept. */
  maxSessionAgeMs: number;
  /** A session idle for longer than this can no longer be resumed. */
  maxResumeAgeMs: number;
  /** Resumes allowed per session. */
  maxResumeAttempts: number;
  /** Bytes of audio kept per session; the oldest chunks drop first. */
  audioBufferMaxBytes: number;
  /** Encoded bytes of history items and function calls a session may be written in total (Session.history_bytes). */
  maxHistoryBytes: number;
  /** History items plus function calls one write (an update, or a create's initial values) may carry. */
  maxItemsPerUpdate: number;
  /** Encoded bytes of one history item or one function call. */
  maxItemBytes: number;
  /** Encoded bytes of a session's header: every field but its history, calls and audio, the Structs included. */
  maxHeaderBytes: number;
  /** A session PAUSED for longer than this is ended as "abandoned" by the sweeper; 0: never (see abandon-plan.ts). */
  pauseGraceMs: number;
}

const HOUR_MS = 3_600_000;
const KIB = 1024;

/*
 * Why these sizes, for a sidecar serving 1,000 calls:
 *
 * - A FULL read (GetSession, ResumeSession) is decoded, copied and encoded
 *   on the event loop in one piece, and every other call and stream waits
 *   meanwhile; updates that wait longer than --update-queue-timeout (500 ms)
 *   are shed as OVERLOADED. Read at 2 MiB of short history items, the largest
 *   session held the loop for up to 0.5 s on Redis on a quiet machine, and
 *   longer on a loaded one (docs/BENCHMARKS.md, "Reading the largest
 *   session"); at 1 MiB it is about half that, and a 2-hour call of
 *   one 100-byte transcript line a second (720 KB, what the other benchmarks
 *   model) still fits. Add the 64 KiB header and the 0.94 MiB ring and the
 *   FULL response is 2 MiB: under the 4 MiB that gRPC clients other than ours
 *   accept by default, so the largest session resumes from any of them.
 * - 1,000 sessions at the limit are 1 GiB of history, which the memory
 *   backend holds in RAM; SQLite and Redis hold it on disk or in Redis.
 * - 256 KiB for one item or call fits a large tool result (a document, a
 *   search page), and four of them fill the history.
 * - 1,000 entries per write lets a bridge hand over a long conversation in
 *   a few creates or updates, while bounding what one write makes the
 *   store's single writer decode, measure and insert before the next.
 * - 64 KiB of header is far more than the ids and counters need (each is
 *   capped at 256 characters) and leaves metadata and audio_metadata room
 *   for a bridge's own state; the header is read, encoded and written on
 *   every update, so it must stay small next to the ring and the history.
 */
export const defaultRules: SessionRules = {
  maxSessions: 1000,
  maxSessionsPerTenant: 0,
  maxSessionAgeMs: 24 * HOUR_MS,
  maxResumeAgeMs: 24 * HOUR_MS,
  maxResumeAttempts: 10,
  // 30 s of 16 kHz 16-bit mono PCM.
  audioBufferMaxBytes: 960_000,
  maxHistoryBytes: 1024 * KIB,
  maxItemsPerUpdate: 1000,
  maxItemBytes: 256 * KIB,
  maxHeaderBytes: 64 * KIB,
  // Off: how long a platform may take to reconnect is the deployment's to know.
  pauseGraceMs: 0,
};
