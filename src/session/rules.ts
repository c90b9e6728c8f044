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
}

const HOUR_MS = 3_600_000;

export const defaultRules: SessionRules = {
  maxSessions: 1000,
  maxSessionAgeMs: 24 * HOUR_MS,
  maxResumeAgeMs: 24 * HOUR_MS,
  maxResumeAttempts: 10,
  // 30 s of 16 kHz 16-bit mono PCM.
  audioBufferMaxBytes: 960_000,
};
