import { type DestinationStream, type Logger, type LevelWithSilent, pino } from "pino";

export type { Logger };

/*
 * What may be logged: ids (conversation_id, tenant, owner_id, epochs, seq),
 * counts, sizes, durations, RPC names, status codes and errors. What must never
 * be logged: audio, conversation text, function-call arguments and results,
 * metadata values, bearer tokens. Sessions hold what callers said on the phone;
 * logs are shipped, retained and read far more widely than the store is, so a
 * log line that carries a transcript is a data leak. Log a session by its ids,
 * never by passing the Session (or a request) object.
 *
 * REDACT_PATHS is a safety net for the mistake of logging such an object
 * anyway; it is not permission to do so. It only reaches the top level and one
 * level down (pino's redaction has no recursive wildcard).
 */
const SENSITIVE_KEYS = [
  "conversationHistory",
  "appendHistory",
  "audioBuffer",
  "appendAudio",
  "functionCalls",
  "upsertFunctionCalls",
  "text",
  "data",
  "authorization",
  "authTokens",
];

const REDACT_PATHS: readonly string[] = SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`]);

/**
 * The root logger: one JSON object per line on stdout (or `destination`, for
 * tests). Modules take a child, `logger.child({ module: "server" })`, so every
 * line says where it came from.
 *
 * Writes are synchronous: a sidecar logs little, and a synchronous stdout keeps
 * the last lines ("stopped", a fatal error) from being lost on process.exit and
 * keeps them in order with what goes to stderr.
 */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
      // ISO time reads without conversion in `kubectl logs` and sorts as text.
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
