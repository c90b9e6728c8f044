/** The limits that decide what a session may do; all configurable, defaults from the plan. */
export interface SessionRules {
  /** Live (non-ENDED, unexpired) sessions the store holds at most. */
  maxSessions: number;
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
}

const HOUR_MS = 3_600_000;
const KIB = 1024;

/*
 * Why these sizes, for a sidecar serving 1,000 calls:
 *
 * - A FULL read (GetSession, ResumeSession) returns header + history + calls
 *   + audio ring in one message, and gRPC clients other than ours refuse
 *   responses over 4 MiB unless told otherwise. 2 MiB of history + 64 KiB of
 *   header + the 0.94 MiB ring is 3 MiB: the largest session the limits allow
 *   still resumes from any client on its defaults. It is also what one read
 *   may cost the sidecar (docs/BENCHMARKS.md, "Reading the largest session").
 * - 2 MiB of history is hours of conversation (a turn's text is a few hundred
 *   bytes) with room for tool results; 1,000 sessions at that size are 2 GiB,
 *   which the memory backend would hold in RAM, so a deployment that expects
 *   such calls uses SQLite or Redis.
 * - 256 KiB for one item or call fits a large tool result (a document, a
 *   search page) while eight of them cannot fill the history alone.
 * - 1,000 entries per write lets a bridge hand over a long conversation in
 *   one create; planning an update is linear in its entries, and at this
 *   count it stays well under a millisecond of the store's one writer.
 * - 64 KiB of header is far more than the ids and counters need (they are
 *   capped at 256 characters each) and leaves metadata and audio_metadata
 *   room for a bridge's own state; the header is read and written on every
 *   update, so it must stay small next to the ring and the history.
 */
export const defaultRules: SessionRules = {
  maxSessions: 1000,
  maxSessionAgeMs: 24 * HOUR_MS,
  maxResumeAgeMs: 24 * HOUR_MS,
  maxResumeAttempts: 10,
  // 30 s of 16 kHz 16-bit mono PCM.
  audioBufferMaxBytes: 960_000,
  maxHistoryBytes: 2048 * KIB,
  maxItemsPerUpdate: 1000,
  maxItemBytes: 256 * KIB,
  maxHeaderBytes: 64 * KIB,
};
